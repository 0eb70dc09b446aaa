"""The fcp provider passes the shared provider conformance suite against the FCP emulator over
loopback HTTP: bids placed for real, instances that boot and run the startup script in their
sandbox, logs and exit codes read over the sandbox remote host, self-release by the instance."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.testing.conformance import ProviderConformance
from flowlib.testing.emulators import sandbox_settings
from flowlib.testing.emulators.fcp import FcpEmulator, Options, Timing

FAST = Timing(
    allocate_s=0, confirm_s=0, initialize_s=0, start_s=0.05, ssh_s=0.05, stop_s=0.1,
    resume_s=0, preempt_notice_s=1,
)  # fmt: skip


@pytest.fixture
def emulator(tmp_path: Path) -> Iterator[FcpEmulator]:
    workdir = tmp_path / "cloud"
    with FcpEmulator(timing=FAST, workdir=workdir, options=Options(stop_grace_s=1)) as emu:
        emu.start()
        yield emu


def fcp_flow(emu: FcpEmulator, **settings: object) -> Flow:
    assert emu.workdir is not None
    section = {
        **sandbox_settings(emu.workdir / "instances"),
        "poll_interval_s": 0.05,
        **settings,
    }
    return Flow(provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": section})


class TestFcpProvider(ProviderConformance):
    wait_timeout = 30.0

    @pytest.fixture
    def flow(self, project: Path, isolated_home: Path, emulator: FcpEmulator) -> Iterator[Flow]:
        with fcp_flow(emulator) as f:
            yield f
        assert emulator.errors == []  # the emulator met no bug of its own
        # Every task the suite ran has ended: nothing may be left billing.
        assert emulator.wait_until(lambda: not emulator.live_bids(), timeout=10)
