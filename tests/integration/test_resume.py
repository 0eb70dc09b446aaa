"""Checkpoints announced by a real workload, and `flow resume` from the latest one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from flowlib import Flow, TaskStatus
from flowlib.errors import ValidationError

# Counts on from FLOW_RESUME_FROM, announces a checkpoint per step, outlives a tiny time limit.
WORKLOAD = """\
import os, sys, time, flowlib
start = int(open(os.environ["FLOW_RESUME_FROM"]).read()) if "FLOW_RESUME_FROM" in os.environ else 0
print("start", start, "resumed task", os.environ.get("FLOW_RESUMED_TASK"), flush=True)
for step in range(start, start + int(sys.argv[1])):
    path = os.path.join(sys.argv[2], f"ckpt-{step}")
    with open(path, "w") as fh:
        fh.write(str(step + 1))
    flowlib.log_checkpoint(path, step=step)
    time.sleep(float(sys.argv[3]))
"""


@pytest.fixture
def flow(project: Path) -> Flow:
    (project / "train.py").write_text(WORKLOAD)
    return Flow()


def test_a_task_cut_off_by_its_time_limit_resumes_from_its_latest_checkpoint(
    flow: Flow, tmp_path: Path
) -> None:
    argv = [sys.executable, "train.py", "1000", str(tmp_path), "0.2"]
    # about 2.9 s, so 3; the stop notice (SIGTERM, FLOW_STOP_FILE) comes a second before
    cut = flow.run(argv, name="long", max_run_time_hours=0.0008, stop_grace_s=1)
    cut = flow.wait(cut.task_id, timeout=60)
    assert cut.status == TaskStatus.FAILED and cut.exit_code == 124
    checkpoints = cut.checkpoints()
    assert len(checkpoints) >= 3
    assert [c.step for c in checkpoints] == list(range(len(checkpoints)))
    latest = checkpoints[-1]

    status = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "status", cut.task_id], capture_output=True, text=True
    )
    assert f"flow resume {cut.task_id}" in status.stdout

    resumed = flow.resume(
        cut.task_id, command=[sys.executable, "train.py", "2", str(tmp_path), "0"]
    )
    assert resumed.config is not None
    assert resumed.config.env["FLOW_RESUME_FROM"] == latest.path
    done = flow.wait(resumed.task_id, timeout=60)
    assert done.status == TaskStatus.COMPLETED
    assert flow.logs(done.task_id).splitlines()[0] == (
        f"start {latest.step + 1} resumed task {cut.task_id}"
    )


def test_checkpoints_are_remembered_after_the_log_is_gone(flow: Flow, tmp_path: Path) -> None:
    task = flow.run([sys.executable, "train.py", "2", str(tmp_path), "0"])
    flow.wait(task.task_id, timeout=60)
    log = Path(flow.store.get(task.task_id).provider_data["root"]) / "var/log/flow/task.log"
    log.unlink()  # as when a cloud instance is released
    assert [c.step for c in flow.checkpoints(task.task_id)] == [0, 1]


def test_a_task_without_checkpoints_cannot_be_resumed(flow: Flow) -> None:
    task = flow.run("echo no checkpoints here")
    flow.wait(task.task_id, timeout=60)
    with pytest.raises(ValidationError, match="no checkpoint") as info:
        flow.resume(task.task_id)
    assert any("log_checkpoint" in tip for tip in info.value.suggestions)


def test_flow_resume_on_the_command_line(flow: Flow, tmp_path: Path) -> None:
    task = flow.run([sys.executable, "train.py", "2", str(tmp_path), "0"], name="short")
    flow.wait(task.task_id, timeout=60)
    result = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "resume", "short", "--wait"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert f"resumed {task.task_id} (short) as task-" in result.stdout
    assert f"FLOW_RESUME_FROM={tmp_path / 'ckpt-1'}" in result.stdout


def _cli(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *argv], capture_output=True, text=True, timeout=60
    )


def test_a_cut_off_task_without_checkpoints_is_told_how_to_announce_one(flow: Flow) -> None:
    # Every hint must lead to a command that works: `flow resume` would say "announced no
    # checkpoint", so it is not suggested; what to change in the workload is.
    result = _cli("run", "--wait", "--max-run-time", "0.0003", "--name", "sleepy", "sleep 30")
    assert result.returncode == 124, result.stdout + result.stderr
    task = flow.get_task("sleepy")
    for shown in (result.stdout, _cli("status", task.task_id).stdout):
        assert f"flow resume {task.task_id}" not in shown
        assert "time limit" in shown and "flowlib.log_checkpoint" in shown


def test_the_resume_hint_names_the_checkpoint_and_resume_works(flow: Flow, tmp_path: Path) -> None:
    argv = ["python", "train.py", "1000", str(tmp_path), "0.2"]
    result = _cli("run", "--wait", "--max-run-time", "0.0004", "--name", "cut", *argv)
    assert result.returncode == 124, result.stdout + result.stderr
    hint = next(line for line in result.stdout.splitlines() if "flow resume" in line)
    command = hint.split("#")[0].split()
    assert command[:2] == ["flow", "resume"]
    resumed = _cli(*command[1:])
    assert resumed.returncode == 0, resumed.stderr
    assert "FLOW_RESUME_FROM=" + str(tmp_path) in resumed.stdout
