"""The stop notice for real: the startup script's SIGTERM, FLOW_STOP_FILE with the reason, the
kill after the grace period, the time limit's early notice, and `flow cancel` on the local
provider reaching a workload that polls flowlib.stop_requested()."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from clouds import fcp_flow, hs_flow

from flowlib import Flow, TaskStatus
from flowlib.core.startup import ScriptContext, build_script
from flowlib.models import TaskConfig

SRC = str(Path(__file__).parents[2] / "src")

# Waits for the notice the way a training loop would, then "saves" and exits 0.
WAITER = """\
import signal, sys, time, flowlib
signal.signal(signal.SIGTERM, lambda *_: None)  # the notice: finish the step, then stop
print("started", flush=True)
while not flowlib.stop_requested():
    time.sleep(0.02)
print("notice:", flowlib.stop_reason(), flush=True)
time.sleep(float(sys.argv[1]) if len(sys.argv) > 1 else 0)
print("saved", flush=True)
"""


def start_script(config: TaskConfig, root: Path) -> subprocess.Popen[bytes]:
    path = root.parent / "startup.sh"
    path.write_text(build_script(ScriptContext(task_id="t", config=config)))
    env = {"FLOW_ROOT": str(root), "PATH": os.environ["PATH"], "PYTHONPATH": SRC}
    return subprocess.Popen(["bash", str(path)], env=env, start_new_session=True)


def log_of(root: Path) -> str:
    return (root / "var/log/flow/task.log").read_text()


def wait_for(root: Path, text: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (root / "var/log/flow/task.log").exists() and text in log_of(root):
            return
        time.sleep(0.02)
    raise AssertionError(f"{text!r} never showed in the log:\n{log_of(root)}")


def test_the_time_limit_gives_the_notice_grace_seconds_before_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (tmp_path / "waiter.py").write_text(WAITER)
    # 0.001 h = 3.6 s -> 4 s; the notice at 4 - 2 = 2 s; the workload saves and ends by itself
    config = TaskConfig(
        command=[sys.executable, str(tmp_path / "waiter.py")],
        max_run_time_hours=0.001,
        stop_grace_s=2,
    )
    began = time.monotonic()
    proc = start_script(config, root)
    assert proc.wait(timeout=30) == 124  # cut off by its time limit, even though it exited 0
    took = time.monotonic() - began
    log = log_of(root)
    assert "notice: time limit: max_run_time_hours=0.001 reached" in log
    assert "saved" in log
    assert 1.5 < took < 3.8, took  # the notice came before the limit, not at it
    assert (root / "var/run/flow/stop_requested").read_text().startswith("time limit")


def test_a_workload_that_ignores_the_notice_is_killed_after_the_grace(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (tmp_path / "waiter.py").write_text(WAITER)
    config = TaskConfig(command=[sys.executable, str(tmp_path / "waiter.py"), "60"], stop_grace_s=1)
    proc = start_script(config, root)
    wait_for(root, "started")
    began = time.monotonic()
    proc.send_signal(signal.SIGTERM)  # what a VM shutdown, scancel or the emulators send
    assert proc.wait(timeout=30) == 137  # SIGKILL after the grace
    assert 0.9 < time.monotonic() - began < 5
    assert "notice: stopped: the machine is shutting down" in log_of(root)
    assert "saved" not in log_of(root)


def test_a_reason_written_before_the_signal_is_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    (tmp_path / "waiter.py").write_text(WAITER)
    proc = start_script(TaskConfig(command=[sys.executable, str(tmp_path / "waiter.py")]), root)
    wait_for(root, "started")
    (root / "var/run/flow/stop_requested").write_text("preempted: outbid\n")
    pid = int((root / "var/run/flow/script.pid").read_text())
    os.kill(pid, signal.SIGTERM)
    # It saved and ended within the grace: its own exit code, 0, not the 143 that bash's
    # SIGTERM-interrupted `wait` reports (the script reads the workload's status from a file).
    assert proc.wait(timeout=30) == 0
    assert "notice: preempted: outbid" in log_of(root)


def test_flow_cancel_gives_a_local_task_the_notice_and_time_to_save(
    project: Path, isolated_home: Path
) -> None:
    (project / "waiter.py").write_text(WAITER)
    flow = Flow()
    env = {"PYTHONPATH": SRC}
    task = flow.run([sys.executable, "waiter.py", "0.5"], stop_grace_s=5, env=env)
    deadline = time.monotonic() + 30
    while "started" not in flow.logs(task.task_id) and time.monotonic() < deadline:
        time.sleep(0.05)
    done = flow.cancel(task.task_id)
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.CANCELLED
    logs = flow.logs(task.task_id)
    assert "notice: cancelled: flow cancel" in logs
    assert "saved" in logs  # half a second of saving fits the 5 s grace


@pytest.mark.parametrize("cloud", ["fcp", "hyperstack"])
def test_cancel_on_a_cloud_gives_the_notice_before_the_machine_goes(
    project: Path, isolated_home: Path, cloud: str, request: pytest.FixtureRequest
) -> None:
    (project / "waiter.py").write_text(WAITER)
    emu = request.getfixturevalue(cloud)
    flow = fcp_flow(emu) if cloud == "fcp" else hs_flow(emu)
    task = flow.run([sys.executable, "waiter.py", "0.5"], env={"PYTHONPATH": SRC}, stop_grace_s=10)
    deadline = time.monotonic() + 60
    # running: the machine answers SSH (a starting one gets the notice from its shutdown)
    while time.monotonic() < deadline and not (
        "started" in flow.logs(task.task_id)
        and flow.get_task(task.task_id).status == TaskStatus.RUNNING
    ):
        time.sleep(0.05)
    flow.cancel(task.task_id)
    assert flow.wait(task.task_id, timeout=60).status == TaskStatus.CANCELLED
    logs = flow.logs(task.task_id)
    assert "notice: cancelled: flow cancel" in logs
    assert "saved" in logs  # it had its grace before the machine went


def test_scancel_gives_a_slurm_task_the_notice(
    slurm_cluster: None, project: Path, isolated_home: Path
) -> None:
    (project / "waiter.py").write_text(WAITER)
    flow = Flow(provider="slurm")
    task = flow.run([sys.executable, "waiter.py", "0.5"], env={"PYTHONPATH": SRC})
    deadline = time.monotonic() + 120
    while "started" not in flow.logs(task.task_id) and time.monotonic() < deadline:
        time.sleep(0.1)
    flow.cancel(task.task_id)  # scancel: SLURM sends SIGTERM, then SIGKILL after KillWait
    assert flow.wait(task.task_id, timeout=120).status == TaskStatus.CANCELLED
    logs = flow.logs(task.task_id)
    assert "notice: stopped: the machine is shutting down" in logs, logs
    assert "saved" in logs
