"""``flow cancel --array``: every unfinished task of an array, by the array id ``flow run
job.sbatch`` prints, any of its tasks, or SLURM's array job id. On the real local SLURM it is
one ``scancel`` of the array job; on the local provider a throttled, client-side array is
stopped from another process, and its submitter submits nothing more."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.models import TaskStatus


def flow(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *argv],
        cwd=cwd,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def _env() -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))},
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }


def squeue_live(array_id: str) -> str:
    return subprocess.run(
        ["squeue", "-h", "-j", array_id, "-t", "PD,R,CG", "-o", "%i %T"],
        capture_output=True,
        text=True,
    ).stdout.strip()


@pytest.mark.slow
@pytest.mark.parametrize("by", ["flow's array id", "slurm's array job id"])
def test_a_slurm_array_is_cancelled_as_a_whole(
    slurm_cluster: None, isolated_home: Path, project: Path, by: str
) -> None:
    (project / "long.sbatch").write_text(
        "#!/bin/bash\n#SBATCH --job-name=long --array=0-3%2\nsleep 300\n"
    )
    run = flow("run", "long.sbatch", "--provider", "slurm", cwd=project)
    assert run.returncode == 0, run.stdout + run.stderr
    found = re.search(r"flow cancel --array (task-\w+)", run.stdout)
    assert found, run.stdout
    with Flow() as engine:
        jobs = {
            str(engine.store.get(t.task_id).provider_data["job_id"]) for t in engine.list_tasks()
        }
    (slurm_array,) = {job.split("_")[0] for job in jobs}
    ref = found.group(1) if by == "flow's array id" else slurm_array

    cancelled = flow("cancel", "--array", ref, "--json", cwd=project)
    assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
    views = json.loads(cancelled.stdout)
    assert sorted(v["name"] for v in views) == ["long-0", "long-1", "long-2", "long-3"]
    assert {v["status"] for v in views} == {"cancelled"}
    deadline = time.monotonic() + 30
    while queue := squeue_live(slurm_array):
        assert time.monotonic() < deadline, f"array {slurm_array} still queued: {queue}"
        time.sleep(0.2)


def test_a_throttled_local_array_is_stopped_from_another_process(
    isolated_home: Path, project: Path
) -> None:
    (project / "sweep.sbatch").write_text(
        "#!/bin/bash\n#SBATCH --job-name=sweep --array=0-5%1\nsleep 300\n"
    )
    submitter = subprocess.Popen(
        [sys.executable, "-m", "flowlib.cli", "run", "sweep.sbatch", "--provider", "local"],
        cwd=project,
        env=_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while True:  # the first index runs; the submitter waits for it to end (throttle 1)
            with Flow() as engine:
                tasks = engine.list_tasks()
            if tasks and tasks[0].status == TaskStatus.RUNNING:
                break
            assert submitter.poll() is None and time.monotonic() < deadline, tasks
            time.sleep(0.1)
        cancelled = flow("cancel", "--array", "sweep-0", cwd=project)
        assert cancelled.returncode == 0, cancelled.stdout + cancelled.stderr
        assert "sweep-0): cancelled" in cancelled.stdout
        out, err = submitter.communicate(timeout=60)
    finally:
        if submitter.poll() is None:
            submitter.kill()
            submitter.wait()
    assert submitter.returncode == 0, out + err
    with Flow() as engine:
        tasks = engine.list_tasks()
    assert len(tasks) <= 2, [t.name for t in tasks]  # nothing submitted after the cancel
    assert all(t.status == TaskStatus.CANCELLED for t in tasks), [(t.name, t.status) for t in tasks]


def test_an_array_cancel_of_a_lone_task_says_how_to_cancel_it(
    isolated_home: Path, project: Path
) -> None:
    run = flow(
        "run", "--provider", "local", "--no-upload", "--name", "alone", "sleep 30", cwd=project
    )
    assert run.returncode == 0, run.stderr
    refused = flow("cancel", "--array", "alone", cwd=project)
    assert refused.returncode == 2
    assert "not part of an array" in refused.stderr and "flow cancel task-" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert flow("cancel", "alone", cwd=project).returncode == 0
    nothing = flow("cancel", cwd=project)
    assert nothing.returncode == 2 and "--array ARRAY" in nothing.stderr
