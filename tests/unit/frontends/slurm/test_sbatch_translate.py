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


def test_gpus_without_a_model_become_a_count_of_any_model() -> None:
    t = translate_sbatch(script("--gres=gpu:2"))
    (task,) = t.tasks
    assert (task.instance_type, task.gpu_count) == (None, 2)
    assert not t.report.ignored
    (row,) = t.report.rows
    assert row.status == "mapped" and row.target.startswith("gpu_count=2 per node, any model")


@pytest.mark.parametrize(
    ("directives", "per_node", "nodes"),
    [
        (("--gres=gpu:1",), 1, 1),
        (("--gres=gpu",), 1, 1),
        (("--gpus=4",), 4, 1),
        (("--gpus=4", "--nodes=2"), 2, 2),
        (("--gpus-per-node=3", "-N 2"), 3, 2),
        (("--gpus-per-task=1", "--ntasks=4"), 4, 1),
        (("--gpus-per-task=2", "--ntasks-per-node=2", "--nodes=3"), 4, 3),
    ],
)
def test_every_gpu_directive_gives_a_count_per_node(
    directives: tuple[str, ...], per_node: int, nodes: int
) -> None:
    (task,) = translate_sbatch(script(*directives)).tasks
    assert (task.gpu_count, task.num_instances) == (per_node, nodes)


def test_memory_and_cpus_become_host_needs() -> None:
    (task,) = translate_sbatch(script("--mem=16G", "--cpus-per-task=4")).tasks
    assert (task.min_ram_gb, task.min_vcpus) == (16, 4)
    (task,) = translate_sbatch(script("--mem-per-cpu=3G", "-c 2", "--ntasks-per-node=2")).tasks
    assert (task.min_ram_gb, task.min_vcpus) == (12, 4)  # 3 GB x 2 CPUs x 2 tasks
    (task,) = translate_sbatch(script("--mem-per-gpu=10G", "--gpus=2")).tasks
    assert (task.min_ram_gb, task.gpu_count) == (20, 2)
    (task,) = translate_sbatch(script("--mem=1500M")).tasks
    assert task.min_ram_gb == 2  # rounded up: never less than asked
    t = translate_sbatch(script("--mem=0"))
    assert t.tasks[0].min_ram_gb is None and "all of a node" in t.report.rows[0].target
    t = translate_sbatch(script("--mem-per-gpu=4G"))
    assert t.tasks[0].min_ram_gb is None and "no GPU" in t.report.ignored[0].reason


def test_a_node_range_takes_its_minimum_and_says_so() -> None:
    t = translate_sbatch(script("--nodes=1-2"))
    assert t.tasks[0].num_instances == 1
    assert "the minimum of 1-2" in t.report.rows[0].target


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
        ("--mem=4G", "mapped"),
        ("--output=%x.out", "ignored"),
        ("--exclusive", "ignored"),
        ("--time=10", "mapped"),
        ("#SBATCH --time=99", "ignored"),
    ]
    assert "--output=%x.out" in t.report.table()
    with pytest.raises(ValidationError, match="strict mode: 3 directive"):
        translate_sbatch(text, strict=True)


def test_overridden_directives_are_shown_as_such() -> None:
    t = translate_sbatch(script("-t 5", "-t 9"))
    assert [r.status for r in t.report.rows] == ["overridden", "mapped"]
    assert t.report.rows[0].reason == "--time=9 on line 3 wins"
    assert t.tasks[0].max_run_time_hours == 9 / 60


def test_export_values_become_env() -> None:
    t = translate_sbatch(
        script("--export=ALL,WANDB_MODE=offline,HF_HOME"), submit_env={"HF_HOME": "/data/hf"}
    )
    assert t.tasks[0].env["WANDB_MODE"] == "offline"
    assert t.tasks[0].env["HF_HOME"] == "/data/hf"
    (row,) = t.report.rows
    assert row.status == "mapped" and row.target.startswith("env WANDB_MODE, HF_HOME (ALL: ")
    assert "not shipped" in row.target


def test_export_rows_say_what_each_form_means() -> None:
    (listed,) = translate_sbatch(script("--export=ALL,A=1,B=2")).report.rows
    assert (listed.status, listed.target.split(" (")[0]) == ("mapped", "env A, B")
    (none,) = translate_sbatch(script("--export=NONE")).report.rows
    assert (none.status, none.target) == (
        "mapped",
        "env starts empty (NONE), as every flowlib task's does",
    )
    assert "nothing to add" not in none.target
    (both,) = translate_sbatch(script("--export=NONE,A=1")).report.rows
    assert (
        both.target == "env A (NONE: starts from an empty environment, as every flowlib task does)"
    )
    (alone,) = translate_sbatch(script("--export=ALL")).report.rows
    assert alone.status == "ignored" and "not shipped" in alone.reason


def test_a_pbs_walltime_row_is_written_as_pbs_and_named_as_the_winner() -> None:
    text = "#!/bin/bash\n#SBATCH --time=5\n#PBS -l walltime=00:20:00\nsrun true\n"
    t = translate_sbatch(text)
    assert [(r.directive, r.status) for r in t.report.rows] == [
        ("--time=5", "overridden"),
        ("#PBS -l walltime=00:20:00", "mapped"),
    ]
    assert t.report.rows[0].reason == (
        "#PBS -l walltime=00:20:00 on line 3 wins (sbatch reads #PBS lines last)"
    )
    assert t.tasks[0].max_run_time_hours == 20 / 60


def test_a_constraint_beside_a_typed_gres_says_the_gres_chose() -> None:
    t = translate_sbatch(script("--gres=gpu:a100:1", "--constraint=h100"))
    assert t.tasks[0].instance_type == "1xa100"
    (row,) = t.report.ignored
    assert row.reason == "names h100, but the GPU model comes from --gres (a100)"


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


GPU_SCRIPTS = [p for p in CORPUS if load_sbatch(p).script.gpu_request_per_node is not None]


def test_the_corpus_has_gpu_scripts_of_every_shape() -> None:
    names = {p.stem for p in GPU_SCRIPTS}
    assert len(GPU_SCRIPTS) >= 10
    assert {"gres_bare", "gpus_total", "gpus_per_task", "constraint_gpu"} <= names


@pytest.mark.parametrize("path", GPU_SCRIPTS, ids=[p.stem for p in GPU_SCRIPTS])
def test_every_corpus_gpu_script_plans_with_its_gpu_count(path: Path, tmp_path: Path) -> None:
    from flowlib import Flow
    from flowlib.catalog import parse_instance_type

    t = load_sbatch(path)
    (task,) = t.tasks[:1]
    wanted = t.script.gpu_request_per_node
    assert wanted is not None
    asked = task.gpu_count or parse_instance_type(task.instance_type or "").count
    assert asked == wanted.count  # GPUs per node, whichever directive asked for them
    with Flow(provider="auto", home=tmp_path) as flow:
        plan = flow.plan(task)
    assert plan.offer is not None
    assert plan.offer.instance_type.gpu_count >= wanted.count
    assert plan.nodes == t.script.num_nodes
    if task.instance_type:  # a model was named: the plan keeps it
        assert plan.offer.instance_type.gpu == parse_instance_type(task.instance_type).gpu
