"""Both emulated clouds, fast, over loopback HTTP, one of each per test (``fcp``,
``hyperstack``), and Flows pointed at them: the lifecycle and keeper tests share them."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowlib import Flow
from flowlib.testing.emulators.fcp import FcpEmulator, Options, Timing
from flowlib.testing.emulators.hyperstack import HyperstackEmulator
from flowlib.testing.emulators.hyperstack import Options as HsOptions
from flowlib.testing.emulators.hyperstack import Timing as HsTiming

FAST = Timing(
    allocate_s=0, confirm_s=0, initialize_s=0, start_s=0.05, ssh_s=0.05, stop_s=0.1,
    resume_s=0, preempt_notice_s=1,
)  # fmt: skip


@pytest.fixture
def fcp(tmp_path: Path) -> Iterator[FcpEmulator]:
    with FcpEmulator(timing=FAST, workdir=tmp_path / "fcp", options=Options(stop_grace_s=1)) as e:
        e.start()
        yield e


@contextlib.contextmanager
def fcp_over_ssh(workdir: Path, **more: Any) -> Iterator[FcpEmulator]:
    """An FCP emulator whose instances run their own sshd (``ssh=True``), serving; on exit it
    must have answered no request with an error of its own. ``more``: other emulator options
    (``vm_paths=True``)."""
    from sshd import require_sshd

    require_sshd()
    options = Options(stop_grace_s=1)
    with FcpEmulator(timing=FAST, workdir=workdir, options=options, ssh=True, **more) as emu:
        emu.start()
        yield emu
        assert emu.errors == []


@pytest.fixture
def hyperstack(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    options = HsOptions(stop_grace_s=0.5)
    timing = HsTiming.instant()
    with HyperstackEmulator(timing=timing, workdir=tmp_path / "hs", options=options) as e:
        e.start()
        yield e


def fcp_flow(emu: FcpEmulator, **settings: object) -> Flow:
    section = emu.provider_settings(poll_interval_s=0.05, timeout_s=2, **settings)
    return Flow(provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": section})


def hs_flow(emu: HyperstackEmulator, **top: object) -> Flow:
    section = emu.provider_settings(poll_interval_s=0.05, timeout_s=2)
    return Flow(provider="hyperstack", providers={"hyperstack": section}, **top)


def write_config(
    project: Path, provider: str, section: dict[str, object], results: str | None = None
) -> None:
    """The project's `.flow/config.yaml`: ``provider`` the default, with its section (and a
    results location), as a user would write it before a detached `flow run`."""
    import yaml

    body: dict[str, object] = {"provider": provider, "providers": {provider: section}}
    if results is not None:
        body["results"] = results
    (project / ".flow").mkdir(exist_ok=True)
    (project / ".flow" / "config.yaml").write_text(yaml.safe_dump(body))


def submit_and_leave(flow_args: list[str], cwd: Path) -> str:
    """`flow run` detached, in its own process that exits; the task id it printed."""
    done = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "run", "--json", *flow_args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return str(json.loads(done.stdout)["task_id"])
