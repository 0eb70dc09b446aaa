"""More of the Mithril v2 API: teammates, quotas, price and instance histories, image versions
and lifecycle scripts (machines beyond spot bids are in ``_machines.py``)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from .._clock import iso
from .._wire import ApiError, WireRequest, WireResponse
from ._api import _listing_of, _ok, _page, _route
from ._entities import ENDED, Instance, dollars, reserved_price
from ._models import PageLimit, ProjectQuery, _Body, parse_body, parse_query
from ._state import FcpState

__all__ = ["IMAGE_VERSIONS", "LifecycleScript", "check_image"]

# (fid, name, os, kernel, cuda, driver)
IMAGE_VERSIONS: tuple[tuple[str, str, str, str, str, str], ...] = (
    ("imgver_ubuntu2204cuda124", "ubuntu-22.04-cuda-12.4", "Ubuntu 22.04", "5.15", "12.4", "550"),
    ("imgver_ubuntu2404cuda128", "ubuntu-24.04-cuda-12.8", "Ubuntu 24.04", "6.8", "12.8", "570"),
)


@dataclass
class LifecycleScript:
    fid: str
    name: str
    description: str
    content: str
    project: str
    scope: str
    created_at: float
    modified_at: float
    created_by: str

    def to_json(self, base: str) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "description": self.description,
            "content_url": f"{base}/v2/lifecycle-scripts/{self.fid}/content",
            "project": self.project,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "last_modified_at": iso(self.modified_at),
            "last_modified_by": self.created_by,
            "scope": self.scope,
        }


# ---- requests --------------------------------------------------------------------------------

Scope = Literal["PROJECT", "ORGANIZATION"]


class CreateLifecycleScriptRequest(_Body):
    project: str
    name: Annotated[str, Field(min_length=1)]
    content: Annotated[str, Field(min_length=1)]
    description: str | None = None
    scope: Scope = "PROJECT"


class UpdateLifecycleScriptRequest(_Body):
    name: str | None = None
    description: str | None = None
    scope: Scope | None = None


class LifecycleScriptsQuery(_Body):
    next_cursor: str | None = None
    sort_by: Literal["created_at", "last_modified_at"] | None = None
    sort_dir: Literal["asc", "desc"] | None = None
    project: str
    limit: PageLimit | None = None


class PricingHistoryQuery(_Body):
    instance_types: str | None = None
    region: str | None = None
    num_samples: Annotated[int, Field(ge=-1, le=1000)] = 100
    start_time: datetime | None = None
    end_time: datetime | None = None


class InstanceHistoryQuery(_Body):
    project: str
    instance_fid: str | None = None
    bid_fid: str | None = None
    reservation_fid: str | None = None
    limit: PageLimit | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    next_cursor: str | None = None


class RegionQuery(_Body):
    region: str


def _base(request: WireRequest) -> str:
    host = request.header("Host")
    return f"http://{host}" if host else "http://fcp.emulator"


# ---- account ---------------------------------------------------------------------------------


@_route("GET", "/v2/me/teammates")
def teammates(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok(
        [
            {
                "id": state.user_fid.removeprefix("user_"),
                "fid": state.user_fid,
                "user_name": "emulator",
                "email": "emulator@flowlib.invalid",
                "organization_role": "Admin",
                "project_ids": list(state.projects),
                "deactivated_at": None,
            }
        ]
    )


@_route("GET", "/v2/quotas")
def quotas(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(ProjectQuery, request)
    state.project(q.project)
    limit = state.options.max_instances
    rows = []
    for itype in state.instance_types.values():
        used = sum(
            1 for i in state.instances.values()
            if i.project == q.project and i.instance_type == itype.fid and i.status not in ENDED
        )  # fmt: skip
        total = (
            limit
            if limit is not None
            else sum(a.capacity for a in state.auctions.values() if a.instance_type == itype.fid)
        )
        rows.append(
            {
                "fid": "quota_" + itype.fid.removeprefix("it_"),
                "project": q.project,
                "instance_type": itype.fid,
                "product_type": "GPU_INSTANCE",
                "total_quantity": total,
                "used_quantity": used,
                "units": "instances",
                "name": itype.name,
            }
        )
    return _ok(rows)


@_route("GET", "/v2/organizations/{organization_id}/quotas")
def storage_quotas(state: FcpState, request: WireRequest, key: str, org: str) -> WireResponse:
    if org != state.organization_id:
        raise ApiError(404, f"Organization {org} not found")
    regions = sorted({a.region for a in state.auctions.values()})
    rows = []
    for region in regions:
        vols = [v for v in state.volumes.values() if v.region == region and v.deleted_at is None]
        used = sum(v.capacity_gb for v in vols)
        by_project = [
            {"project_id": str(uuid.uuid5(uuid.NAMESPACE_URL, p)), "used": sum(
                v.capacity_gb for v in vols if v.project == p
            )}
            for p in sorted({v.project for v in vols})
        ]  # fmt: skip
        rows.append(
            {
                "product_type": "storage_gib",
                "cluster_id": str(uuid.uuid5(uuid.NAMESPACE_URL, region)),
                "region": region,
                "granted": 100_000,
                "used": used,
                "remaining": 100_000 - used,
                "limit_source": "baseline",
                "units": "GiB",
                "usage_by_project": by_project,
            }
        )
    return _ok(rows)


# ---- prices and histories ----------------------------------------------------------------


@_route("GET", "/v2/pricing/history")
def pricing_history(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(PricingHistoryQuery, request)
    wanted = set(q.instance_types.split(",")) if q.instance_types else None
    now = state.now()
    start = q.start_time.timestamp() if q.start_time else None
    end = q.end_time.timestamp() if q.end_time else now
    series = []
    for auc in state.auctions.values():
        if wanted is not None and auc.instance_type not in wanted:
            continue
        if q.region not in (None, auc.region):
            continue
        points = [(t, c) for t, c in auc.history if t <= end]
        if start is not None:
            before = [(start, cents) for t, cents in points if t <= start][-1:]
            points = before + [p for p in points if p[0] > start]
        if q.num_samples >= 0:
            points = points[-q.num_samples :] if q.num_samples else []
        series.append(
            {
                "instance_type": auc.instance_type,
                "region": auc.region,
                "timestamps": [iso(t) for t, _c in points],
                "spot_prices": [dollars(c) for _t, c in points],
                "reserved_prices": [dollars(reserved_price(c)) for _t, c in points],
                "region_disabled": False,
            }
        )
    return _ok({"series": series, "complete": True, "show_disabled_regions": False})


def _history_instances(state: FcpState, q: InstanceHistoryQuery) -> list[Instance]:
    state.project(q.project)
    return sorted(
        (
            i for i in state.instances.values()
            if i.project == q.project and q.instance_fid in (None, i.fid)
            and q.bid_fid in (None, i.bid) and q.reservation_fid in (None, i.reservation)
        ),
        key=lambda i: i.seq,
    )  # fmt: skip


def _in_window(q: InstanceHistoryQuery, at: float) -> bool:
    after = q.start_time is None or at >= q.start_time.timestamp()
    return after and (q.end_time is None or at <= q.end_time.timestamp())


@_route("GET", "/v2/instances/status/history")
def status_history(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(InstanceHistoryQuery, request)
    page, token = _page(
        _history_instances(state, q), q.limit, q.next_cursor, state.options.default_page_size
    )
    rows = [
        {
            "instance_fid": i.fid,
            "events": [
                {"timestamp": iso(at), "status": s} for at, s in i.history if _in_window(q, at)
            ],
            "bid_fid": i.bid,
            "reservation_fid": i.reservation,
        }
        for i in page
    ]
    return _ok({"instances": rows, "next_cursor": token})


@_route("GET", "/v2/instances/pricing/history")
def instance_prices(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(InstanceHistoryQuery, request)
    page, token = _page(
        _history_instances(state, q), q.limit, q.next_cursor, state.options.default_page_size
    )
    rows = []
    for inst in page:
        ends = [at for at, _c in inst.prices[1:]] + [inst.end_time]
        events = [
            {
                "price_cents": cents,
                "start_time": iso(at),
                "end_time": iso(until) if until is not None else None,
            }
            for (at, cents), until in zip(inst.prices, ends, strict=True)
            if _in_window(q, at)
        ]
        rows.append(
            {
                "instance_fid": inst.fid,
                "events": events,
                "bid_fid": inst.bid,
                "reservation_fid": inst.reservation,
            }
        )
    return _ok({"instances": rows, "next_cursor": token})


# ---- images ----------------------------------------------------------------------------------


def _image_rows(state: FcpState, region: str | None = None) -> list[dict[str, Any]]:
    regions = sorted({a.region for a in state.auctions.values()})
    if region is not None and region not in regions:
        return []
    return [
        {
            "image_version_fid": fid,
            "image_version_name": name,
            "os": os_name,
            "kernel": kernel,
            "stable": True,
            "supported_regions": regions,
            "deactivated_at": None,
            "nvidia_driver": driver,
            "cuda": cuda,
            "cuda_toolkit": cuda,
            "nvidia_container_toolkit": "1.17",
            "packages": None,
        }
        for fid, name, os_name, kernel, cuda, driver in IMAGE_VERSIONS
    ]


@_route("GET", "/v2/image-versions")
def image_versions(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok(_image_rows(state))


@_route("GET", "/v2/mcc-image-versions")
def mcc_image_versions(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok(_image_rows(state, parse_query(RegionQuery, request).region))


def check_image(image_version: str | None) -> None:
    if image_version is not None and image_version not in {i[0] for i in IMAGE_VERSIONS}:
        raise ApiError(404, f"Image version {image_version} not found")


# ---- lifecycle scripts -----------------------------------------------------------------------


def _script(state: FcpState, fid: str) -> LifecycleScript:
    return state.order(fid, LifecycleScript, "Lifecycle script")


@_route("POST", "/v2/lifecycle-scripts")
def create_script(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateLifecycleScriptRequest, request)
    state.project(body.project)
    now = state.now()
    script = LifecycleScript(
        state.new_fid("ls"), body.name, body.description or "", body.content, body.project,
        body.scope, now, now, state.user_fid,
    )  # fmt: skip
    state.orders[script.fid] = script
    return _ok(script.to_json(_base(request)), 201)


@_route("GET", "/v2/lifecycle-scripts")
def list_scripts(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(LifecycleScriptsQuery, request)
    state.project(q.project)
    found = [
        o for o in state.orders.values()
        if isinstance(o, LifecycleScript) and (o.project == q.project or o.scope != "PROJECT")
    ]  # fmt: skip
    base = _base(request)
    order = (
        (lambda s: s.modified_at) if q.sort_by == "last_modified_at" else (lambda s: s.created_at)
    )
    return _listing_of(
        state, found, order, q.sort_dir, q.limit, q.next_cursor, lambda s: s.to_json(base)
    )


@_route("GET", "/v2/lifecycle-scripts/{ls_fid}/content")
def script_content(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    return _ok(_script(state, fid).content)


@_route("PATCH", "/v2/lifecycle-scripts/{ls_fid}")
def update_script(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    script = _script(state, fid)
    body = parse_body(UpdateLifecycleScriptRequest, request)
    script.name = body.name if body.name is not None else script.name
    script.description = body.description if body.description is not None else script.description
    script.scope = body.scope or script.scope
    script.modified_at = state.now()
    return _ok(script.to_json(_base(request)))


@_route("DELETE", "/v2/lifecycle-scripts/{ls_fid}")
def delete_script(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    _script(state, fid)
    del state.orders[fid]
    return WireResponse(204)
