"""``flow run job.sbatch --provider slurm`` with ``#SBATCH --array``: ONE real SLURM array job
(one ``sbatch``), SLURM enforcing the ``%`` throttle, one flowlib task per index whose log and
exit code come back, cancel per index or of the whole array, and nothing recorded as submitted
when sbatch refuses. Runs the real ``flow`` CLI against the real local SLURM; ``sbatch`` is the
real one behind a wrapper that notes each call."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.models import TaskStatus

pytestmark = pytest.mark.slow


@pytest.fixture
def counted_sbatch(slurm_cluster: None, tmp_path: Path) -> tuple[Path, Path]:
    """A bin directory whose ``sbatch`` appends a line to a file, then runs the real sbatch."""
    real = subprocess.run(["which", "sbatch"], capture_output=True, text=True).stdout.strip()
    bindir, calls = tmp_path / "bin", tmp_path / "sbatch-calls"
    bindir.mkdir()
    (bindir / "sbatch").write_text(f'#!/bin/bash\necho "$*" >> {calls}\nexec {real} "$@"\n')
    (bindir / "sbatch").chmod(0o755)
    calls.write_text("")
    return bindir, calls


def flow(*argv: str, cwd: Path, bindir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))},
        "PATH": f"{bindir}:{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def scontrol_show(job: str) -> str:
    return subprocess.run(
        ["scontrol", "show", "job", job], capture_output=True, text=True, check=True
    ).stdout


def array_tasks(name: str) -> list[tuple[str, str]]:
    """(task id, SLURM job id) of the stored tasks named ``name-<index>``, by index."""
    with Flow() as engine:
        records = [r for r in engine.store.list(limit=1000) if r.name.startswith(f"{name}-")]
        return sorted(
            ((r.task_id, str(r.provider_data.get("job_id"))) for r in records),
            key=lambda pair: pair[1],
        )


def test_an_array_script_is_one_sbatch_call_and_each_index_reports_back(
    isolated_home: Path, project: Path, counted_sbatch: tuple[Path, Path]
) -> None:
    bindir, calls = counted_sbatch
    (project / "sweep.sbatch").write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=sweep --array=1-3%1\n"
        'echo "index $SLURM_ARRAY_TASK_ID of array $SLURM_ARRAY_JOB_ID"\n'
        'exit "$SLURM_ARRAY_TASK_ID"\n'
    )
    run = flow("run", "sweep.sbatch", "--provider", "slurm", "--wait", cwd=project, bindir=bindir)
    assert run.returncode == 3, run.stdout + run.stderr  # the worst exit code
    assert len(calls.read_text().splitlines()) == 1, "an array must be ONE sbatch call"

    tasks = array_tasks("sweep")
    assert len(tasks) == 3
    array_ids = {job.split("_")[0] for _, job in tasks}
    assert len(array_ids) == 1, tasks
    (array_id,) = array_ids
    assert [job for _, job in tasks] == [f"{array_id}_{i}" for i in (1, 2, 3)]

    shown = scontrol_show(array_id)
    assert "ArrayTaskThrottle=1" in shown, shown
    assert shown.count(f"ArrayJobId={array_id} ") == 3  # one array job with three tasks

    for index in (1, 2, 3):
        logs = flow("logs", f"sweep-{index}", cwd=project, bindir=bindir)
        assert logs.stdout.strip() == f"index {index} of array {array_id}", logs.stderr
        status = flow("status", f"sweep-{index}", "--json", cwd=project, bindir=bindir)
        assert f'"exit_code": {index}' in status.stdout, status.stdout


def test_one_index_or_the_whole_array_can_be_cancelled(
    isolated_home: Path, project: Path, counted_sbatch: tuple[Path, Path]
) -> None:
    bindir, calls = counted_sbatch
    (project / "long.sbatch").write_text(
        "#!/bin/bash\n#SBATCH --job-name=long --array=0-3%2\nsleep 300\n"
    )
    run = flow("run", "long.sbatch", "--provider", "slurm", cwd=project, bindir=bindir)
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.count("submitted task-") == 4
    assert len(calls.read_text().splitlines()) == 1
    tasks = array_tasks("long")
    (array_id,) = {job.split("_")[0] for _, job in tasks}

    one = flow("cancel", "long-3", cwd=project, bindir=bindir)
    assert one.returncode == 0, one.stdout + one.stderr
    with Flow() as engine:
        assert engine.get_task("long-3").status == TaskStatus.CANCELLED
        assert engine.get_task("long-0").status in (TaskStatus.PENDING, TaskStatus.RUNNING)
        ended = engine.cancel_array("long-1")
    assert [t.status for t in ended] == [TaskStatus.CANCELLED] * 4
    deadline = time.monotonic() + 30
    while True:
        queue = subprocess.run(
            ["squeue", "-h", "-j", array_id, "-t", "PD,R,CG", "-o", "%i %T"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        if not queue:
            break
        assert time.monotonic() < deadline, f"array {array_id} still queued: {queue}"
        time.sleep(0.2)


def test_an_array_sbatch_refuses_is_recorded_failed_and_never_submitted(
    isolated_home: Path, project: Path, counted_sbatch: tuple[Path, Path]
) -> None:
    bindir, calls = counted_sbatch
    (isolated_home / ".flow").mkdir(exist_ok=True)
    (isolated_home / ".flow" / "config.yaml").write_text(
        "providers:\n  slurm:\n    partition: no-such-partition\n"
    )
    (project / "bad.sbatch").write_text("#!/bin/bash\n#SBATCH --job-name=bad --array=0-1\ntrue\n")
    run = flow("run", "bad.sbatch", "--provider", "slurm", cwd=project, bindir=bindir)
    assert run.returncode != 0
    assert "Invalid partition name specified" in run.stderr
    assert "Traceback" not in run.stderr
    assert len(calls.read_text().splitlines()) == 1
    with Flow() as engine:
        records = [r for r in engine.store.list() if r.name.startswith("bad-")]
    assert len(records) == 2  # the intent was recorded before sbatch ran
    for record in records:
        assert record.status == TaskStatus.FAILED
        assert record.provider_state == "submit-failed"
        assert "job_id" not in record.provider_data
