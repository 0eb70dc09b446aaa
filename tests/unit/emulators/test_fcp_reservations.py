"""FCP reservations and the market's history: capacity shared with the spot market, a fixed
window, the instances a reservation runs, and the prices each market and instance had."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any

import httpx

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock

BodyFactory = Callable[..., dict[str, Any]]
HOUR = 3600


def iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def reserve(
    emu: FcpEmulator, client: httpx.Client, start: float, hours: float, quantity: int, **more: Any
) -> httpx.Response:
    body = {
        "project": emu.project, "region": "us-central1-a",
        "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
        "start_time": iso(start), "end_time": iso(start + hours * HOUR),
        "instance_quantity": quantity, "name": more.pop("name", "res"),
        "launch_specification": {"volumes": [], "ssh_keys": []}, **more,
    }  # fmt: skip
    return client.post("/v2/reservation", json=body)


def test_a_reservation_starting_now_takes_capacity_from_the_lowest_spot_bids(
    emu: FcpEmulator, client: httpx.Client, clock: ManualClock, place: BodyFactory
) -> None:
    # us-central1-a sells 8 a100-80gb.sxm.1x; two spot bids hold 4 each.
    low = place(name="low", limit_price="$2.00", instance_quantity=4)
    high = place(name="high", limit_price="$3.00", instance_quantity=4)
    emu.advance(10)
    assert emu.bid(low["fid"]).status == emu.bid(high["fid"]).status == "Allocated"
    made = reserve(emu, client, clock.time(), 2, 3)
    assert made.status_code == 201, made.text
    res = made.json()
    assert (res["status"], res["unit_price"], res["total_price"]) == ("Active", "$2.25", "$13.50")
    assert emu.bid(low["fid"]).status == "Preempting"  # the lowest limit makes room
    assert emu.bid(high["fid"]).status == "Allocated"
    assert len(res["instances"]) == 3
    emu.advance(10)
    statuses = {emu.instance(i).status for i in res["instances"]}
    assert statuses == {"STATUS_RUNNING"}
    emu.advance(2 * HOUR)  # the window ends
    ended = client.get("/v2/reservation", params={"project": emu.project}).json()["data"][0]
    assert ended["status"] == "Ended" and ended["deactivated_at"] is not None
    assert {emu.instance(i).status for i in res["instances"]} == {"STATUS_TERMINATED"}


def test_windows_share_the_capacity_and_quotes_follow_it(
    emu: FcpEmulator, client: httpx.Client, clock: ManualClock
) -> None:
    tomorrow = clock.time() + 24 * HOUR
    assert reserve(emu, client, tomorrow, 4, 6).status_code == 201
    too_many = reserve(emu, client, tomorrow + HOUR, 4, 3, name="more")
    assert too_many.status_code == 400 and "capacity" in too_many.json()["detail"]
    assert reserve(emu, client, tomorrow + 4 * HOUR, 4, 8, name="after").status_code == 201
    window = {
        "project": emu.project, "region": "us-central1-a",
        "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
    }  # fmt: skip
    quote = {**window, "start_time": iso(tomorrow), "end_time": iso(tomorrow + HOUR)}
    assert client.get("/v2/reservation/quote", params={**quote, "quantity": 3}).json() == {
        "offers": []
    }
    offers = client.get("/v2/reservation/quote", params={**quote, "quantity": 2}).json()["offers"]
    assert [(o["key"], o["unit_price"], o["total_price"]) for o in offers] == [
        ("standard", "$2.25", "$4.50"),
        ("flexible", "$2.47", "$4.94"),
    ]
    slots = client.get(
        "/v2/reservation/availability", params={**window, "mode": "slots", "quantity": 1}
    ).json()
    # Free until tomorrow, 2 of 8 for the first window, none for the second, then all 8 again.
    assert [s["quantity"] for s in slots] == [8, 2, 8]
    assert slots[1]["end_time"] == iso(tomorrow + 4 * HOUR)
    assert slots[2]["start_time"] == iso(tomorrow + 8 * HOUR)


def test_the_market_and_each_instance_keep_their_price_history(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    bid = place(limit_price="$5.00")
    emu.advance(10)
    emu.set_market_price("a100-80gb.sxm.1x", "us-central1-a", "$2.10")
    fid = emu.instance_type_fid("a100-80gb.sxm.1x")
    series = client.get(
        "/v2/pricing/history", params={"instance_types": fid, "region": "us-central1-a"}
    ).json()["series"]
    assert [s["spot_prices"] for s in series] == [["$1.80", "$2.10"]]
    inst = emu.bid(bid["fid"]).instances[0]
    rows = client.get(
        "/v2/instances/pricing/history", params={"project": emu.project, "instance_fid": inst}
    ).json()["instances"]
    prices = [(e["price_cents"], e["end_time"] is None) for e in rows[0]["events"]]
    assert prices == [(180, False), (210, True)]
