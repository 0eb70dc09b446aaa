"""``flow run job.sbatch``: an existing sbatch script runs unchanged on the local provider, its
directives are reported (``--dry-run``) or refused (``--strict``), and arrays honour their
``%`` throttle. Runs the real ``flow`` CLI in a subprocess."""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def flow(*argv: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    bindir = str(Path(sys.executable).parent)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))},
        "FLOW_HOME": str(home / ".flow"),
        "HOME": str(home),
        "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
    }
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_example_sbatch_script_runs_unchanged_on_the_local_provider(
    isolated_home: Path,
) -> None:
    run = flow(
        "run",
        "examples/train.sbatch",
        "--provider",
        "local",
        "--gpus",
        "0",  # this machine has no GPU: the script's --gres=gpu:2 would be refused
        "--wait",
        cwd=ROOT,
        home=isolated_home,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "4 directive(s) ignored" in run.stderr
    logs = flow("logs", "resnet50-train", cwd=ROOT, home=isolated_home).stdout.splitlines()
    job, _, rest = logs[0].partition(" (")
    assert re.fullmatch(r"job [0-9]+", job), logs[0]  # SLURM_JOB_ID is a number, as on SLURM
    assert rest == "resnet50-train): 1 node(s), 2 tasks, 4 CPUs per task, 2 GPUs per node"
    for rank in (0, 1):  # srun -l started two ranks, each with its SLURM_PROCID
        assert f"{rank}: training on resnet50-train for 2 epochs" in logs
        assert f"{rank}: done" in logs
    assert logs[-1] == "all ranks done"


def test_dry_run_prints_every_directive_and_submits_nothing(isolated_home: Path) -> None:
    run = flow("run", "examples/train.sbatch", "--dry-run", cwd=ROOT, home=isolated_home)
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "--gres=gpu:2" in out and "gpu_count=2 per node, any model" in out
    assert "--mem=32G" in out and "min_ram_gb=32 (per node)" in out
    assert "gpu_count: 2" in out and "plan: local" in out
    assert "max_run_time_hours=0.333333" in out
    assert "nothing was submitted" in out
    status = flow("status", "--json", cwd=ROOT, home=isolated_home)
    assert status.stdout.strip() in ("[]", "")


def test_strict_mode_refuses_ignored_directives(isolated_home: Path) -> None:
    run = flow(
        "run", "examples/train.sbatch", "--strict", "--dry-run", cwd=ROOT, home=isolated_home
    )
    assert run.returncode == 2
    assert "strict mode: 4 directive(s) would be ignored" in run.stderr
    assert "line 13 --mail-type=END,FAIL" in run.stderr
    assert "Traceback" not in run.stderr


def test_the_partition_map_in_the_config_gives_the_instance_type(
    isolated_home: Path, tmp_path: Path
) -> None:
    (tmp_path / ".flow").mkdir()
    (tmp_path / ".flow" / "config.yaml").write_text(
        "providers:\n  slurm:\n    partitions:\n      gpu: a100\n"
    )
    (tmp_path / "job.sh").write_text(
        "#!/bin/bash\n#SBATCH -p gpu --gres=gpu:4 -N 2\nsrun python train.py\n"
    )
    run = flow("run", "job.sh", "--dry-run", cwd=tmp_path, home=isolated_home)
    assert run.returncode == 0, run.stderr
    assert "instance_type=4xa100 (partition map)" in run.stdout
    assert "instance_type: 4xa100" in run.stdout and "num_instances: 2" in run.stdout


def test_an_array_runs_one_task_per_index_within_its_throttle(
    isolated_home: Path, tmp_path: Path
) -> None:
    (tmp_path / "sweep.sbatch").write_text(
        "#!/bin/bash\n"
        "#SBATCH --job-name=sweep --array=1-3%1\n"
        'echo "$SLURM_ARRAY_TASK_ID $(date +%s.%N)"\n'
        "sleep 0.3\n"
        "date +%s.%N\n"
        'exit "$SLURM_ARRAY_TASK_ID"\n'
    )
    run = flow(
        "run", "sweep.sbatch", "--provider", "local", "--wait", cwd=tmp_path, home=isolated_home
    )
    assert run.returncode == 3, run.stdout + run.stderr  # the worst exit code
    assert run.stdout.count("submitted task-") == 3
    spans = []
    for index in (1, 2, 3):
        lines = flow("logs", f"sweep-{index}", cwd=tmp_path, home=isolated_home).stdout.split()
        assert lines[0] == str(index)
        spans.append((float(lines[1]), float(lines[2])))
    spans.sort()
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"throttle 1, but array tasks overlapped: {spans}"


@pytest.mark.parametrize("name", ["job.sbatch", "job.slurm"])
def test_options_after_an_sbatch_script_are_flows(
    isolated_home: Path, tmp_path: Path, name: str
) -> None:
    (tmp_path / name).write_text("#!/bin/bash\n#SBATCH -t 5\necho hi\n")
    run = flow("run", name, "--dry-run", "--json", cwd=tmp_path, home=isolated_home)
    assert run.returncode == 0, run.stderr
    assert '"max_run_time_hours": 0.08333333333333333' in run.stdout
