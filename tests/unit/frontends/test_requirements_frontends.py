"""submitit's and the App's hardware parameters fill the same requirements as sbatch: GPU counts
of any model, host memory and vCPUs."""

from __future__ import annotations

import pytest

from flowlib.errors import ValidationError
from flowlib.frontends.app._options import any_gpu_count
from flowlib.submitit._params import task_fields


def test_submitit_gpus_without_a_model_are_a_count_for_the_planner() -> None:
    fields = task_fields({"gpus_per_node": 4, "mem_gb": 31.5, "cpus_per_task": 8}, "fcp")
    assert fields["gpu_count"] == 4 and "instance_type" not in fields
    assert (fields["min_ram_gb"], fields["min_vcpus"]) == (32, 8)
    assert task_fields({"slurm_mem": "16G"}, "fcp")["min_ram_gb"] == 16
    assert "min_ram_gb" not in task_fields({"slurm_mem": "0"}, "fcp")  # 0: a whole node
    with pytest.raises(ValidationError, match="slurm_mem='lots'"):
        task_fields({"slurm_mem": "lots"}, "fcp")


def test_submitit_gpus_with_a_model_still_name_an_instance_type() -> None:
    fields = task_fields({"gpus_per_node": 2, "flow_gpu": "a100"}, "fcp")
    assert fields["instance_type"] == "a100-80gb.sxm.2x" and "gpu_count" not in fields


def test_the_app_any_count_is_a_gpu_count_of_any_model() -> None:
    assert any_gpu_count("any:4") == 4 and any_gpu_count("ANY") == 1
    assert any_gpu_count("A100:4") is None and any_gpu_count(["any:2", "a100"]) is None
    assert any_gpu_count(None) is None
    with pytest.raises(ValidationError, match="whole number"):
        any_gpu_count("any:x")
