"""Request bodies and query strings of the Hyperstack API. A bad request is a 400
``bad_request`` naming the fields (the real server's texts are not documented)."""

from __future__ import annotations

from typing import Annotated, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .._wire import WireRequest
from ._entities import HyperstackError

__all__ = [
    "AttachVolumesBody",
    "CreateEnvironmentBody",
    "CreateVmBody",
    "CreateVolumeBody",
    "DetachVolumesBody",
    "ImportKeypairBody",
    "RenameBody",
    "SecurityRuleBody",
    "parse_body",
    "query_int",
    "query_value",
]

Name = Annotated[str, Field(min_length=1, max_length=50)]
Protocol = Literal["any", "icmp", "tcp", "udp", "sctp", "gre", "esp", "ah", "ipv6-icmp", "icmpv6"]


class _Body(BaseModel):
    model_config = ConfigDict(extra="ignore")


class CreateEnvironmentBody(_Body):
    name: Name
    region: str


class ImportKeypairBody(_Body):
    name: Name
    environment_name: str
    public_key: str


class RenameBody(_Body):
    name: Name


class SecurityRuleBody(_Body):
    direction: Literal["ingress", "egress"]
    ethertype: Literal["IPv4", "IPv6"]
    protocol: Protocol
    remote_ip_prefix: str
    port_range_min: Annotated[int, Field(ge=1, le=65535)] | None = None
    port_range_max: Annotated[int, Field(ge=1, le=65535)] | None = None


class CreateVmBody(_Body):
    name: Name
    environment_name: str
    flavor_name: str
    key_name: str
    count: Annotated[int, Field(ge=1, le=20)]
    image_name: str | None = None
    user_data: str | None = None
    assign_floating_ip: bool = False
    enable_port_randomization: bool = True
    create_bootable_volume: bool = False
    volume_name: str | None = None
    callback_url: Annotated[str, Field(max_length=250)] | None = None
    labels: list[str] | None = None
    security_rules: list[SecurityRuleBody] | None = None


class CreateVolumeBody(_Body):
    name: Name
    environment_name: str
    size: Annotated[int, Field(ge=1, le=100_000)]
    volume_type: str
    description: str | None = None


class AttachVolumesBody(_Body):
    volume_ids: list[int]
    protected: bool = False


class DetachVolumesBody(_Body):
    volume_ids: list[int]


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], request: WireRequest) -> M:
    """The JSON body as ``model``, or a 400 naming what is wrong."""
    try:
        data = request.json() if request.body.strip() else None
    except (ValueError, UnicodeDecodeError):
        raise HyperstackError(400, "Request body is not valid JSON") from None
    if not isinstance(data, dict):
        raise HyperstackError(400, "Request body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()
        )
        raise HyperstackError(400, f"Invalid request: {problems}") from None


def query_value(request: WireRequest, name: str) -> str | None:
    values = request.query.get(name)
    return values[-1] if values else None


def query_int(request: WireRequest, name: str, minimum: int = 1) -> int | None:
    text = query_value(request, name)
    if text is None or text == "":
        return None
    try:
        value = int(text)
    except ValueError:
        raise HyperstackError(400, f"{name} must be an integer, got {text!r}") from None
    if value < minimum:
        raise HyperstackError(400, f"{name} must be at least {minimum}")
    return value
