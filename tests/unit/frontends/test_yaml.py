"""Task files: TaskConfig keys in YAML; errors point at the file, the line and the key."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowlib.errors import FlowError, ValidationError
from flowlib.frontends.yaml import load_task_file, parse_task_yaml


def test_a_task_file_becomes_a_task_config(tmp_path: Path) -> None:
    path = tmp_path / "job.yaml"
    path.write_text(
        "name: train\ncommand: python train.py --epochs 3\nenv:\n  A: '1'\ncode_dir: src\n"
    )
    config = load_task_file(path)
    assert config.command == ["python", "train.py", "--epochs", "3"]
    assert config.env == {"A": "1"}
    assert config.code_dir == (tmp_path / "src").resolve()


def test_overrides_win_over_the_file() -> None:
    assert parse_task_yaml("command: x\nname: a\n", name="b").name == "b"


def test_an_unknown_key_names_file_line_and_key() -> None:
    text = "name: train\ncommand: python train.py\nenvironment:\n  A: '1'\n"
    with pytest.raises(ValidationError) as err:
        parse_task_yaml(text, source="job.yaml")
    assert err.value.message.startswith("job.yaml:3:")
    assert "environment" in err.value.message
    assert "did you mean 'env'?" in err.value.suggestions[0]


def test_a_bad_value_names_its_line() -> None:
    with pytest.raises(ValidationError, match=r"^job.yaml:2: max_run_time_hours"):
        parse_task_yaml("command: x\nmax_run_time_hours: 500\n", source="job.yaml")


def test_malformed_yaml_names_line_and_column() -> None:
    with pytest.raises(ValidationError, match=r"^job.yaml:2:\d+: not valid YAML"):
        parse_task_yaml("command: x\n\tenv: y\n", source="job.yaml")


def test_a_file_that_is_not_a_mapping() -> None:
    with pytest.raises(ValidationError, match="a mapping of TaskConfig keys"):
        parse_task_yaml("- just\n- a list\n")


def test_a_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        load_task_file(tmp_path / "nope.yaml")


yaml_ish = st.text(
    alphabet=st.sampled_from(list("abcdefgh:-[]{}'\"\n #&*!|>%@`0123456789. ")), max_size=200
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(max_size=200), yaml_ish))
def test_only_flow_errors_escape_on_any_input(text: str) -> None:
    with contextlib.suppress(FlowError):  # a FlowError is a fine answer; anything else fails
        parse_task_yaml(text)


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(
            [
                "name",
                "command",
                "shell",
                "env",
                "num_instances",
                "instance_type",
                "max_run_time_hours",
                "bogus",
                "image",
            ]
        ),
        st.one_of(
            st.none(),
            st.integers(),
            st.floats(),
            st.text(max_size=20),
            st.lists(st.text(max_size=5), max_size=3),
            st.dictionaries(st.text(max_size=5), st.text(max_size=5), max_size=2),
        ),
        max_size=5,
    )
)
def test_only_flow_errors_escape_on_any_mapping(data: dict[str, object]) -> None:
    import yaml

    with contextlib.suppress(FlowError):
        parse_task_yaml(yaml.safe_dump(data))
