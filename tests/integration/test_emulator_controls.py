"""Steering a running emulator from the command line: ``python -m flowlib.testing.emulators
control`` preempts a bid, moves a market price and fails the next N calls of a route, against
an emulator serving in another process (as in the offline demo)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock, Timing

MODULE = [sys.executable, "-m", "flowlib.testing.emulators"]


class Served:
    def __init__(self, url: str, key: str, project: str) -> None:
        self.url, self.key, self.project = url, key, project
        self.http = httpx.Client(
            base_url=url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )

    def control(self, *argv: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*MODULE, "control", "--url", self.url, "--api-key", self.key, *argv],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def bid(self, fid: str) -> dict[str, Any]:
        answer: dict[str, Any] = self.http.get(f"/v2/spot/bids/{fid}").json()
        return answer

    def wait_status(self, fid: str, status: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while self.bid(fid)["status"] != status:
            assert time.monotonic() < deadline, f"{fid} never became {status}: {self.bid(fid)}"
            time.sleep(0.1)


@pytest.fixture
def served() -> Iterator[Served]:
    proc = subprocess.Popen(
        [*MODULE, "fcp", "--timing", "instant", "--no-boot"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(": ", 1)[1].strip()
        key = proc.stdout.readline().split(": ", 1)[1].strip()
        project = proc.stdout.readline().split(": ", 1)[1].split()[0]
        assert proc.stdout.readline().startswith("Controls: ")
        with Served(url, key, project).http:
            yield Served(url, key, project)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def place(served: Served, name: str, limit: str) -> str:
    types = served.http.get("/v2/instance-types").json()
    it = next(t["fid"] for t in types if t["name"] == "a100-80gb.sxm.1x")
    body = {
        "project": served.project, "region": "us-central1-b", "instance_type": it,
        "limit_price": limit, "instance_quantity": 1, "name": name,
        "launch_specification": {"volumes": [], "ssh_keys": []},
    }  # fmt: skip
    fid: str = served.http.post("/v2/spot/bids", json=body).json()["fid"]
    served.wait_status(fid, "Allocated")
    return fid


def test_preempt_from_the_command_line_and_the_bid_recovers(served: Served) -> None:
    fid = place(served, "demo", "$2.00")
    done = served.control("preempt", fid)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"bid {fid} preempted (now ")
    # Instant timing: the notice passes, the instances are preempted, the bid is Open again
    # and, still winning, allocated anew: preemption and recovery.
    served.wait_status(fid, "Allocated")
    events = [
        e["event_type"] for e in served.http.get(f"/v2/spot/bids/{fid}/history").json()["events"]
    ]
    assert events == ["Placed", "Allocated", "Preempted", "Allocated"]
    again = served.control("preempt", "bid_missing")
    assert again.returncode == 1 and "no bid bid_missing" in again.stderr


def test_a_market_price_above_the_limit_preempts(served: Served) -> None:
    fid = place(served, "cheap", "$2.00")
    done = served.control("market", "a100-80gb.sxm.1x", "us-central1-b", "2.50")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (f"a100-80gb.sxm.1x in us-central1-b now $2.50; preempted: {fid}")
    served.wait_status(fid, "Open")  # outbid: it waits for the price to come down
    offers = served.http.get("/v2/spot/availability").json()
    row = next(o for o in offers if o["region"] == "us-central1-b" and o["capacity"] == 4)
    assert row["last_instance_price"] == "$2.50"
    served.control("market", "a100-80gb.sxm.1x", "us-central1-b", "$1.50")
    served.wait_status(fid, "Allocated")
    unknown = served.control("market", "a100-80gb.sxm.1x", "mars-1", "1")
    assert unknown.returncode == 1 and "not sold in mars-1" in unknown.stderr


def test_the_next_n_calls_of_a_route_fail(served: Served) -> None:
    done = served.control("fail", "/v2/spot/bids", "--method", "GET", "--times", "2")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "the next 2 call(s) of GET /v2/spot/bids answer 503"
    codes = [served.http.get("/v2/spot/bids").status_code for _ in range(3)]
    assert codes == [503, 503, 200]
    served.control("fail", "/v2/me", "--times", "5", "--status", "500")
    assert served.http.get("/v2/me").status_code == 500
    assert served.control("clear").stdout.strip() == "every injected failure removed"
    assert served.http.get("/v2/me").status_code == 200


def test_controls_need_the_key_and_are_not_cloud_calls() -> None:
    with FcpEmulator(clock=ManualClock(), timing=Timing.instant(), boot=False) as emu:
        with httpx.Client(base_url=emu.url, transport=emu.transport()) as anon:
            assert anon.post("/_emulator/faults", json={"path": "/v2/me"}).status_code == 401
        with emu.client() as c:
            described = c.get("/_emulator").json()
            assert described["cloud"] == "fcp"
            assert "POST /_emulator/bids/{bid}/preempt" in described["controls"]
            assert c.post("/_emulator/faults", json={"times": 0}).status_code == 422
            assert c.post("/_emulator/bids/bid_x/preempt").status_code == 404
        assert emu.calls == [] and emu.faults.rules == []
