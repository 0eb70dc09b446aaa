"""How `flow` reads its arguments: flow's options before TARGET, the program's after it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib.cli._options import parse_env, task_config, task_fields
from flowlib.cli._parser import parse_args
from flowlib.errors import ValidationError


def run_args(*argv: str):  # type: ignore[no-untyped-def]
    args = parse_args(["run", *argv])
    assert args.command == "run"
    return args


def test_everything_after_a_program_is_the_programs() -> None:
    args = run_args("python", "x.py", "--help", "--wait", "-f", "a.txt")
    assert args.target == "python"
    assert args.args == ["x.py", "--help", "--wait", "-f", "a.txt"]
    assert not args.wait and not args.follow


def test_flow_options_go_before_the_program() -> None:
    args = run_args("--wait", "--name", "train", "-e", "A=1", "python", "-c", "print(1)")
    assert args.wait and args.name == "train" and args.env == ["A=1"]
    assert (args.target, args.args) == ("python", ["-c", "print(1)"])


def test_double_dash_lets_a_command_start_with_a_dash() -> None:
    args = run_args("--wait", "--", "-weird", "a")
    assert (args.target, args.args, args.wait) == ("-weird", ["a"], True)


def test_a_double_dash_after_the_program_is_passed_on() -> None:
    args = run_args("torchrun", "train.py", "--", "--lr", "3")
    assert args.args == ["train.py", "--", "--lr", "3"]


def test_options_may_follow_a_quoted_command_line() -> None:
    args = run_args("exit 3", "--wait", "--env", "A=1", "-e", "B=2")
    assert (args.target, args.args) == ("exit 3", [])
    assert args.wait and args.env == ["A=1", "B=2"]


def test_options_may_follow_a_task_file_and_add_to_those_before() -> None:
    args = run_args("-e", "A=1", "job.yaml", "-e", "B=2", "--dry-run", "-v")
    assert args.target == "job.yaml" and args.args == []
    assert args.env == ["A=1", "B=2"] and args.dry_run and args.verbose


@pytest.mark.parametrize(
    "argv", [["job.yaml", "extra"], ["echo hi", "there"], ["job.yml", "--nope"]]
)
def test_words_after_a_task_file_or_quoted_line_are_usage_errors(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["run", *argv])
    assert exc.value.code == 2
    assert "flow run" in capsys.readouterr().err


def test_help_after_a_task_file_is_flow_runs_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(["run", "job.yaml", "--help"])
    assert exc.value.code == 0
    assert "TARGET" in capsys.readouterr().out


def test_home_is_accepted_before_and_after_the_command() -> None:
    assert parse_args(["--home", "/a", "status"]).home == "/a"
    assert parse_args(["status", "--home", "/b"]).home == "/b"
    assert parse_args(["status"]).home is None


@pytest.mark.parametrize(
    "argv",
    [
        ["status", "--limit", "0"],
        ["logs", "t", "--tail", "-1"],
        ["catalog", "--gpus", "x"],
        ["nope"],
        [],
        ["catalog", "--spot", "--on-demand"],
        ["run"],
    ],
)
def test_usage_errors_exit_2(argv: list[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parse_args(argv)
    assert exc.value.code == 2


def test_env_parsing() -> None:
    assert parse_env(["A=1", "B=x=y", "C="]) == {"A": "1", "B": "x=y", "C": ""}
    assert parse_env(None) == {}


@pytest.mark.parametrize("item", ["", "=1", " =1"])
def test_malformed_env_is_a_validation_error_with_a_hint(item: str) -> None:
    with pytest.raises(ValidationError) as exc:
        parse_env([item])
    assert exc.value.exit_code == 2
    assert any("KEY=VALUE" in s for s in exc.value.suggestions)


def test_env_without_a_value_takes_the_submitting_environments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("MY_TOKEN", "s3cr3t=with=equals")
    monkeypatch.setenv("EMPTY", "")
    assert parse_env(["MY_TOKEN", "EMPTY", "A=1"]) == {
        "MY_TOKEN": "s3cr3t=with=equals",
        "EMPTY": "",
        "A": "1",
    }


def test_env_without_a_value_that_is_not_set_names_the_key(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("MY_TOKEN", raising=False)
    with pytest.raises(ValidationError) as exc:
        parse_env(["MY_TOKEN"])
    assert exc.value.exit_code == 2
    assert "MY_TOKEN is not set in this environment" in exc.value.message
    assert exc.value.suggestions == ["export MY_TOKEN first", "or write --env MY_TOKEN=VALUE"]


def test_fields_are_only_those_given() -> None:
    assert task_fields(run_args("echo hi")) == {}
    fields = task_fields(run_args("--max-run-time", "2", "--no-upload", "-i", "a100", "true"))
    assert fields == {
        "max_run_time_hours": 2.0,
        "upload_code": False,
        "instance_type": "a100",
        "min_gpu_memory_gb": None,
    }


def test_a_program_with_arguments_is_an_argv_list() -> None:
    config = task_config(run_args("python", "train.py", "--lr", "3 4"))
    assert config.command == ["python", "train.py", "--lr", "3 4"]


def test_a_quoted_line_with_shell_syntax_runs_as_shell() -> None:
    config = task_config(run_args("python train.py && echo done"))
    assert config.shell == "python train.py && echo done"


def test_options_override_a_task_file_and_env_adds_to_it(tmp_path: Path) -> None:
    job = tmp_path / "job.yaml"
    job.write_text("name: job\ncommand: echo hi\ninstance_type: a100\nenv:\n  A: '1'\n")
    config = task_config(
        run_args(str(job), "--min-gpu-memory", "40", "-e", "B=2", "--name", "other")
    )
    assert config.env == {"A": "1", "B": "2"}
    assert (config.instance_type, config.min_gpu_memory_gb, config.name) == (None, 40, "other")


def test_invalid_option_values_are_validation_errors() -> None:
    with pytest.raises(ValidationError):
        task_config(run_args("--max-run-time", "500", "true"))
    with pytest.raises(ValidationError):
        task_config(run_args("-i", "a100", "--min-gpu-memory", "40", "true"))
