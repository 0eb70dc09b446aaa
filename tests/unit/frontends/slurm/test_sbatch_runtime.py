"""A translated script runs off-cluster: SLURM_* variables are set and srun launches ranks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

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
    result = run(task, tmp_path, FLOW_TASK_ID="task-7")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "job=task-7 name=ranks ntasks=4 cpus=2"
    assert lines[1:5] == [f"rank={r} local={r}" for r in range(4)]
    assert sorted(lines[5:7]) == ["0: hi", "1: hi"]
    assert lines[7] == "srun failed: 1"
    assert (tmp_path / ".flowlib-slurm" / "bin" / "srun").exists()


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
