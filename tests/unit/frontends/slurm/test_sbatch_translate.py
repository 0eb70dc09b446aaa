"""From sbatch scripts to TaskConfigs: every directive is mapped or listed as ignored, with why."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib.errors import ValidationError
from flowlib.frontends.slurm import load_sbatch, translate_sbatch

CORPUS = sorted((Path(__file__).parents[3] / "fixtures" / "sbatch").glob("*.sbatch"))


def script(*header: str, body: str = "srun python train.py\n") -> str:
    return "#!/bin/bash\n" + "".join(f"#SBATCH {h}\n" for h in header) + body


def test_a_gpu_job_becomes_one_task() -> None:
    t = translate_sbatch(script("--job-name='bert ft'", "-t 1:30:00", "-N 2", "--gres=gpu:a100:4"))
    (task,) = t.tasks
    assert task.name == "bert-ft"
    assert task.instance_type == "4xa100"
    assert task.num_instances == 2
    assert task.max_run_time_hours == 1.5
    assert task.env["SLURM_JOB_NAME"] == "bert ft"
    assert task.env["SLURM_NNODES"] == "2"
    assert task.env["SLURM_GPUS_ON_NODE"] == "4"
    assert task.script is not None and task.script.startswith("#!/bin/bash\n")


def test_gpu_type_from_gres_constraint_or_partition_map() -> None:
    by_constraint = translate_sbatch(script("--constraint=h100", "--gpus-per-node=8"))
    assert by_constraint.tasks[0].instance_type == "8xh100"
    by_partition = translate_sbatch(script("-p big", "--gres=gpu:2"), partitions={"big": "l40s"})
    assert by_partition.tasks[0].instance_type == "2xl40s"
    fixed = translate_sbatch(script("-p big", "--gres=gpu:2"), partitions={"big": "8xh100"})
    assert fixed.tasks[0].instance_type == "8xh100"
    by_default = translate_sbatch(script("--gres=gpu:1"), default_gpu="t4")
    assert by_default.tasks[0].instance_type == "1xt4"


def test_gpus_without_a_model_are_reported_not_guessed() -> None:
    t = translate_sbatch(script("--gres=gpu:2"))
    assert t.tasks[0].instance_type is None
    (row,) = t.report.ignored
    assert row.directive == "--gres=gpu:2" and "no GPU model" in row.reason


def test_every_directive_has_a_row_and_strict_mode_refuses_ignored_ones() -> None:
    text = script(
        "-J x",
        "--mem=4G",
        "--output=%x.out",
        "--exclusive",
        "-t 10",
        body="echo hi\n#SBATCH --time=99\n",
    )
    t = translate_sbatch(text)
    assert [(r.directive, r.status) for r in t.report.rows] == [
        ("--job-name=x", "mapped"),
        ("--mem=4G", "ignored"),
        ("--output=%x.out", "ignored"),
        ("--exclusive", "ignored"),
        ("--time=10", "mapped"),
        ("#SBATCH --time=99", "ignored"),
    ]
    assert "--output=%x.out" in t.report.table()
    with pytest.raises(ValidationError, match="strict mode: 4 directive"):
        translate_sbatch(text, strict=True)


def test_overridden_directives_are_shown_as_such() -> None:
    t = translate_sbatch(script("-t 5", "-t 9"))
    assert [r.status for r in t.report.rows] == ["overridden", "mapped"]
    assert t.tasks[0].max_run_time_hours == 9 / 60


def test_export_values_become_env() -> None:
    t = translate_sbatch(
        script("--export=ALL,WANDB_MODE=offline,HF_HOME"), submit_env={"HF_HOME": "/data/hf"}
    )
    assert t.tasks[0].env["WANDB_MODE"] == "offline"
    assert t.tasks[0].env["HF_HOME"] == "/data/hf"
    assert "not shipped" in t.report.ignored[0].reason


def test_an_array_becomes_one_task_per_index_with_its_throttle() -> None:
    t = translate_sbatch(script("--array=0-8:4%2", "-J sweep"))
    assert [task.name for task in t.tasks] == ["sweep-0", "sweep-4", "sweep-8"]
    assert [task.env["SLURM_ARRAY_TASK_ID"] for task in t.tasks] == ["0", "4", "8"]
    assert t.tasks[0].env["SLURM_ARRAY_TASK_STEP"] == "4"
    assert (t.array_indices, t.array_throttle) == ((0, 4, 8), 2)


def test_unlimited_time_is_no_limit_and_too_long_is_an_error() -> None:
    assert translate_sbatch(script("-t UNLIMITED")).tasks[0].max_run_time_hours is None
    with pytest.raises(ValidationError, match=r"job\.sbatch:2: --time=14-00:00:00 is 336 hours"):
        translate_sbatch(script("-t 14-00:00:00"))


def test_relative_chdir_is_followed_and_absolute_is_reported() -> None:
    assert "cd wd\n" in (translate_sbatch(script("-D wd")).tasks[0].script or "")
    ignored = translate_sbatch(script("-D /scratch/me")).report.ignored
    assert ignored[0].directive == "--chdir=/scratch/me"


def test_load_sbatch_reads_a_file(tmp_path: Path) -> None:
    path = tmp_path / "train.sbatch"
    path.write_text(script("-t 30"))
    assert load_sbatch(path).tasks[0].name == "train-sbatch"
    with pytest.raises(ValidationError, match="cannot read"):
        load_sbatch(tmp_path / "missing.sbatch")


@pytest.mark.parametrize("path", CORPUS, ids=[p.stem for p in CORPUS])
def test_every_corpus_script_translates_with_a_row_per_directive(path: Path) -> None:
    t = load_sbatch(path, default_gpu="a100")
    assert t.tasks
    assert len(t.report.rows) == len(t.script.directives) + len(t.script.late_directives)
