"""The routes of the emulated Mithril v2 API: parse, call the state, shape the answer."""

from __future__ import annotations

import base64
import re
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._wire import ApiError, WireRequest, WireResponse
from ._entities import Bid, Instance, SshKey, Volume, dollars
from ._keys import new_api_key, new_key_pair
from ._models import (
    INSTANCES_QUERY_ARRAYS,
    AvailabilityQuery,
    BidsQuery,
    CreateApiKeyRequest,
    CreateBidRequest,
    CreateSshKeyRequest,
    CreateVolumeRequest,
    InstancesQuery,
    PricingQuery,
    ProjectQuery,
    UpdateBidRequest,
    UpdateSshKeyRequest,
    UpdateVolumeRequest,
    VolumesQuery,
    parse_body,
    parse_query,
)
from ._state import FcpState

__all__ = ["route"]

Handler = Callable[[FcpState, WireRequest, str, str], WireResponse]
_ROUTES: list[tuple[str, re.Pattern[str], Handler]] = []
T = TypeVar("T")
_Listed = TypeVar("_Listed", Bid, Instance)


def _route(method: str, pattern: str) -> Callable[[Handler], Handler]:
    regex = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + r"\Z")

    def register(handler: Handler) -> Handler:
        _ROUTES.append((method, regex, handler))
        return handler

    return register


def route(state: FcpState, request: WireRequest, key: str | None) -> WireResponse:
    """Answer ``request``: 404/405 for unknown routes, 401 without a valid key, else the
    handler's answer (ApiError raised by handlers is turned into its error body)."""
    allowed = False
    for method, regex, handler in _ROUTES:
        match = regex.match(request.path)
        if match is None:
            continue
        allowed = True
        if method != request.method:
            continue
        if key is None:
            raise ApiError(401, "Not authenticated", {"WWW-Authenticate": "Bearer"})
        if not state.key_valid(key):
            raise ApiError(401, "Invalid credentials", {"WWW-Authenticate": "Bearer"})
        return handler(state, request, key, next(iter(match.groupdict().values()), ""))
    if allowed:
        raise ApiError(405, "Method Not Allowed")
    raise ApiError(404, "Not Found")


def _ok(body: Any, status: int = 200) -> WireResponse:
    return WireResponse(status, body)


def _page(
    items: Sequence[T], limit: int | None, cursor: str | None, default: int
) -> tuple[Sequence[T], str | None]:
    """Cursor pagination: ``{"data": [...], "next_cursor": str | None}``. Cursors are opaque
    to clients (here: a base64 offset)."""
    start = 0
    if cursor:
        try:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("o:"))
        except ValueError:
            raise ApiError(400, "Invalid pagination cursor") from None
    size = limit or default
    page = items[start : start + size]
    more = start + size < len(items)
    token = base64.urlsafe_b64encode(f"o:{start + size}".encode()).decode() if more else None
    return page, token


def _listing(
    state: FcpState,
    items: list[_Listed],
    key: Callable[[_Listed], Any],
    sort_dir: str | None,
    limit: int | None,
    cursor: str | None,
) -> WireResponse:
    """A sorted page of a list answer: ``{"data": [...], "next_cursor": ...}``."""
    return _listing_of(state, items, key, sort_dir, limit, cursor, lambda item: item.to_json())


def _listing_of(
    state: FcpState,
    items: list[T],
    key: Callable[[T], Any],
    sort_dir: str | None,
    limit: int | None,
    cursor: str | None,
    to_json: Callable[[T], Any],
) -> WireResponse:
    """:func:`_listing` for any item, shaped by ``to_json``."""
    items.sort(key=key)
    if sort_dir == "desc":
        items.reverse()
    page, token = _page(items, limit, cursor, state.options.default_page_size)
    return _ok({"data": [to_json(item) for item in page], "next_cursor": token})


# ---- account ---------------------------------------------------------------------------------


