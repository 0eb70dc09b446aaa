"""Reservations: capacity bought for a fixed window at a fixed price (``/v2/reservation*``).

A reservation is ``Pending`` until its ``start_time``, then ``Active`` with its instances booting
the launch specification's startup script like a bid's; at ``end_time`` it is ``Ended`` and its
instances stop. Reserved capacity comes out of the same pool as the spot market: when a
reservation starts and the pool is short, the lowest spot bids are preempted to make room.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import Field

from .._clock import iso
from .._wire import ApiError, WireRequest, WireResponse
from ._api import _listing_of, _ok, _route
from ._entities import ENDED, Auction, dollars, launch_json
from ._models import LaunchSpecification, PageLimit, _Body, parse_body, parse_query
from ._state import ORDER_TICKERS, FcpState

__all__ = ["Reservation"]

HOUR = 3600.0
MAX_WINDOW_S = 365 * 86400.0


@dataclass
class Reservation:
    fid: str
    seq: int
    name: str
    project: str
    created_by: str
    created_at: float
    quantity: int
    instance_type: str
    region: str
    start: float
    end: float
    unit_cents: int
    status: str = "Pending"
    deactivated_at: float | None = None
    instances: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    activity: list[dict[str, Any]] = field(default_factory=list)  # Started / Paused / Extended

    @property
    def live(self) -> bool:
        return self.status in ("Pending", "Active", "Paused")

    def event(self, at: float, event_type: str, **extra: Any) -> None:
        self.events.append({"timestamp": iso(at), "event_type": event_type, **extra})

    def total_cents(self) -> int:
        return round(self.unit_cents * self.quantity * (self.end - self.start) / HOUR)

    def to_json(self, spec: dict[str, Any]) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "project": self.project,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "deactivated_at": iso(self.deactivated_at) if self.deactivated_at else None,
            "instance_quantity": self.quantity,
            "instance_type": self.instance_type,
            "region": self.region,
            "instances": list(self.instances),
            "launch_specification": launch_json(spec),
            "status": self.status,
            "start_time": iso(self.start),
            "end_time": iso(self.end),
            "total_price": dollars(self.total_cents()),
            "unit_price": dollars(self.unit_cents),
        }


# ---- requests --------------------------------------------------------------------------------


class PriceSpecification(_Body):
    offer_key: str = "standard"
    max_unit_price: int | None = None


class CreateReservationRequest(_Body):
    project: str
    instance_type: str
    region: str
    start_time: datetime
    end_time: datetime
    instance_quantity: Annotated[int, Field(ge=1, le=256)]
    name: str
    launch_specification: LaunchSpecification
    price_specification: PriceSpecification | None = None
    notification_email: str | None = None


class UpdateReservationRequest(_Body):
    paused: bool | None = None
    volumes: list[str] | None = None


class ExtendReservationRequest(_Body):
    end_time: datetime
    price_specification: PriceSpecification | None = None


class TerminateInstancesRequest(_Body):
    instances: list[str]
    reduce_capacity: bool


class ReservationsQuery(_Body):
    next_cursor: str | None = None
    sort_by: Literal["created_at", "status"] | None = None
    sort_dir: Literal["asc", "desc"] | None = None
    project: str
    instance_type: str | None = None
    region: str | None = None
    status: Literal["Pending", "Active", "Paused", "Canceled", "Ended"] | None = None
    limit: PageLimit | None = None


class QuoteQuery(_Body):
    project: str
    instance_type: str
    region: str
    start_time: datetime
    end_time: datetime
    quantity: Annotated[int, Field(ge=1)]


class AvailabilityQuery(_Body):
    project: str
    instance_type: str
    region: str
    mode: Literal["slots", "latest_end_time", "check"] = "latest_end_time"
    earliest_start_time: datetime | None = None
    latest_end_time: datetime | None = None
    start_time: datetime | None = None
    end_time: datetime | None = None
    quantity: Annotated[int, Field(gt=0)] | None = None


# ---- the model -------------------------------------------------------------------------------


def reservations(state: FcpState) -> list[Reservation]:
    return [o for o in state.orders.values() if isinstance(o, Reservation)]


def _reservation(state: FcpState, fid: str) -> Reservation:
    return state.order(fid, Reservation, "Reservation")


def _market(state: FcpState, instance_type: str, region: str) -> Auction:
    if instance_type not in state.instance_types:
        raise ApiError(404, f"Instance type {instance_type} not found")
    auction = state.auction_for(instance_type, region)
    if auction is None:
        raise ApiError(400, f"Instance type {instance_type} is not offered in region {region}")
    return auction


def reserved(state: FcpState, auction: Auction, start: float, end: float, skip: str = "") -> int:
    """Instances reserved at the busiest moment of ``[start, end)``."""
    live = [
        r
        for r in reservations(state)
        if r.live and r.fid != skip and r.instance_type == auction.instance_type
        and r.region == auction.region and r.start < end and start < r.end
    ]  # fmt: skip
    moments = {start, *(r.start for r in live if r.start > start)}
    return max((sum(r.quantity for r in live if r.start <= t < r.end) for t in moments), default=0)


def free(state: FcpState, auction: Auction, start: float, end: float, skip: str = "") -> int:
    return max(0, auction.capacity - reserved(state, auction, start, end, skip))


def _window(state: FcpState, start: datetime, end: datetime) -> tuple[float, float]:
    begin, finish = start.timestamp(), end.timestamp()
    if finish <= begin:
        raise ApiError(400, "end_time must be after start_time")
    if finish - begin < HOUR:
        raise ApiError(400, "A reservation lasts at least one hour")
    if finish - begin > MAX_WINDOW_S:
        raise ApiError(400, "A reservation lasts at most a year")
    if begin < state.now() - 300:
        raise ApiError(400, "start_time is in the past")
    return max(begin, state.now()), finish


def _offers(unit_cents: int, quantity: int, hours: float) -> list[dict[str, Any]]:
    offers = []
    for key, label, premium in (("standard", "Standard", 0), ("flexible", "Pause and return", 10)):
        unit = unit_cents * (100 + premium) // 100
        total = round(unit * quantity * hours)
        offers.append(
            {
                "key": key,
                "display_name": label,
                "unit_price": dollars(unit),
                "return_buyback_price": dollars(unit // 2 if premium else 0),
                "pause_buyback_price": dollars(unit // 4 if premium else 0),
                "total_price": dollars(total),
                "total_etbp_value": dollars(total // 2 if premium else 0),
                "total_fubp_value": dollars(total // 4 if premium else 0),
                "option_premium": dollars(total - round(unit_cents * quantity * hours)),
            }
        )
    return offers


def _activate(state: FcpState, res: Reservation, now: float) -> None:
    auction = _market(state, res.instance_type, res.region)
    shortfall = res.quantity - state.available(auction)
    spot = [
        b for b in state.bids.values()
        if b.status == "Allocated" and b.instance_type == res.instance_type
        and b.region == res.region
    ]  # fmt: skip
    for bid in sorted(spot, key=lambda b: (b.limit_cents, -b.seq)):
        if shortfall <= 0:
            break
        shortfall -= bid.quantity
        state.preempt(bid)  # reserved capacity wins over the spot market
    res.status = "Active"
    res.event(now, "Active", unit_price_cents=res.unit_cents)
    res.activity.append({"occurred_at": iso(now), "event_type": "Started"})
    for index in range(res.quantity):
        _launch(state, res, index, now)


def _launch(state: FcpState, res: Reservation, index: int, now: float) -> None:
    inst = state.new_instance(
        f"{res.name}-{index}", res.project, res.instance_type, res.region, now,
        reservation=res.fid, price_cents=res.unit_cents, created_by=res.created_by,
    )  # fmt: skip
    res.instances.append(inst.fid)


def _stop_instances(state: FcpState, res: Reservation, now: float) -> None:
    for fid in res.instances:
        inst = state.instances[fid]
        if inst.status not in ENDED and inst.status != "STATUS_STOPPING":
            state.set_instance_status(inst, "STATUS_STOPPING", now)


def _advance(state: FcpState, now: float) -> bool:
    changed = False
    for res in reservations(state):
        if res.status == "Pending" and now >= res.start:
            _activate(state, res, res.start)
            changed = True
        if res.status in ("Active", "Paused") and now >= res.end:
            res.status = "Ended"
            res.deactivated_at = res.end
            res.event(res.end, "Ended")
            _stop_instances(state, res, res.end)
            for vol in state.volumes.values():
                if res.fid in vol.bids:
                    vol.bids.remove(res.fid)
            changed = True
    return changed


ORDER_TICKERS.append(_advance)


# ---- routes ----------------------------------------------------------------------------------


@_route("GET", "/v2/reservation/instance-types")
def reservable_types(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok([t.to_json() for t in state.instance_types.values()])


@_route("GET", "/v2/reservation/quote")
def quote(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(QuoteQuery, request)
    state.project(q.project)
    auction = _market(state, q.instance_type, q.region)
    start, end = _window(state, q.start_time, q.end_time)
    if free(state, auction, start, end) < q.quantity:
        return _ok({"offers": []})
    return _ok({"offers": _offers(auction.reserved_cents, q.quantity, (end - start) / HOUR)})


@_route("GET", "/v2/reservation/availability")
def reservable(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(AvailabilityQuery, request)
    state.project(q.project)
    auction = _market(state, q.instance_type, q.region)
    now = state.now()
    if q.mode == "check":
        if q.start_time is None or q.end_time is None:
            raise ApiError(400, "mode=check needs start_time and end_time")
        start, end = q.start_time.timestamp(), q.end_time.timestamp()
        count = free(state, auction, start, end)
        fits = count >= (q.quantity or 1)
        return _ok([{"start_time": iso(start), "end_time": iso(end), "quantity": count}] * fits)
    begin = max(now, q.earliest_start_time.timestamp() if q.earliest_start_time else now)
    finish = q.latest_end_time.timestamp() if q.latest_end_time else begin + 7 * 86400
    cuts = sorted(
        {begin, finish}
        | {t for r in reservations(state) if r.live for t in (r.start, r.end) if begin < t < finish}
    )
    slots: list[tuple[float, float, int]] = []
    for start, end in itertools.pairwise(cuts):
        count = free(state, auction, start, end)
        if count >= (q.quantity or 1):
            if slots and slots[-1][2] == count and slots[-1][1] == start:
                slots[-1] = (slots[-1][0], end, count)
            else:
                slots.append((start, end, count))
    if q.mode == "latest_end_time":
        slots = slots[:1]
    return _ok([{"start_time": iso(s), "end_time": iso(e), "quantity": n} for s, e, n in slots])


@_route("POST", "/v2/reservation")
def create_reservation(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateReservationRequest, request)
    state.project(body.project)
    auction = _market(state, body.instance_type, body.region)
    start, end = _window(state, body.start_time, body.end_time)
    spec = body.launch_specification
    state.check_ssh_keys(spec.ssh_keys, body.project)
    state.check_launch(spec, body.project, body.region)
    if free(state, auction, start, end) < body.instance_quantity:
        raise ApiError(400, "Not enough capacity for this reservation window")
    offer = (body.price_specification or PriceSpecification()).offer_key
    offers = {o["key"]: o for o in _offers(auction.reserved_cents, 1, 1)}
    if offer not in offers:
        raise ApiError(400, f"Unknown offer {offer!r}: one of {', '.join(offers)}")
    unit = auction.reserved_cents * (110 if offer == "flexible" else 100) // 100
    limit = (body.price_specification or PriceSpecification()).max_unit_price
    if limit is not None and unit > limit:
        raise ApiError(400, f"The unit price {dollars(unit)} is above max_unit_price")
    now = state.now()
    res = Reservation(
        fid=state.new_fid("res"),
        seq=state.next_seq(),
        name=body.name,
        project=body.project,
        created_by=state.user_fid,
        created_at=now,
        quantity=body.instance_quantity,
        instance_type=body.instance_type,
        region=body.region,
        start=start,
        end=end,
        unit_cents=unit,
    )
    res.event(now, "Placed", user_id=state.user_fid, unit_price_cents=unit)
    res.event(now, "Terms Set", unit_price_cents=unit)
    state.orders[res.fid] = res
    state.launch_specs[res.fid] = spec.model_dump()
    for vol in spec.volumes:
        state.volumes[vol].bids.append(res.fid)
    state.tick()  # a reservation starting now is active at once
    return _ok(res.to_json(state.launch_specs[res.fid]), 201)


@_route("GET", "/v2/reservation")
def list_reservations(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(ReservationsQuery, request)
    state.project(q.project)
    found = [
        r for r in reservations(state)
        if r.project == q.project and q.instance_type in (None, r.instance_type)
        and q.region in (None, r.region) and q.status in (None, r.status)
    ]  # fmt: skip
    order = (lambda r: (r.status, r.seq)) if q.sort_by == "status" else (lambda r: r.seq)
    return _listing_of(
        state, found, order, q.sort_dir, q.limit, q.next_cursor,
        lambda r: r.to_json(state.launch_specs[r.fid]),
    )  # fmt: skip


@_route("GET", "/v2/reservation/{reservation_fid}/extension-availability")
def extension(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    res = _reservation(state, fid)
    auction = _market(state, res.instance_type, res.region)
    latest = res.end
    step = HOUR
    while (
        latest - res.end < 30 * 86400
        and free(state, auction, latest, latest + step, skip=res.fid) >= res.quantity
    ):
        latest += step
    return _ok({"latest_extension_time": iso(latest), "available": res.live and latest > res.end})


@_route("POST", "/v2/reservation/{reservation_fid}/extend")
def extend(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    res = _reservation(state, fid)
    body = parse_body(ExtendReservationRequest, request)
    if not res.live:
        raise ApiError(400, f"Reservation {fid} is {res.status} and cannot be extended")
    end = body.end_time.timestamp()
    if end <= res.end:
        raise ApiError(400, "The new end_time must be after the current one")
    auction = _market(state, res.instance_type, res.region)
    if free(state, auction, res.end, end, skip=res.fid) < res.quantity:
        raise ApiError(400, "Not enough capacity to extend this reservation")
    now = state.now()
    res.end = end
    res.event(now, "Terms Changed", unit_price_cents=res.unit_cents)
    res.activity.append({"occurred_at": iso(now), "event_type": "Extended"})
    return _ok(res.to_json(state.launch_specs[fid]))


@_route("PATCH", "/v2/reservation/{reservation_fid}")
def update_reservation(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    res = _reservation(state, fid)
    body = parse_body(UpdateReservationRequest, request)
    if not res.live:
        raise ApiError(400, f"Reservation {fid} is {res.status} and cannot be changed")
    now = state.now()
    spec = state.launch_specs[fid]
    if body.volumes is not None:
        if res.status == "Active" and body.paused is not True:
            raise ApiError(400, "Volumes can only be changed while the reservation is paused")
        state.check_volumes(body.volumes, res.project, res.region)
        for vol in spec.get("volumes", []):
            state.volumes[vol].bids.remove(fid)
        for vol in body.volumes:
            state.volumes[vol].bids.append(fid)
        spec["volumes"] = list(body.volumes)
    if body.paused is True and res.status != "Paused":
        if res.status != "Active":
            raise ApiError(400, f"Reservation {fid} is {res.status}, not Active")
        res.status = "Paused"
        res.event(now, "Paused")
        res.activity.append({"occurred_at": iso(now), "event_type": "Paused"})
        for inst_fid in res.instances:
            inst = state.instances[inst_fid]
            if inst.status not in ENDED:
                state.set_instance_status(inst, "STATUS_PAUSED", now)
    elif body.paused is False and res.status == "Paused":
        res.status = "Active"
        res.event(now, "Resumed")
        for inst_fid in res.instances:
            inst = state.instances[inst_fid]
            if inst.status == "STATUS_PAUSED":
                state.set_instance_status(inst, "STATUS_STARTING", now)
    return _ok(res.to_json(spec))


@_route("POST", "/v2/reservation/{reservation_fid}/terminate-instances")
def terminate(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    res = _reservation(state, fid)
    body = parse_body(TerminateInstancesRequest, request)
    if not res.live:
        raise ApiError(400, f"Reservation {fid} was already ended")
    unknown = [i for i in body.instances if i not in res.instances]
    if unknown and len(unknown) == len(body.instances):
        raise ApiError(404, f"Instances not in reservation {fid}: {', '.join(unknown)}")
    now = state.now()
    done = []
    for inst_fid in body.instances:
        if inst_fid in unknown:
            continue
        inst = state.instances[inst_fid]
        if inst.status not in ENDED:
            state.set_instance_status(inst, "STATUS_STOPPING", now)
        done.append(inst_fid)
        res.instances.remove(inst_fid)
        if body.reduce_capacity:
            res.quantity -= 1
        elif res.status == "Active":
            _launch(state, res, len(res.instances), now)  # a fresh machine takes its place
    if unknown:
        return WireResponse(207, {"terminated_instances": done})
    return _ok({"terminated_instances": done})


@_route("GET", "/v2/reservation/{reservation_fid}/history")
def history(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    return _ok({"reservation_fid": fid, "events": list(_reservation(state, fid).events)})


@_route("GET", "/v2/reservation/{reservation_fid}/usage")
def usage(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    res = _reservation(state, fid)
    now = state.now()
    committed = res.total_cents()
    elapsed = max(0.0, min(now, res.end) - res.start)
    reserved_s = elapsed * res.quantity
    active_s = 0.0
    events = []
    for inst in (i for i in state.instances.values() if i.reservation == fid):
        marks = [*inst.history, (now, "")]
        for (at, status), (until, _next) in itertools.pairwise(marks):
            if status == "STATUS_RUNNING":
                active_s += max(0.0, until - at)
        for at, status in inst.history:
            events.append(
                {
                    "id": _uuid(state, f"{inst.fid}{at}{status}"),
                    "occurred_at": iso(at),
                    "instance_fid": inst.fid,
                    "instance_name": inst.name,
                    "instance_status": status,
                }
            )
    return _ok(
        {
            "reservation": {
                "fid": res.fid,
                "order_name": res.name,
                "start_date": iso(res.start),
                "end_date": iso(res.end),
                "status": res.status,
                "committed_cost_cents": committed,
            },
            "summary": {
                "committed_cost_cents": committed,
                "flex_use_credits_cents": 0,
                "early_termination_credits_cents": 0,
                "net_cost_cents": committed,
                "reserved_instance_hours": f"PT{round(reserved_s)}S",
                "active_instance_hours": f"PT{round(active_s)}S",
                "idle_instance_hours": f"PT{round(max(0.0, reserved_s - active_s))}S",
                "as_of": iso(now),
            },
            "grants": [
                {
                    "fid": res.fid.replace("res_", "grant_", 1),
                    "starts_at": iso(res.start),
                    "ends_at": iso(res.end),
                    "quantity": res.quantity,
                    "unit_price": res.unit_cents,
                    "price_credit": 0,
                    "return_credit": 0,
                }
            ],
            "pricing_events": events,
            "reservation_events": [{**e, "reservation_name": res.name} for e in res.activity],
        }
    )


def _uuid(state: FcpState, seed: str) -> str:
    import uuid

    return str(uuid.uuid5(uuid.NAMESPACE_URL, state.organization_id + seed))
