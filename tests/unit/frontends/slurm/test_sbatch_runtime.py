"""A translated script runs off-cluster: SLURM_* variables are set and srun launches ranks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from flowlib.core.startup import task_number
from flowlib.frontends.slurm import SRUN_SHIM, translate_sbatch
from flowlib.models import TaskConfig

JOB = """#!/bin/bash
#SBATCH --job-name=ranks --ntasks=4 --cpus-per-task=2 --time=5
echo "job=$SLURM_JOB_ID name=$SLURM_JOB_NAME ntasks=$SLURM_NTASKS cpus=$SLURM_CPUS_PER_TASK"
srun bash -c 'echo "rank=$SLURM_PROCID local=$SLURM_LOCALID"' | sort
srun -l -n 2 bash -c 'echo hi'
srun -n 1 false || echo "srun failed: $?"
"""


def run(config: TaskConfig, workspace: Path, **extra: str) -> subprocess.CompletedProcess[str]:
    assert config.script is not None
    env = {"PATH": os.environ["PATH"], **config.env, **extra}
    return subprocess.run(
        ["bash", "-c", config.script],
        cwd=workspace,
        env=env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_srun_launches_ntasks_processes_with_their_ranks(tmp_path: Path) -> None:
    (task,) = translate_sbatch(JOB).tasks
    result = run(task, tmp_path, FLOW_TASK_NUMBER=task_number("task-7"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    job_id, rest = lines[0].removeprefix("job=").split(" ", 1)
    assert job_id.isdigit() and 0 < int(job_id) <= 67_043_328  # SLURM's MaxJobId
    assert rest == "name=ranks ntasks=4 cpus=2"
    assert lines[1:5] == [f"rank={r} local={r}" for r in range(4)]
    assert sorted(lines[5:7]) == ["0: hi", "1: hi"]
    assert lines[7] == "srun failed: 1"
    assert (tmp_path / ".flowlib-slurm" / "bin" / "srun").exists()


def test_slurm_job_id_is_a_number_stable_per_task(tmp_path: Path) -> None:
    job = '#!/bin/bash\n#SBATCH --array=0-1\nprintf "%d %d\\n" $SLURM_JOB_ID $SLURM_ARRAY_JOB_ID\n'
    first, second = translate_sbatch(job).tasks

    def ids(task: TaskConfig, task_id: str, node: str = "0") -> list[int]:
        number = task_number(task_id)  # what the startup script exports (test_startup_script)
        result = run(task, tmp_path, FLOW_TASK_NUMBER=number, FLOW_NODE_RANK=node)
        assert result.returncode == 0, result.stderr
        return [int(word) for word in result.stdout.split()]

    job_a, array_a = ids(first, "task-a1b2")
    assert ids(first, "task-a1b2", node="1") == [job_a, array_a]  # every node, every retry
    job_b, array_b = ids(second, "task-c3d4")
    assert job_b != job_a and array_b == array_a  # one array job, one job id per element
    assert ids(first, "42") == [42, array_a]  # a numeric task id is kept


def test_the_task_number_is_a_job_id_stable_per_task() -> None:
    numbers = {task_number(f"task-{i:012x}") for i in range(1000)}
    assert len(numbers) == 1000 and all(0 < int(n) <= 67_043_328 for n in numbers)
    assert task_number("task-a1b2") == task_number("task-a1b2")
    assert task_number("42") == "42" and task_number("4²") != "4²"  # ASCII digits only


def test_each_node_runs_its_share_of_the_ranks(tmp_path: Path) -> None:
    job = "#!/bin/bash\n#SBATCH -N 2 --ntasks-per-node=2\nsrun bash -c 'echo $SLURM_PROCID'\n"
    (task,) = translate_sbatch(job).tasks
    result = run(task, tmp_path, FLOW_NODE_RANK="1")
    assert sorted(result.stdout.split()) == ["2", "3"]


def test_the_array_index_reaches_the_script(tmp_path: Path) -> None:
    job = "#!/bin/bash\n#SBATCH --array=3-5\necho $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT\n"
    task = translate_sbatch(job).tasks[1]
    assert run(task, tmp_path).stdout == "4 of 3\n"


def test_the_script_runs_unchanged_with_its_own_interpreter(tmp_path: Path) -> None:
    job = "#!/usr/bin/env python3\n#SBATCH -t 1\nimport os\nprint(os.environ['SLURM_NTASKS'])\n"
    (task,) = translate_sbatch(job).tasks
    assert run(task, tmp_path).stdout == "1\n"


def test_the_shim_and_the_rendered_script_pass_shellcheck(tmp_path: Path) -> None:
    (task,) = translate_sbatch(JOB).tasks
    for name, text in (("srun", SRUN_SHIM), ("job.sh", task.script or "")):
        path = tmp_path / name
        path.write_text(text)
        result = subprocess.run(
            ["shellcheck", "--severity=info", str(path)], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stdout
