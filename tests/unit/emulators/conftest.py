"""The FCP emulator in-process: a manual clock, no socket, no sleeping."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock, Options, Timing


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[FcpEmulator]:
    """An emulator whose transitions take the documented default times, and whose instances do
    not boot (tests that run scripts ask for ``booting_emu``)."""
    with FcpEmulator(clock=clock, boot=False) as emulator:
        yield emulator


@pytest.fixture
def client(emu: FcpEmulator) -> Iterator[httpx.Client]:
    with emu.client() as c:
        yield c


@pytest.fixture
def booting_emu(clock: ManualClock, tmp_path: Path) -> Iterator[FcpEmulator]:
    options = Options(stop_grace_s=0.5)
    with FcpEmulator(
        clock=clock, timing=Timing.instant(), workdir=tmp_path, options=options
    ) as emulator:
        yield emulator


BodyFactory = Callable[..., dict[str, Any]]


@pytest.fixture
def bid_body(emu: FcpEmulator) -> BodyFactory:
    """``bid_body(**overrides)``: a valid ``POST /v2/spot/bids`` body for one
    a100-80gb.sxm.1x in us-central1-a (``launch_specification`` overrides merge)."""
    return lambda **overrides: _bid_body(emu, **overrides)


@pytest.fixture
def volume_body(emu: FcpEmulator) -> BodyFactory:
    """``volume_body(**overrides)``: a valid ``POST /v2/volumes`` body (a 100 GB Block volume
    named ``data`` in us-central1-a)."""
    return lambda **overrides: {
        "name": "data",
        "project": emu.project,
        "disk_interface": "Block",
        "region": "us-central1-a",
        "size_gb": 100,
        **overrides,
    }


@pytest.fixture
def place(client: httpx.Client, bid_body: BodyFactory) -> BodyFactory:
    """``place(**overrides)``: POST a bid, expect 201, return the BidModel."""

    def post(**overrides: Any) -> dict[str, Any]:
        response = client.post("/v2/spot/bids", json=bid_body(**overrides))
        assert response.status_code == 201, response.text
        data: dict[str, Any] = response.json()
        return data

    return post


def _bid_body(emu: FcpEmulator, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "project": emu.project,
        "region": "us-central1-a",
        "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
        "limit_price": "$2.50",
        "instance_quantity": 1,
        "name": "train",
        "launch_specification": {"volumes": [], "ssh_keys": []},
    }
    spec = overrides.pop("launch_specification", {})
    body.update(overrides)
    body["launch_specification"] = {**body["launch_specification"], **spec}
    return body
