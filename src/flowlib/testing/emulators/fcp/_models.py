"""Request bodies and query strings of the Mithril v2 API, validated the way its FastAPI server
does: a bad request is a 422 whose ``detail`` lists ``{"loc", "msg", "type"}`` errors."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any, Literal, TypeVar, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._wire import ApiError, WireRequest

__all__ = [
    "INSTANCES_QUERY_ARRAYS",
    "AvailabilityQuery",
    "BidsQuery",
    "CreateApiKeyRequest",
    "CreateBidRequest",
    "CreateSshKeyRequest",
    "CreateVolumeRequest",
    "InstancesQuery",
    "LaunchSpecification",
    "PricingQuery",
    "ProjectQuery",
    "UpdateBidRequest",
    "UpdateSshKeyRequest",
    "UpdateVolumeRequest",
    "VolumesQuery",
    "parse_body",
    "parse_query",
]

BidStatus = Literal["Open", "Allocated", "Preempting", "Terminated", "Paused"]
InstanceStatus = Literal[
    "STATUS_NEW",
    "STATUS_CONFIRMED",
    "STATUS_INITIALIZING",
    "STATUS_STARTING",
    "STATUS_RUNNING",
    "STATUS_STOPPING",
    "STATUS_TERMINATED",
    "STATUS_RELOCATING",
    "STATUS_PREEMPTING",
    "STATUS_PREEMPTED",
    "STATUS_REPLACED",
    "STATUS_PAUSED",
    "STATUS_ERROR",
]
BID_STATUSES: tuple[str, ...] = get_args(BidStatus)
INSTANCE_STATUSES: tuple[str, ...] = get_args(InstanceStatus)
VolumeName = Annotated[str, Field(max_length=64, pattern=r"^[a-z]([-a-z0-9]*[a-z0-9])?$")]
PageLimit = Annotated[int, Field(ge=1, le=100)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")  # FastAPI's default: unknown keys are ignored


class LaunchSpecification(_Body):
    volumes: list[str]
    ssh_keys: list[str]
    startup_script: str | None = None
    kubernetes_cluster: str | None = None
    image_version: str | None = None
    memory_gb: int | None = None


class CreateBidRequest(_Body):
    project: str
    region: str
    instance_type: str
    limit_price: str
    instance_quantity: int
    name: str
    launch_specification: LaunchSpecification
    notification_email: str | None = None


class UpdateBidRequest(_Body):
    limit_price: str | None = None
    paused: bool | None = None
    volumes: list[str] | None = None
    memory_gb: int | None = None


class CreateApiKeyRequest(_Body):
    name: str
    expires_at: datetime


class CreateSshKeyRequest(_Body):
    project: str
    name: str
    public_key: str | None = None
    required: bool = False


class UpdateSshKeyRequest(_Body):
    required: bool


class CreateVolumeRequest(_Body):
    name: VolumeName
    project: str
    disk_interface: Literal["Block", "File"]
    region: str
    size_gb: Annotated[int, Field(gt=0)]


class UpdateVolumeRequest(_Body):
    name: VolumeName


class BidsQuery(_Body):
    next_cursor: str | None = None
    sort_by: Literal["created_at", "status"] | None = None
    sort_dir: Literal["asc", "desc"] | None = None
    project: str | None = None
    instance_type: str | None = None
    region: str | None = None
    status: BidStatus | None = None
    name: str | None = None
    limit: PageLimit | None = None


class InstancesQuery(_Body):
    next_cursor: str | None = None
    sort_by: Literal["created_at", "instance_status", "instance_type_fid"] | None = None
    sort_dir: Literal["asc", "desc"] | None = None
    project: str
    instance_type: str | None = None
    region: str | None = None
    status_in: list[InstanceStatus] | None = None
    order_type_in: list[Literal["Bid", "Reservation"]] | None = None
    bid_fid_in: list[str] | None = None
    reservation_fid_in: list[str] | None = None
    limit: PageLimit | None = None


class ProjectQuery(_Body):
    project: str


class VolumesQuery(_Body):
    project: str
    region: str | None = None
    include_deleted: bool = False


class PricingQuery(_Body):
    instance_type: str
    region: str | None = None
    instance_quantity: Annotated[int, Field(ge=1, le=256)] = 1


class AvailabilityQuery(_Body):
    # Not in the published schema; accepted because clients send them (see docs/emulators.md):
    # Mithril's own client sends all three; the market is the same for every project.
    region: str | None = None
    instance_type: str | None = None
    project: str | None = None


INSTANCES_QUERY_ARRAYS = ("status_in", "order_type_in", "bid_fid_in", "reservation_fid_in")

M = TypeVar("M", bound=BaseModel)


def _errors(exc: ValidationError, where: str) -> list[dict[str, Any]]:
    return [
        {"type": e["type"], "loc": [where, *e["loc"]], "msg": e["msg"], "input": _jsonable(e)}
        for e in exc.errors(include_url=False)
    ]


def _jsonable(error: Mapping[str, Any]) -> Any:
    value = error.get("input")
    try:
        json.dumps(value)
    except (TypeError, ValueError):
        return None
    return value


def parse_body(model: type[M], request: WireRequest) -> M:
    """The JSON body as ``model``, or a 422 ApiError shaped like FastAPI's."""
    if not request.body.strip():
        raise ApiError(
            422, [{"type": "missing", "loc": ["body"], "msg": "Field required", "input": None}]
        )
    try:
        data = request.json()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ApiError(
            422,
            [
                {
                    "type": "json_invalid",
                    "loc": ["body", 0],
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": str(exc)},
                }
            ],
        ) from None
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ApiError(422, _errors(exc, "body")) from None


def parse_query(model: type[M], request: WireRequest, arrays: Sequence[str] = ()) -> M:
    """The query string as ``model``. Array parameters arrive comma-separated (``a,b``) or
    repeated (``x=a&x=b``); others take their last value."""
    values: dict[str, Any] = {}
    for key, items in request.query.items():
        if key in arrays:
            values[key] = [part for item in items for part in item.split(",") if part]
        elif items:
            values[key] = items[-1]
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        raise ApiError(422, _errors(exc, "query")) from None
