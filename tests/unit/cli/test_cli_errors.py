"""Errors: `error: message`, `  hint: ...` on stderr, no traceback, the class's exit code."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from flowlib import errors
from flowlib.cli import _call, main

EXIT_CODES = {
    errors.FlowError: 1,
    errors.ValidationError: 2,
    errors.ConfigError: 3,
    errors.AuthenticationError: 4,
    errors.ResourceNotFoundError: 5,
    errors.TaskNotFoundError: 5,
    errors.VolumeNotFoundError: 5,
    errors.APIError: 6,
    errors.ValidationAPIError: 6,
    errors.NetworkError: 7,
    errors.TimeoutError: 8,
    errors.StoreError: 9,
    errors.PackagingError: 10,
    errors.ProviderError: 11,
    errors.CapacityError: 12,
    errors.QuotaError: 13,
    errors.UnsupportedError: 14,
    errors.RemoteError: 15,
    errors.EnvironmentMismatchError: 15,
}


def test_every_error_class_has_a_documented_exit_code() -> None:
    documented = (Path(__file__).parents[3] / "docs" / "cli.md").read_text()
    for name in errors.__all__:
        cls = getattr(errors, name)
        assert EXIT_CODES[cls] == cls.exit_code, name
        assert f"`{name}`" in documented, f"docs/cli.md does not mention {name}"


@pytest.mark.parametrize("cls", list(EXIT_CODES), ids=lambda c: c.__name__)
def test_a_flow_error_becomes_message_hints_and_exit_code(
    cls: type[errors.FlowError], capsys: pytest.CaptureFixture[str]
) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise cls("it went wrong", suggestions=["try this", "or that"])

    assert _call(handler, argparse.Namespace(json=False)) == cls.exit_code
    out, err = capsys.readouterr()
    assert out == ""
    assert err == "error: it went wrong\n  hint: try this\n  hint: or that\n"


def test_with_json_the_error_is_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise errors.TaskNotFoundError("no task 'x'", suggestions=["flow status"], task_id="x")

    assert _call(handler, argparse.Namespace(json=True)) == 5
    data = json.loads(capsys.readouterr().out)
    assert data["error"] == "TaskNotFoundError" and data["context"] == {"task_id": "x"}


def test_ctrl_c_exits_130_with_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    def handler(args: argparse.Namespace) -> int:
        raise KeyboardInterrupt

    assert _call(handler, argparse.Namespace()) == 130
    assert capsys.readouterr().err.strip() == "interrupted"


def test_any_other_exception_is_a_bug_and_keeps_its_traceback() -> None:
    def handler(args: argparse.Namespace) -> int:
        raise RuntimeError("bug")

    with pytest.raises(RuntimeError):
        _call(handler, argparse.Namespace())


# -- the same, through real commands against a temporary home ---------------------------------


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FLOW_HOME", raising=False)
    project = tmp_path / "project"
    project.mkdir()
    monkeypatch.chdir(project)
    return tmp_path / "flowhome"


def flow(home: Path, *argv: str) -> int:
    return main(["--home", str(home), *argv])


def test_unknown_task_exits_5(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert flow(home, "status", "nope") == 5
    err = capsys.readouterr().err
    assert err.startswith("error: no task 'nope'") and "Traceback" not in err


def test_bad_env_exits_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert flow(home, "run", "--env", "=VALUE", "--dry-run", "true") == 2
    assert "hint: write --env KEY=VALUE" in capsys.readouterr().err


def test_an_env_key_not_set_here_exits_2_naming_it(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NOT_SET_HERE", raising=False)
    assert flow(home, "run", "-e", "NOT_SET_HERE", "--dry-run", "true") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: --env NOT_SET_HERE: NOT_SET_HERE is not set")
    assert "Traceback" not in err


@pytest.mark.parametrize("instance_type", ["²_4090", "² h100", "h100:²"])
def test_a_unicode_digit_in_the_instance_type_exits_2(
    home: Path, capsys: pytest.CaptureFixture[str], instance_type: str
) -> None:
    assert flow(home, "run", "-i", instance_type, "echo", "hi") == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and repr(instance_type) in err and "Traceback" not in err
    assert "  hint: " in err


def test_bad_status_filter_exits_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert flow(home, "status", "--status", "runing") == 2
    assert "pending, running" in capsys.readouterr().err


def test_broken_config_file_exits_3(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = home.parent / ".flow" / "config.yaml"
    config.parent.mkdir()
    config.write_text("provider: [unclosed\n")
    assert flow(home, "status") == 3
    assert "not valid YAML" in capsys.readouterr().err


def test_unknown_provider_exits_2(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert flow(home, "run", "--provider", "lokal", "--dry-run", "true") == 2
    assert "did you mean 'local'?" in capsys.readouterr().err


def test_a_corrupt_store_exits_9(home: Path) -> None:
    home.mkdir()
    (home / "tasks.db").write_bytes(b"this is not a database" * 100)
    assert flow(home, "status") == 9


def test_more_gpu_memory_than_any_machine_has_exits_12(home: Path) -> None:
    assert flow(home, "run", "--min-gpu-memory", "4096", "--dry-run", "true") == 12


def test_what_the_provider_cannot_do_exits_14(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    Path("multi.yaml").write_text("command: hostname\nnum_instances: 2\n")
    assert flow(home, "run", "multi.yaml", "--dry-run") == 14
    assert "multi_node" in capsys.readouterr().err


def test_a_dry_run_error_with_json_is_json(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert flow(home, "run", "--json", "--provider", "nope", "--dry-run", "true") == 2
    assert json.loads(capsys.readouterr().out)["error"] == "ValidationError"
