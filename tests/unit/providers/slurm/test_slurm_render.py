"""The batch scripts the SLURM provider submits: reviewed renderings (golden files) and the
resource mapping. Regenerate the goldens with FLOW_UPDATE_GOLDEN=1 after an intended change."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from flowlib.core.startup import ScriptContext, build_script
from flowlib.errors import ConfigError, ValidationError
from flowlib.frontends.slurm import parse_sbatch
from flowlib.models import TaskConfig
from flowlib.providers.slurm._render import (
    SlurmSettings,
    multi_node,
    render_array,
    render_job,
    resources,
    time_minutes,
)

GOLDEN = Path(__file__).parent / "golden"
TASK_DIR = "/shared/flow/slurm/task-0123456789ab"


def matches_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("FLOW_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_a_cpu_task_renders_as_a_one_node_job() -> None:
    config = TaskConfig(name="hello", command=["python", "train.py"])
    matches_golden(
        "cpu_task.sbatch", render_job("task-0123456789ab", config, TASK_DIR, SlurmSettings())
    )


def test_a_gpu_task_gets_gres_partition_account_and_time() -> None:
    settings = SlurmSettings(
        partitions={"gpu": "a100", "big": "8xh100"},
        partition="debug",
        account="mllab",
        qos="normal",
        gres_types=True,
    )
    config = TaskConfig(
        name="bert-ft", shell="python ft.py", instance_type="4xh100", max_run_time_hours=2
    )
    matches_golden("gpu_task.sbatch", render_job("task-0123456789ab", config, TASK_DIR, settings))


def test_a_multi_node_task_runs_its_workload_under_srun_on_every_node() -> None:
    config = TaskConfig(name="ddp", instance_type="8xa100", num_instances=4, shell="torchrun t.py")
    script = render_job("task-0123456789ab", config, TASK_DIR, SlurmSettings())
    assert "#SBATCH --nodes=4" in script and "#SBATCH --gres=gpu:8" in script
    startup = build_script(
        ScriptContext(task_id="task-0123456789ab", config=config, multi_node=multi_node(config, 8))
    )
    matches_golden("multi_node_startup.sh", startup)


def test_an_array_is_one_job_with_a_case_per_index() -> None:
    config = TaskConfig(name="sweep", shell="python sweep.py")
    tasks = [
        (i, f"task-00000000000{i}", f"/shared/flow/slurm/task-00000000000{i}") for i in range(3)
    ]
    matches_golden(
        "array.sbatch",
        render_array(
            tasks, config, "/shared/flow/slurm/array-task-000000000000", SlurmSettings(), throttle=2
        ),
    )


@pytest.mark.parametrize("golden", ["cpu_task.sbatch", "gpu_task.sbatch", "array.sbatch"])
def test_rendered_scripts_read_back_as_sbatch_reads_them(golden: str) -> None:
    """flowlib's own sbatch parser (oracle-checked against real SLURM) reads every directive."""
    script = parse_sbatch((GOLDEN / golden).read_text(), source=golden)
    assert script.num_nodes == 1 and script.ntasks_per_node == 1
    assert script.output is not None and script.output.endswith(".out")
    assert not any(d.prefix in ("#PBS", "#BSUB") for d in script.directives)


def test_names_and_paths_with_blanks_are_quoted_for_sbatch() -> None:
    config = TaskConfig(name="my-task", command=["true"])
    text = render_job("task-0123456789ab", config, "/shared/my flow/task-1", SlurmSettings())
    script = parse_sbatch(text)
    assert script.chdir == "/shared/my flow/task-1"
    assert "export FLOW_ROOT='/shared/my flow/task-1/root'" in text


def test_slurms_limit_leaves_room_for_flowlibs_own() -> None:
    assert time_minutes(0.0003) == 2
    assert time_minutes(2) == 122


class TestResources:
    def test_no_instance_type_asks_for_no_gpu(self) -> None:
        res = resources(TaskConfig(command=["true"]), SlurmSettings(partition="cpu"))
        assert (res.partition, res.gres, res.gpus_per_node) == ("cpu", None, 0)

    def test_the_partition_whose_nodes_have_the_gpu_is_chosen(self) -> None:
        settings = SlurmSettings(partitions={"v": "v100", "a": "a100", "big": "8xh100"})
        res = resources(TaskConfig(command=["true"], instance_type="2xa100"), settings)
        assert (res.partition, res.gres) == ("a", "gpu:2")

    def test_a_gpu_no_partition_has_is_an_error_naming_them(self) -> None:
        settings = SlurmSettings(partitions={"big": "8xh100"})
        with pytest.raises(ValidationError, match=r"no SLURM partition has 2xa100.*big: 8xh100"):
            resources(TaskConfig(command=["true"], instance_type="2xa100"), settings)

    def test_more_gpus_than_the_partitions_nodes_have_is_an_error(self) -> None:
        settings = SlurmSettings(partitions={"big": "8xh100"})
        with pytest.raises(ValidationError, match="16xh100"):
            resources(TaskConfig(command=["true"], instance_type="16xh100"), settings)


class TestSettings:
    def test_unknown_keys_are_a_config_error_with_a_suggestion(self) -> None:
        with pytest.raises(ConfigError, match="partitons") as caught:
            SlurmSettings.from_mapping({"partitons": {"gpu": "a100"}})
        assert caught.value.suggestions == ["did you mean 'partitions'?"]

    def test_a_partition_map_to_an_unknown_gpu_is_a_config_error(self) -> None:
        with pytest.raises(ConfigError, match=r"partitions\.gpu"):
            SlurmSettings.from_mapping({"partitions": {"gpu": "z900"}})

    def test_top_level_settings_every_provider_inherits_are_ignored(self) -> None:
        settings = SlurmSettings.from_mapping({"region": "us", "partition": "gpu"})
        assert settings.partition == "gpu"


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_the_rendered_scripts_pass_shellcheck() -> None:
    paths = sorted(str(p) for p in GOLDEN.iterdir())
    result = subprocess.run(
        ["shellcheck", "--severity=info", "--shell=bash", *paths], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