@_route("GET", "/v2/me")
def me(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok(
        {
            "id": state.user_fid.removeprefix("user_"),
            "fid": state.user_fid,
            "email": "emulator@flowlib.invalid",
            "user_name": "emulator",
            "organization_id": state.organization_id,
            "organization_role": "Admin",
        }
    )


@_route("GET", "/v2/api-keys")
def list_api_keys(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok([k.to_json() for k in state.api_keys.values() if k.deactivated_at is None])


@_route("POST", "/v2/api-keys")
def create_api_key(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateApiKeyRequest, request)
    secret = new_api_key()
    created = state.add_api_key(secret, body.name, body.expires_at.timestamp())
    return _ok({**created.to_json(), "secret": secret}, 201)


@_route("DELETE", "/v2/api-keys/{key_fid}")
def revoke_api_key(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    state.revoke_api_key(fid)
    return WireResponse(204)


@_route("GET", "/v2/projects")
def projects(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok([p.to_json() for p in state.projects.values()])


# ---- catalog ---------------------------------------------------------------------------------


@_route("GET", "/v2/instance-types")
def instance_types(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok([t.to_json() for t in state.instance_types.values()])


@_route("GET", "/v2/spot/availability")
def availability(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    query = parse_query(AvailabilityQuery, request)
    rows = []
    for auc in state.auctions.values():
        if query.region and auc.region != query.region:
            continue
        if query.instance_type and auc.instance_type != query.instance_type:
            continue
        lowest = state.lowest_allocated_cents(auc)
        rows.append(
            {
                "fid": auc.fid,
                "instance_type": auc.instance_type,
                "region": auc.region,
                "capacity": state.available(auc),
                "last_instance_price": dollars(auc.price_cents),
                "lowest_allocated_price": dollars(lowest) if lowest is not None else None,
                "adjustable_memory": auc.adjustable_memory,
                "default_image_version": auc.default_image_version,
            }
        )
    return _ok(rows)


@_route("GET", "/v2/pricing/current")
def pricing(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    query = parse_query(PricingQuery, request)
    if query.instance_type not in state.instance_types:
        raise ApiError(404, f"Instance type {query.instance_type} not found")
    auctions = [
        a
        for a in state.auctions.values()
        if a.instance_type == query.instance_type and query.region in (None, a.region)
    ]
    if not auctions:
        raise ApiError(404, f"No spot market for {query.instance_type} in {query.region}")
    auc = min(auctions, key=lambda a: a.price_cents)
    return _ok(
        {
            "spot_price_cents": auc.price_cents,
            "reserved_price_cents": None,
            "minimum_price_cents": auc.minimum_cents,
            "lowest_allocated_bid_cents": state.lowest_allocated_cents(auc),
            "dynamic_win_price_cents": auc.price_cents,
            "available_capacity": state.available(auc),
            "total_capacity": auc.capacity,
        }
    )


# ---- bids ------------------------------------------------------------------------------------


@_route("POST", "/v2/spot/bids")
def create_bid(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateBidRequest, request)
    bid = state.create_bid(body, request.header("Idempotency-Key"), key)
    return _ok(bid.to_json(), 201)


@_route("GET", "/v2/spot/bids")
def list_bids(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(BidsQuery, request)
    bids = [
        b
        for b in state.bids.values()
        if q.project in (None, b.project)
        and q.instance_type in (None, b.instance_type)
        and q.region in (None, b.region)
        and q.status in (None, b.status)
        and q.name in (None, b.name)
    ]
    order: Callable[[Bid], Any] = (
        (lambda b: (b.status, b.seq))
        if q.sort_by == "status"
        else (lambda b: (b.created_at, b.seq))
    )
    return _listing(state, bids, order, q.sort_dir, q.limit, q.next_cursor)


@_route("GET", "/v2/spot/bids/{bid_fid}")
def get_bid(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    return _ok(state.bid(fid).to_json())


@_route("PATCH", "/v2/spot/bids/{bid_fid}")
def update_bid(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    state.bid(fid)
    body = parse_body(UpdateBidRequest, request)
    return _ok(state.update_bid(fid, body).to_json())


@_route("DELETE", "/v2/spot/bids/{bid_fid}")
def cancel_bid(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    if not state.cancel_bid(fid) and state.options.repeat_delete_status == 404:
        raise ApiError(404, f"Bid {fid} not found")
    return WireResponse(204)


@_route("GET", "/v2/spot/bids/{bid_fid}/status")
def bid_status(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    return _ok({"bid_fid": fid, "status": state.bid(fid).status})


@_route("GET", "/v2/spot/bids/{bid_fid}/history")
def bid_history(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    return _ok({"bid_fid": fid, "events": list(state.bid(fid).events)})


# ---- instances -------------------------------------------------------------------------------


@_route("GET", "/v2/instances")
def list_instances(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(InstancesQuery, request, INSTANCES_QUERY_ARRAYS)
    state.project(q.project)
    found = [
        i
        for i in state.instances.values()
        if i.project == q.project
        and q.instance_type in (None, i.instance_type)
        and q.region in (None, i.region)
        and (q.status_in is None or i.status in q.status_in)
        and (q.order_type_in is None or i.order_type in q.order_type_in)
        and (q.bid_fid_in is None or i.bid in q.bid_fid_in)
        and (q.reservation_fid_in is None or i.reservation in q.reservation_fid_in)
    ]
    sort_keys: dict[str, Callable[[Instance], Any]] = {
        "instance_status": lambda i: (i.status, i.seq),
        "instance_type_fid": lambda i: (i.instance_type, i.seq),
    }
    order = sort_keys.get(q.sort_by or "", lambda i: (i.created_at, i.seq))
    return _listing(state, found, order, q.sort_dir, q.limit, q.next_cursor)


@_route("GET", "/v2/instances/{instance_fid}/status")
def instance_status(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    return _ok(state.instance(fid).status_json())


# ---- ssh keys --------------------------------------------------------------------------------


@_route("GET", "/v2/ssh-keys")
def list_ssh_keys(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(ProjectQuery, request)
    state.project(q.project)
    return _ok([k.to_json() for k in state.ssh_keys.values() if k.project == q.project])


@_route("POST", "/v2/ssh-keys")
def create_ssh_key(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateSshKeyRequest, request)
    state.project(body.project)
    private_key = None
    public_key = body.public_key
    if public_key is None:
        public_key, private_key = new_key_pair(body.name)
    ssh_key = SshKey(
        state.new_fid("sshkey"), body.name, body.project, public_key, state.now(), body.required
    )
    state.ssh_keys[ssh_key.fid] = ssh_key
    return _ok({**ssh_key.to_json(), "private_key": private_key}, 201)


@_route("PATCH", "/v2/ssh-keys/{ssh_key_fid}")
def update_ssh_key(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    ssh_key = _ssh_key(state, fid)
    ssh_key.required = parse_body(UpdateSshKeyRequest, request).required
    return _ok(ssh_key.to_json())


@_route("DELETE", "/v2/ssh-keys/{ssh_key_fid}")
def delete_ssh_key(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    _ssh_key(state, fid)
    users = [b.fid for b in state.live_bids() if fid in b.launch_specification["ssh_keys"]]
    if users:
        raise ApiError(400, f"SSH key {fid} is in use by active bids: {', '.join(users)}")
    del state.ssh_keys[fid]
    return WireResponse(204)


def _ssh_key(state: FcpState, fid: str) -> SshKey:
    if fid not in state.ssh_keys:
        raise ApiError(404, f"SSH key {fid} not found")
    return state.ssh_keys[fid]


# ---- volumes ---------------------------------------------------------------------------------


@_route("GET", "/v2/volumes")
def list_volumes(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(VolumesQuery, request)
    state.project(q.project)
    return _ok(
        [
            v.to_json()
            for v in state.volumes.values()
            if v.project == q.project
            and q.region in (None, v.region)
            and (q.include_deleted or v.deleted_at is None)
        ]
    )


@_route("POST", "/v2/volumes")
def create_volume(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateVolumeRequest, request)
    state.project(body.project)
    if not any(a.region == body.region for a in state.auctions.values()):
        raise ApiError(400, f"Unknown region {body.region}")
    vol = Volume(
        state.new_fid("vol"),
        body.name,
        body.region,
        state.now(),
        body.size_gb,
        body.project,
        body.disk_interface,
    )
    state.volumes[vol.fid] = vol
    return _ok(vol.to_json(), 201)


@_route("PATCH", "/v2/volumes/{volume_fid}")
def update_volume(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    vol = _volume(state, fid)
    vol.name = parse_body(UpdateVolumeRequest, request).name
    return _ok(vol.to_json())


@_route("DELETE", "/v2/volumes/{volume_fid}")
def delete_volume(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    vol = _volume(state, fid)
    if vol.bids:
        raise ApiError(400, f"Volume {fid} is attached to active bids: {', '.join(vol.bids)}")
    vol.deleted_at = state.now()
    return WireResponse(204)


def _volume(state: FcpState, fid: str) -> Volume:
    vol = state.volumes.get(fid)
    if vol is None or vol.deleted_at is not None:
        raise ApiError(404, f"Volume {fid} not found")
    return vol
