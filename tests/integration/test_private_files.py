"""Files flowlib writes that hold a task's env or secrets are 0600 (0700 for a script run by its
path) under umask 022, on this machine and on an emulated cloud instance's disk: code copies,
kept logs, the scripts the emulators boot and the script a compressed bootstrap unpacks."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.core.startup import ScriptContext, build_script, fit_script
from flowlib.models import TaskConfig
from flowlib.testing.emulators import sandbox_settings
from flowlib.testing.emulators.fcp import FcpEmulator, Options, Timing
from flowlib.testing.emulators.hyperstack import HyperstackEmulator
from flowlib.testing.emulators.hyperstack import Options as HsOptions
from flowlib.testing.emulators.hyperstack import Timing as HsTiming

FAST = Timing(
    allocate_s=0, confirm_s=0, initialize_s=0, start_s=0.05, ssh_s=0.05, stop_s=0.1,
    resume_s=0, preempt_notice_s=1,
)  # fmt: skip
SECRET = "s3cret-value"


@pytest.fixture(autouse=True)
def umask_022() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def test_fcp_code_copies_and_the_booted_script_and_its_log_are_private(
    tmp_path: Path, project: Path
) -> None:
    (project / "weights.bin").write_bytes(os.urandom(40_000))  # too big: copied in after boot
    with FcpEmulator(
        timing=FAST, workdir=tmp_path / "cloud", options=Options(stop_grace_s=1)
    ) as emu:
        emu.start()
        assert emu.workdir is not None
        fcp = {
            **sandbox_settings(emu.workdir / "instances"),
            "poll_interval_s": 0.05,
        }
        with Flow(
            provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": fcp}
        ) as flow:
            task = flow.run("echo ran", instance_type="a100", env={"SECRET": SECRET})
            assert flow.wait(task.task_id, timeout=30).exit_code == 0, flow.logs(task.task_id)
            data = flow.store.get(task.task_id).provider_data
        assert data["script_mode"] == "upload"
        assert mode(Path(data["code_upload"])) == 0o600
        (bid,) = emu.state.bids.values()
        root = emu.instance_root(bid.instances[0])
        assert SECRET in (root / "var/lib/foundry/startup_script.sh").read_text()
        assert mode(root / "var/lib/foundry/startup_script.sh") == 0o700
        assert mode(root / "var/log/foundry/startup_script.log") == 0o600
        assert mode(root / "var/lib/flow/code.tar.gz") == 0o600
        assert emu.errors == []


def test_a_kept_hyperstack_log_is_private(
    tmp_path: Path, isolated_home: Path, project: Path
) -> None:
    options = HsOptions(stop_grace_s=0.5)
    with HyperstackEmulator(
        timing=HsTiming.instant(), workdir=tmp_path / "cloud", options=options
    ) as emu:
        emu.start()
        section = emu.provider_settings(poll_interval_s=0.1)
        with Flow(provider="hyperstack", providers={"hyperstack": section}) as flow:
            task = flow.run("echo $SECRET", env={"SECRET": SECRET}, upload_code=False)
            assert flow.wait(task.task_id, timeout=60).exit_code == 0
        kept = isolated_home / ".flow" / "hyperstack" / "kept" / task.task_id / "task.log"
        assert kept.read_text() == SECRET + "\n"
        assert mode(kept) == 0o600
        assert emu.errors == []


def test_the_script_a_bootstrap_unpacks_is_private(tmp_path: Path) -> None:
    padding = "\n".join(f"# padding line {i} to push the script over the limit" for i in range(400))
    config = TaskConfig(shell=f"echo booted\n{padding}", env={"SECRET": SECRET})
    boot = fit_script(build_script(ScriptContext(task_id="t", config=config)), 10_000)
    assert boot.startswith("#!/bin/bash\n# flowlib bootstrap")
    root = tmp_path / "root"
    path = tmp_path / "boot.sh"
    path.write_text(boot)
    result = subprocess.run(
        ["bash", str(path)], env={"FLOW_ROOT": str(root), "PATH": "/usr/bin:/bin"}, check=False
    )
    assert result.returncode == 0
    assert (root / "var/log/flow/task.log").read_text() == "booted\n"
    assert mode(root / "var/lib/flow/startup.sh") == 0o600
