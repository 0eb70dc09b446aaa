"""Faults switched on per test: 5xx every Nth call, 429 with Retry-After, slow answers and
dropped connections, including the nastiest one: a bid POST accepted, then the answer lost."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock

BodyFactory = Callable[..., dict[str, Any]]


def test_every_third_call_answers_503(emu: FcpEmulator, client: httpx.Client) -> None:
    emu.faults.server_errors(every=3)
    codes = [client.get("/v2/projects").status_code for _ in range(6)]
    assert codes == [200, 200, 503, 200, 200, 503]
    assert client.get("/v2/projects").json() == [p.to_json() for p in emu.state.projects.values()]


def test_faults_match_by_method_and_path_glob(emu: FcpEmulator, client: httpx.Client) -> None:
    emu.faults.server_errors(status=502, method="GET", path="/v2/spot/bids/*")
    assert client.get("/v2/spot/bids").status_code == 200
    assert client.get("/v2/spot/bids/bid_x").status_code == 502


def test_a_rate_limit_burst_says_when_to_retry(emu: FcpEmulator, client: httpx.Client) -> None:
    emu.faults.rate_limit(times=2, retry_after=7)
    first, second, third = (client.get("/v2/me") for _ in range(3))
    assert (first.status_code, second.status_code, third.status_code) == (429, 429, 200)
    assert first.headers["Retry-After"] == "7"
    assert first.json() == {"detail": "Too Many Requests"}


def test_a_fault_used_as_a_context_manager_ends_with_the_block(
    emu: FcpEmulator, client: httpx.Client
) -> None:
    with emu.faults.server_errors():
        assert client.get("/v2/me").status_code == 503
    assert client.get("/v2/me").status_code == 200
    assert emu.faults.rules == []


def test_a_slow_answer_moves_the_emulator_clock_instead_of_sleeping(
    emu: FcpEmulator, client: httpx.Client, clock: ManualClock
) -> None:
    emu.faults.slow(2.5, times=1)
    before = clock.time()
    assert client.get("/v2/me").status_code == 200
    assert clock.time() == before + 2.5


def test_an_answer_slower_than_the_read_timeout_times_out_after_taking_effect(
    emu: FcpEmulator, client: httpx.Client, bid_body: BodyFactory
) -> None:
    emu.faults.slow(30, method="POST", path="/v2/spot/bids", times=1)
    with pytest.raises(httpx.ReadTimeout):
        client.post("/v2/spot/bids", json=bid_body(), timeout=5)
    assert len(emu.live_bids()) == 1  # the bid exists although the client never heard


def test_a_connection_dropped_after_a_bid_post_was_accepted(
    emu: FcpEmulator, client: httpx.Client, bid_body: BodyFactory
) -> None:
    emu.faults.drop_connection("POST", "/v2/spot/bids", after_processing=True)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v2/spot/bids", json=bid_body(name="ambiguous"))
    # The client cannot know; the cloud has the bid. A careful client looks it up by name.
    found = client.get("/v2/spot/bids", params={"name": "ambiguous"}).json()["data"]
    assert [b["fid"] for b in found] == [b.fid for b in emu.live_bids()]
    assert emu.calls[-2].dropped and emu.calls[-2].status == 201


def test_a_connection_dropped_before_processing_leaves_nothing_behind(
    emu: FcpEmulator, client: httpx.Client, bid_body: BodyFactory
) -> None:
    emu.faults.drop_connection("POST", "/v2/spot/bids")
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v2/spot/bids", json=bid_body())
    assert emu.live_bids() == []
    assert client.post("/v2/spot/bids", json=bid_body()).status_code == 201  # times=1


def test_a_reset_connection_is_a_read_error(emu: FcpEmulator, client: httpx.Client) -> None:
    emu.faults.drop_connection(reset=True)
    with pytest.raises(httpx.ReadError):
        client.get("/v2/me")


def test_every_nth_and_times_combine(emu: FcpEmulator, client: httpx.Client) -> None:
    rule = emu.faults.server_errors(every=2, times=2)
    codes = [client.get("/v2/me").status_code for _ in range(6)]
    assert codes == [200, 503, 200, 503, 200, 200]
    assert (rule.matched, rule.fired) == (4, 2)
