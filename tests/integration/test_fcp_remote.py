"""Python functions on the FCP emulator: the call runs on an emulated instance, its result is kept
here before the instance is released, and nothing is left billing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

import flowlib
from flowlib import Flow
from flowlib.testing.emulators.fcp import FcpEmulator, Options, Timing

FAST = Timing(
    allocate_s=0, confirm_s=0, initialize_s=0, start_s=0.05, ssh_s=0.05, stop_s=0.1,
    resume_s=0, preempt_notice_s=1,
)  # fmt: skip


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[FcpEmulator]:
    with FcpEmulator(timing=FAST, workdir=tmp_path / "cloud", options=Options(stop_grace_s=1)) as e:
        e.start()
        yield e
        assert e.errors == []


@pytest.fixture
def app(emu: FcpEmulator, project: Path) -> Iterator[flowlib.App]:
    assert emu.workdir is not None
    settings = {"remote_host": "sandbox", "sandbox_dir": str(emu.workdir / "instances")}
    settings["poll_interval_s"] = 0.05  # type: ignore[assignment]
    with Flow(
        provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": settings}
    ) as flow:
        yield flowlib.App("on-fcp", flow=flow)


def test_a_function_returns_its_value_from_an_fcp_instance_that_then_releases_itself(
    app: flowlib.App, emu: FcpEmulator
) -> None:
    @app.function(gpu="a100")
    def where(x: int) -> tuple[int, str]:
        import os

        return x * 2, os.environ.get("FLOW_TASK_ID", "")

    call = where.spawn(21)
    value, task_id = call.get(timeout=60)
    assert value == 42 and task_id.startswith("task-")
    assert emu.wait_until(lambda: not emu.live_bids(), timeout=15)
    # The instance is gone; the kept result still answers.
    assert call.get() == (42, task_id)


def test_an_exception_raised_on_the_instance_is_raised_here(
    app: flowlib.App, emu: FcpEmulator
) -> None:
    @app.function(gpu="a100")
    def fail() -> None:
        raise KeyError("no such shard")

    with pytest.raises(KeyError, match="no such shard"):
        fail.remote()
    assert emu.wait_until(lambda: not emu.live_bids(), timeout=15)
