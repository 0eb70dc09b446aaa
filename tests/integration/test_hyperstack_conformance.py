"""The hyperstack provider passes the shared conformance suite against the emulator over
loopback HTTP: VMs really run their user_data, logs and exit codes are read from their disks."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.testing.conformance import ProviderConformance
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Timing


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(timing=Timing.instant(), workdir=tmp_path / "cloud") as emu:
        emu.start()
        yield emu


def hyperstack_flow(emu: HyperstackEmulator, **extra: object) -> Flow:
    assert emu.workdir is not None
    section = {
        "api_url": emu.url,
        "api_key": emu.api_key,
        "remote_host": "sandbox",
        "sandbox_dir": str(emu.workdir / "instances"),
        "poll_interval_s": 0.2,
        **extra,
    }
    return Flow(provider="hyperstack", providers={"hyperstack": section})


class TestHyperstackProvider(ProviderConformance):
    wait_timeout = 30.0

    @pytest.fixture
    def flow(
        self, project: Path, isolated_home: Path, emulator: HyperstackEmulator
    ) -> Iterator[Flow]:
        flow = hyperstack_flow(emulator)
        yield flow
        flow.close()
        assert emulator.errors == []
        # Every task's VM is released: finished ones by auto_terminate, others by cancel.
        assert emulator.wait_until(lambda: emulator.vm_count() == 0, timeout=5)
