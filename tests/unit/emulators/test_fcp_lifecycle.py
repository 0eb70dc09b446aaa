"""Bids and instances move through the documented state machines as the clock is stepped.

Default timing (``Timing()``): a winning bid is allocated 1 s after it is placed; its instances go
NEW -1s-> CONFIRMED -1s-> INITIALIZING -2s-> STARTING -1s-> RUNNING; a cancelled bid's instances
stop for 1 s; preemption gives 300 s notice.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock, Market, Options

BodyFactory = Callable[..., dict[str, Any]]


def instance_statuses(client: httpx.Client, emu: FcpEmulator) -> list[str]:
    page = client.get("/v2/instances", params={"project": emu.project}).json()
    return [i["status"] for i in page["data"]]


def bid_status(client: httpx.Client, fid: str) -> str:
    status: str = client.get(f"/v2/spot/bids/{fid}").json()["status"]
    return status


def test_a_winning_bid_is_allocated_and_its_instance_boots_to_running(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    bid = place(instance_quantity=2)
    assert (bid["status"], bid["instances"]) == ("Open", [])

    emu.advance(1)
    allocated = client.get(f"/v2/spot/bids/{bid['fid']}").json()
    assert allocated["status"] == "Allocated"
    assert len(allocated["instances"]) == 2  # all or nothing
    assert instance_statuses(client, emu) == ["STATUS_NEW"] * 2

    seen = []
    for _ in range(5):
        emu.advance(1)
        seen.append(instance_statuses(client, emu)[0])
    assert seen == [
        "STATUS_CONFIRMED",
        "STATUS_INITIALIZING",
        "STATUS_INITIALIZING",
        "STATUS_STARTING",
        "STATUS_RUNNING",
    ]
    running = client.get("/v2/instances", params={"project": emu.project}).json()["data"][0]
    assert running["ssh_destination"]
    assert running["bid"] == bid["fid"]


def test_one_big_step_cascades_through_every_due_transition(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    place()
    emu.advance(3600)
    assert instance_statuses(client, emu) == ["STATUS_RUNNING"]


def test_a_limit_below_the_market_waits_open_and_wins_when_raised(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    bid = place(limit_price="$1.00")  # market is $1.80
    emu.advance(600)
    assert bid_status(client, bid["fid"]) == "Open"
    patched = client.patch(f"/v2/spot/bids/{bid['fid']}", json={"limit_price": "$2.00"})
    assert patched.json()["limit_price"] == "$2.00"
    emu.advance(1)
    assert bid_status(client, bid["fid"]) == "Allocated"


def test_a_winner_pays_the_market_price_not_its_limit(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    bid = place(limit_price="$9.00")
    emu.advance(1)  # allocated; billing starts
    emu.advance(3600)
    assert emu.billed(bid["fid"]) == pytest.approx(1.80)


def test_capacity_is_all_or_nothing_and_higher_limits_win_first(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    emu.set_capacity("a100-80gb.sxm.1x", "us-central1-a", 2)
    too_big = place(name="big", instance_quantity=3, limit_price="$5.00")
    cheap = place(name="cheap", limit_price="$1.90")
    rich = place(name="rich", limit_price="$3.00", instance_quantity=2)
    emu.advance(1)
    assert bid_status(client, too_big["fid"]) == "Open"  # never fits
    assert bid_status(client, rich["fid"]) == "Allocated"
    assert bid_status(client, cheap["fid"]) == "Open"  # no capacity left
    assert (emu.bid_count("Open"), emu.bid_count("Allocated"), emu.bid_count()) == (2, 1, 3)
    row = next(
        r
        for r in client.get("/v2/spot/availability").json()
        if r["region"] == "us-central1-a" and r["instance_type"] == too_big["instance_type"]
    )
    assert row["capacity"] == 0
    assert row["lowest_allocated_price"] == "$3.00"


def test_cancel_terminates_the_bid_and_stops_its_instances(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory, clock: ManualClock
) -> None:
    bid = place()
    emu.advance(60)
    response = client.delete(f"/v2/spot/bids/{bid['fid']}")
    assert (response.status_code, response.content) == (204, b"")
    gone = client.get(f"/v2/spot/bids/{bid['fid']}").json()
    assert gone["status"] == "Terminated"
    assert gone["deactivated_at"] is not None
    assert instance_statuses(client, emu) == ["STATUS_STOPPING"]
    emu.advance(1)
    assert instance_statuses(client, emu) == ["STATUS_TERMINATED"]
    inst = gone["instances"][0]
    status = client.get(f"/v2/instances/{inst}/status").json()
    assert status["end_time"] is not None
    assert emu.live_bids() == []


@pytest.mark.parametrize("repeat_status", [204, 404])
def test_deleting_a_terminated_bid_again_is_harmless(
    clock: ManualClock, repeat_status: int
) -> None:
    with (
        FcpEmulator(
            clock=clock, boot=False, options=Options(repeat_delete_status=repeat_status)
        ) as emu,
        emu.client() as client,
    ):
        body = {
            "project": emu.project,
            "region": "us-central1-a",
            "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
            "limit_price": "$2.00",
            "instance_quantity": 1,
            "name": "x",
            "launch_specification": {"volumes": [], "ssh_keys": []},
        }
        fid = client.post("/v2/spot/bids", json=body).json()["fid"]
        assert client.delete(f"/v2/spot/bids/{fid}").status_code == 204
        assert client.delete(f"/v2/spot/bids/{fid}").status_code == repeat_status


def test_preemption_gives_notice_then_returns_the_bid_to_waiting(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    bid = place()
    emu.advance(60)
    first = client.get(f"/v2/spot/bids/{bid['fid']}").json()["instances"]

    emu.preempt(bid["fid"])
    assert bid_status(client, bid["fid"]) == "Preempting"
    assert instance_statuses(client, emu) == ["STATUS_PREEMPTING"]
    emu.advance(299)
    assert instance_statuses(client, emu) == ["STATUS_PREEMPTING"]  # 5 minutes' notice
    emu.set_market_price("a100-80gb.sxm.1x", "us-central1-a", "$3.00")  # stays outbid
    emu.advance(1)
    after = client.get(f"/v2/spot/bids/{bid['fid']}").json()
    assert (after["status"], after["instances"]) == ("Open", [])
    assert instance_statuses(client, emu) == ["STATUS_PREEMPTED"]

    emu.set_market_price("a100-80gb.sxm.1x", "us-central1-a", "$1.50")
    emu.advance(1)
    again = client.get(f"/v2/spot/bids/{bid['fid']}").json()
    assert again["status"] == "Allocated"
    assert again["instances"] != first  # new machines
    events = client.get(f"/v2/spot/bids/{bid['fid']}/history").json()["events"]
    assert [e["event_type"] for e in events] == ["Placed", "Allocated", "Preempted", "Allocated"]


def test_a_market_moving_above_the_limit_preempts(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    low = place(name="low", limit_price="$2.00")
    high = place(name="high", limit_price="$5.00")
    emu.advance(10)
    emu.set_market_price("a100-80gb.sxm.1x", "us-central1-a", "$2.40")
    assert bid_status(client, low["fid"]) == "Preempting"
    assert bid_status(client, high["fid"]) == "Allocated"


def test_pause_spins_instances_down_and_resume_brings_the_same_ones_back(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    bid = place()
    emu.advance(60)
    paused = client.patch(f"/v2/spot/bids/{bid['fid']}", json={"paused": True})
    assert paused.json()["status"] == "Paused"
    assert instance_statuses(client, emu) == ["STATUS_PAUSED"]
    again = client.patch(f"/v2/spot/bids/{bid['fid']}", json={"paused": True})
    assert again.status_code == 400
    assert "already paused" in again.json()["detail"]

    client.patch(f"/v2/spot/bids/{bid['fid']}", json={"paused": False})
    emu.advance(1)
    assert instance_statuses(client, emu) == ["STATUS_STARTING"]
    emu.advance(1)
    assert instance_statuses(client, emu) == ["STATUS_RUNNING"]
    assert len(client.get(f"/v2/spot/bids/{bid['fid']}").json()["instances"]) == 1


def test_volumes_change_only_while_paused(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory, volume_body: BodyFactory
) -> None:
    vol = client.post("/v2/volumes", json=volume_body(name="v", size_gb=1)).json()
    bid = place()
    url = f"/v2/spot/bids/{bid['fid']}"
    assert client.patch(url, json={"volumes": [vol["fid"]]}).status_code == 400
    client.patch(url, json={"paused": True})
    patched = client.patch(url, json={"volumes": [vol["fid"]]}).json()
    assert patched["launch_specification"]["volumes"] == [vol["fid"]]


def test_a_live_bid_name_is_unique_in_its_project(
    client: httpx.Client, place: BodyFactory, bid_body: BodyFactory
) -> None:
    first = place(name="same")
    duplicate = client.post("/v2/spot/bids", json=bid_body(name="same"))
    assert duplicate.status_code == 400
    assert "name already used" in duplicate.json()["detail"]
    client.delete(f"/v2/spot/bids/{first['fid']}")
    assert client.post("/v2/spot/bids", json=bid_body(name="same")).status_code == 201


def test_an_idempotency_key_returns_the_original_bid(
    emu: FcpEmulator, client: httpx.Client, bid_body: BodyFactory
) -> None:
    headers = {"Idempotency-Key": "submit-1"}
    first = client.post("/v2/spot/bids", json=bid_body(), headers=headers)
    second = client.post("/v2/spot/bids", json=bid_body(), headers=headers)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["fid"] == second.json()["fid"]
    assert len(emu.state.bids) == 1


@pytest.mark.parametrize(
    ("overrides", "status", "needle"),
    [
        ({"limit_price": "$0.10"}, 400, "limit price below minimum"),
        ({"limit_price": "2.50"}, 422, "dollar amount"),
        ({"region": "mars-1"}, 400, "not available in region"),
        ({"instance_type": "it_unknown00000000"}, 404, "not found"),
        ({"instance_quantity": 0}, 400, "instance_quantity"),
        ({"launch_specification": {"ssh_keys": ["sshkey_nope"]}}, 404, "SSH key"),
        ({"launch_specification": {"startup_script": "echo no shebang"}}, 422, "#!/bin/bash"),
        (
            {"launch_specification": {"startup_script": "#!/bin/bash\n" + "#" * 10_000}},
            422,
            "10000",
        ),
        ({"launch_specification": {"memory_gb": 64}}, 400, "not adjustable"),
    ],
)
def test_bids_that_cannot_be_placed_say_why(
    client: httpx.Client,
    bid_body: BodyFactory,
    overrides: dict[str, Any],
    status: int,
    needle: str,
) -> None:
    response = client.post("/v2/spot/bids", json=bid_body(**overrides))
    assert response.status_code == status
    assert needle.lower() in str(response.json()["detail"]).lower()


def test_a_project_may_require_an_ssh_key(clock: ManualClock) -> None:
    options = Options(require_ssh_key=True)
    with FcpEmulator(clock=clock, boot=False, options=options) as emu, emu.client() as client:
        body = {
            "project": emu.project,
            "region": "us-central1-a",
            "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
            "limit_price": "$2.00",
            "instance_quantity": 1,
            "name": "x",
            "launch_specification": {"volumes": [], "ssh_keys": []},
        }
        response = client.post("/v2/spot/bids", json=body)
    assert response.status_code == 400
    detail = response.json()["detail"].lower()
    assert "ssh" in detail and "key" in detail and "required" in detail


def test_a_quota_caps_live_instances(clock: ManualClock) -> None:
    market = Market("cpu.1x", "none", 0, 0, 4, 16, 100, "none", {"r1": ("$0.50", 10)})
    with (
        FcpEmulator(
            clock=clock, boot=False, markets=[market], options=Options(max_instances=2)
        ) as emu,
        emu.client() as client,
    ):
        body = {
            "project": emu.project,
            "region": "r1",
            "instance_type": emu.instance_type_fid("cpu.1x"),
            "limit_price": "$1.00",
            "instance_quantity": 3,
            "name": "x",
            "launch_specification": {"volumes": [], "ssh_keys": []},
        }
        response = client.post("/v2/spot/bids", json=body)
    assert response.status_code == 403
    assert "quota" in response.json()["detail"].lower()


def test_a_broken_instance_reports_status_error(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    bid = place()
    emu.advance(60)
    emu.fail_instance(emu.bid(bid["fid"]).instances[0])
    assert instance_statuses(client, emu) == ["STATUS_ERROR"]
