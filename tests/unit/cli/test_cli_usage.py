"""Usage errors: what you probably meant, the usage of the (sub)command you typed, exit 2, and a
JSON object on stdout under --json."""

from __future__ import annotations

import json

import pytest

from flowlib.cli import main


def usage_error(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 2
    out, err = capsys.readouterr()
    assert out == "" and "Traceback" not in err
    return err


def test_a_mistyped_command_suggests_the_command(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "stauts")
    assert "error: unknown command 'stauts'; did you mean 'status'?" in err
    assert err.startswith("usage: flow [-h]")


def test_a_mistyped_option_names_the_subcommands_option_and_usage(
    capsys: pytest.CaptureFixture[str],
) -> None:
    err = usage_error(capsys, "status", "--limt", "5")
    assert "error: unknown option --limt; did you mean --limit?" in err
    assert err.startswith("usage: flow status ")  # that subcommand's usage, not flow's


@pytest.mark.parametrize(
    ("argv", "meant"),
    [
        (["catalog", "--gpuz", "2"], "--gpu"),
        (["logs", "t", "--folow"], "--follow"),
        (["run", "job.yaml", "--wiat"], "--wait"),  # options after a task file
        (["ssh", "t", "--nodee", "1", "--", "ls"], "--node"),
        (["volume", "create", "x", "--sise", "3"], "--size"),
        (["--trcae", "status"], "--trace"),
        (["status", "--hme", "/x"], "--home"),
    ],
)
def test_options_are_suggested_per_subcommand(
    argv: list[str], meant: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert f"did you mean {meant}?" in usage_error(capsys, *argv)


def test_a_mistyped_action_and_choice(capsys: pytest.CaptureFixture[str]) -> None:
    assert "unknown action 'creat'; did you mean 'create'?" in usage_error(
        capsys, "volume", "creat", "x"
    )
    assert "did you mean 'bash'?" in usage_error(capsys, "completion", "bsh")


def test_nothing_close_lists_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "status", "--zzzzqq")
    assert "did you mean" not in err and "its options: --all" in err


def test_under_json_a_usage_error_is_json_on_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["status", "--json", "--limt", "3"]) == 2
    out, err = capsys.readouterr()
    data = json.loads(out)
    assert err == ""
    assert data["error"] == "UsageError" and data["error_code"] == "usage"
    assert data["message"] == "unknown option --limt; did you mean --limit?"
    assert data["context"]["command"] == "flow status"
    assert data["context"]["usage"].startswith("flow status ")


def test_flow_run_alone_explains_what_it_takes(capsys: pytest.CaptureFixture[str]) -> None:
    err = usage_error(capsys, "run")
    assert "flow run needs a TARGET" in err
    assert "required: TARGET, ARGS" not in err
    for example in ("python train.py", "job.yaml", "train.sbatch", "app.py::train"):
        assert example in err
