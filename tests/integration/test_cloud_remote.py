"""Python functions on the emulated clouds: the call runs on an emulated instance, its result is
kept here before the instance is released, and nothing is left billing."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import flowlib
from flowlib import Flow
from flowlib.testing.emulators.fcp import FcpEmulator, Options
from flowlib.testing.emulators.fcp import Timing as FcpTiming
from flowlib.testing.emulators.hyperstack import HyperstackEmulator
from flowlib.testing.emulators.hyperstack import Timing as HyperstackTiming

FAST = FcpTiming(
    allocate_s=0, confirm_s=0, initialize_s=0, start_s=0.05, ssh_s=0.05, stop_s=0.1,
    resume_s=0, preempt_notice_s=1,
)  # fmt: skip


@pytest.fixture(params=["fcp", "hyperstack"])
def cloud(
    request: pytest.FixtureRequest, tmp_path: Path, project: Path
) -> Iterator[tuple[flowlib.App, Callable[[], bool]]]:
    """An app on an emulated cloud, and a check that nothing is left running there."""
    emu: FcpEmulator | HyperstackEmulator
    if request.param == "fcp":
        emu = FcpEmulator(timing=FAST, workdir=tmp_path / "cloud", options=Options(stop_grace_s=1))
    else:
        emu = HyperstackEmulator(timing=HyperstackTiming.instant(), workdir=tmp_path / "cloud")
    with emu:
        emu.start()
        section = emu.provider_settings(poll_interval_s=0.05)

        def released() -> bool:
            if isinstance(emu, FcpEmulator):
                return emu.wait_until(lambda: not emu.live_bids(), timeout=15)
            return emu.wait_until(lambda: not emu.live_vms(), timeout=15)

        with Flow(provider=request.param, providers={request.param: section}) as flow:
            yield flowlib.App("on-the-cloud", flow=flow), released
        assert emu.errors == []


def test_a_function_returns_its_value_from_an_instance_that_is_then_released(
    cloud: tuple[flowlib.App, Callable[[], bool]],
) -> None:
    app, released = cloud

    @app.function(gpu="a100")
    def where(x: int) -> tuple[int, str]:
        import os

        return x * 2, os.environ.get("FLOW_TASK_ID", "")

    call = where.spawn(21)
    value, task_id = call.get(timeout=60)
    assert value == 42 and task_id.startswith("task-")
    assert released()
    # The instance is gone; the kept result still answers.
    assert call.get() == (42, task_id)


def test_an_exception_raised_on_the_instance_is_raised_here(
    cloud: tuple[flowlib.App, Callable[[], bool]],
) -> None:
    app, released = cloud

    @app.function(gpu="a100")
    def fail() -> None:
        raise KeyError("no such shard")

    with pytest.raises(KeyError, match="no such shard"):
        fail.remote()
    assert released()
