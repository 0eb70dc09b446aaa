"""flow wait and flow status --watch, against the local provider in a temporary home."""

from __future__ import annotations

import argparse
import io
import json
from pathlib import Path

import pytest

from flowlib.cli import main
from flowlib.cli._watch import watch_status
from flowlib.flow import Flow
from flowlib.models import TaskConfig


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("FLOW_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "flowhome"


def submit(home: Path, shell: str, name: str) -> str:
    with Flow(home=home) as flow:
        return flow.run(TaskConfig(name=name, shell=shell, upload_code=False)).task_id


@pytest.mark.parametrize(("shell", "code"), [("true", 0), ("exit 3", 3)])
def test_wait_exits_with_the_tasks_exit_code(
    home: Path, shell: str, code: int, capsys: pytest.CaptureFixture[str]
) -> None:
    submit(home, shell, "job")
    assert main(["--home", str(home), "wait", "job"]) == code
    assert capsys.readouterr().out.startswith("task-")


def test_wait_with_json_prints_the_ended_task(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = submit(home, "exit 4", "job")
    assert main(["--home", str(home), "wait", task_id, "--json"]) == 4
    data = json.loads(capsys.readouterr().out)
    assert (data["status"], data["exit_code"]) == ("failed", 4)


def test_wait_that_runs_out_of_time_exits_8(home: Path) -> None:
    task_id = submit(home, "sleep 30", "slow")
    try:
        assert main(["--home", str(home), "wait", task_id, "--timeout", "0.2"]) == 8
    finally:
        with Flow(home=home) as flow:
            flow.cancel(task_id)


def watch_args(home: Path, **given: object) -> argparse.Namespace:
    values: dict[str, object] = {
        "home": str(home),
        "task": None,
        "all": False,
        "limit": 20,
        "status": None,
        "provider": None,
        "json": False,
        "interval": 0.01,
        "count": None,
        "until_done": False,
    }
    return argparse.Namespace(**{**values, **given})


def test_on_a_pipe_a_new_table_only_when_something_changed(home: Path) -> None:
    task_id = submit(home, "true", "quick")
    with Flow(home=home) as flow:
        flow.wait(task_id)
    out, naps = io.StringIO(), []
    assert watch_status(watch_args(home, count=4), out=out, sleep=naps.append) == 0
    assert len(naps) == 3  # four looks, one table: its age changes, nothing else does
    assert out.getvalue().count("STATUS") == 1
    assert "\x1b[" not in out.getvalue()  # no screen control on a pipe


def test_a_terminal_is_redrawn_at_every_look(home: Path) -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    submit(home, "true", "quick")
    out = Tty()
    assert watch_status(watch_args(home, count=3), out=out, sleep=lambda s: None) == 0
    assert out.getvalue().count("\x1b[H\x1b[2J") == 3


def test_until_done_ends_once_every_task_ended(home: Path) -> None:
    submit(home, "sleep 0.3", "short")
    out = io.StringIO()
    assert watch_status(watch_args(home, until_done=True), out=out) == 0
    assert out.getvalue().split("-- ")[-1].count("completed") == 1


def test_watch_and_json_do_not_mix(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--home", str(home), "status", "--watch", "--json"]) == 2
    assert json.loads(capsys.readouterr().out)["error"] == "ValidationError"


def test_logs_follow_exits_with_the_tasks_exit_code(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submit(home, "echo out; exit 5", "bad")
    assert main(["--home", str(home), "logs", "bad", "-f"]) == 5
    out, err = capsys.readouterr()
    assert out == "out\n" and "exit code 5" in err


def test_logs_json_and_ndjson_when_following(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    submit(home, "echo a; echo b", "two")
    assert main(["--home", str(home), "logs", "two", "-f", "--json"]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [r.get("line") for r in records] == ["a", "b", None]
    assert records[-1]["type"] == "end" and records[-1]["status"] == "completed"
    assert main(["--home", str(home), "logs", "two", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["lines"] == ["a", "b"]
