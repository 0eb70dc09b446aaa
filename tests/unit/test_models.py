"""TaskConfig: the rules of the Flow SDK reference, and helpful errors for the classic mistakes."""

from __future__ import annotations

import pytest

from flowlib import FlowConfig, Task, TaskConfig, TaskStatus, VolumeSpec
from flowlib.errors import FlowError, ValidationError


def test_a_command_string_is_split_like_a_shell_would() -> None:
    config = TaskConfig(command="python train.py --note 'two words'")
    assert config.command == ["python", "train.py", "--note", "two words"]


def test_the_name_is_generated_from_the_command() -> None:
    assert TaskConfig(command="python train.py --lr 3").name == "train-py"
    assert TaskConfig(shell="torchrun --nproc 8 finetune.py").name == "torchrun"
    assert TaskConfig(script="#!/bin/bash\necho hi").name == "script"


@pytest.mark.parametrize(
    "fields",
    [{"command": ["a"], "shell": "b"}, {"shell": "a", "script": "b"}, {}],
    ids=["command+shell", "shell+script", "none"],
)
def test_exactly_one_of_command_shell_script(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError, match="exactly one of command, shell or script"):
        TaskConfig(**fields)


def test_instance_type_and_min_gpu_memory_exclude_each_other() -> None:
    with pytest.raises(ValidationError, match="not both"):
        TaskConfig(command="x", instance_type="a100", min_gpu_memory_gb=80)
    assert TaskConfig(command="x").instance_type is None  # the provider's default


@pytest.mark.parametrize(
    ("wrong", "right"),
    [
        ("environment", "env"),
        ("ssh_key", "ssh_keys"),
        ("max_price", "max_price_per_hour"),
        ("price", "max_price_per_hour"),
        ("instance_count", "num_instances"),
        ("instances", "num_instances"),
        ("instanse_type", "instance_type"),
        ("working_directory", "working_dir"),
    ],
)
def test_unknown_keys_name_the_key_that_was_meant(wrong: str, right: str) -> None:
    with pytest.raises(ValidationError) as err:
        TaskConfig(command="x", **{wrong: None})
    assert f"unknown key '{wrong}'" in err.value.message
    assert f"did you mean '{right}'?" in err.value.suggestions[0]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("max_run_time_hours", 0),
        ("max_run_time_hours", 168.5),
        ("max_price_per_hour", -1),
        ("num_instances", 0),
        ("name", "has spaces"),
        ("name", "-leading-dash"),
        ("env", {"1BAD": "x"}),
        ("env", {"OK": "nul\x00byte"}),
        ("working_dir", "relative/path"),
        ("command", ""),
        ("command", "unbalanced 'quote"),
    ],
)
def test_out_of_range_values_are_refused(field: str, value: object) -> None:
    with pytest.raises(ValidationError):
        TaskConfig(command="x", **{field: value}) if field != "command" else TaskConfig(
            command=value
        )


def test_limits_at_the_edges_are_accepted() -> None:
    config = TaskConfig(command="x", max_run_time_hours=168, max_price_per_hour=0, num_instances=1)
    assert config.max_run_time_hours == 168


def test_task_config_is_frozen() -> None:
    config = TaskConfig(command="x")
    with pytest.raises(Exception):  # noqa: B017 - pydantic's frozen-instance error
        config.name = "other"  # type: ignore[misc]


def test_a_validation_error_is_a_flow_error_and_a_value_error() -> None:
    with pytest.raises(ValidationError) as err:
        TaskConfig(command="x", shell="y")
    assert isinstance(err.value, FlowError)
    assert isinstance(err.value, ValueError)
    assert err.value.suggestions


def test_volume_spec_is_new_or_existing_not_both() -> None:
    assert VolumeSpec(size_gb=100, mount_path="/data").size_gb == 100
    assert VolumeSpec(volume_id="vol-1").volume_id == "vol-1"
    with pytest.raises(ValidationError, match="existing volume"):
        VolumeSpec(volume_id="vol-1", size_gb=10)


def test_task_status_values_and_terminal_states() -> None:
    assert [s.value for s in TaskStatus] == [
        "pending",
        "running",
        "completed",
        "failed",
        "cancelled",
    ]
    assert TaskStatus("completed").is_terminal and not TaskStatus.RUNNING.is_terminal


def test_task_properties() -> None:
    task = Task(task_id="task-1", name="n", status=TaskStatus.RUNNING)
    assert task.is_running and not task.is_terminal


def test_api_keys_never_appear_in_reprs_or_dumps() -> None:
    config = FlowConfig(api_key="fkey_supersecret", providers={"fcp": {"api_key": "fkey_other"}})
    assert "supersecret" not in repr(config)
    assert "supersecret" not in str(config.model_dump())
    assert "fkey_other" not in repr(config.provider_settings("fcp"))
    assert config.provider_settings("fcp")["api_key"].get_secret_value() == "fkey_other"
