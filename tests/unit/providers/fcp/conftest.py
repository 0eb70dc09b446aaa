"""The fcp provider against the FCP emulator in-process: a manual clock (the provider's sleeps
move the emulator's time), no socket, instances that do not boot. A test plays the workload by
writing the files a startup script leaves in the instance's sandbox."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from flowlib import Flow
from flowlib.core.hosts import HostFactory
from flowlib.core.store import TaskStore
from flowlib.hookspecs import hookimpl
from flowlib.providers import Registry
from flowlib.providers.fcp import make_provider
from flowlib.providers.fcp._provider import FcpProvider
from flowlib.testing.emulators import sandbox_factory
from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock, Timing


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def emu(clock: ManualClock) -> Iterator[FcpEmulator]:
    timing = Timing(0, 0, 0, 0, 0, 0, 0, preempt_notice_s=300)  # instant, but a notice period
    with FcpEmulator(clock=clock, timing=timing, boot=False) as emulator:
        yield emulator


@pytest.fixture
def disks(tmp_path: Path) -> Path:
    """Where each emulated instance's disk (its FLOW_ROOT) lives: one directory per FID."""
    path = tmp_path / "disks"
    path.mkdir()
    return path


def build(
    emu: FcpEmulator,
    clock: ManualClock,
    home: Path,
    disks: Path,
    hosts: HostFactory | None = None,
    **settings: Any,
) -> FcpProvider:
    """A provider on ``emu``; its instances are their sandboxes under ``disks`` unless
    ``hosts`` says otherwise."""
    provider = make_provider(
        {"api_key": emu.api_key, "api_url": emu.url, "poll_interval_s": 1.0, **settings},
        home,
        transport=emu.transport(),
        host_factory=hosts or sandbox_factory(lambda a: disks / a.instance_id),
    )
    provider.clock = clock
    return provider


@pytest.fixture
def make(
    emu: FcpEmulator, clock: ManualClock, tmp_path: Path, disks: Path
) -> Callable[..., FcpProvider]:
    """``make(**settings)``: another provider on the same emulator, with these settings."""
    return lambda **settings: build(emu, clock, tmp_path / "home", disks, **settings)


@pytest.fixture
def provider(make: Callable[..., FcpProvider]) -> FcpProvider:
    return make()


class _Plugin:
    def __init__(self, provider: FcpProvider) -> None:
        self.provider = provider

    @hookimpl
    def flowlib_providers(self) -> list[Any]:
        from flowlib.providers.base import ProviderSpec

        return [ProviderSpec("fcp", lambda context: self.provider)]


def _flow_on(provider: FcpProvider, home: Path, clock: ManualClock) -> Flow:
    import pluggy

    from flowlib import hookspecs

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_Plugin(provider), name="fcp-under-test")
    store = TaskStore(home / "tasks.db")
    return Flow(provider="fcp", store=store, registry=Registry(pm), clock=clock)


@pytest.fixture
def flow_on(tmp_path: Path, clock: ManualClock, project: Path) -> Callable[[FcpProvider], Flow]:
    """``flow_on(provider)``: a Flow whose `fcp` provider is ``provider`` (handed over through
    a plugin manager)."""
    return lambda provider: _flow_on(provider, tmp_path / "home", clock)


@pytest.fixture
def flow(provider: FcpProvider, flow_on: Callable[[FcpProvider], Flow]) -> Iterator[Flow]:
    """A Flow whose `fcp` provider is the one above."""
    with flow_on(provider) as f:
        yield f


def finish(disks: Path, instance_fid: str, code: int, output: str = "") -> None:
    """Play a workload that ended: what the startup script leaves on the instance's disk."""
    root = disks / instance_fid
    (root / "var/run/flow").mkdir(parents=True, exist_ok=True)
    (root / "var/log/flow").mkdir(parents=True, exist_ok=True)
    (root / "var/log/flow/task.log").write_text(output)
    (root / "var/run/flow/exit_code").write_text(f"{code}\n")
