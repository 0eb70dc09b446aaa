"""flowlib.stop_requested / stop_reason, and the run API's lines inside a task (no processes)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import flowlib
from flowlib.core.startup import notice_command, read_markers
from flowlib.errors import ValidationError
from flowlib.tracking import Run


def test_no_notice_outside_a_task(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FLOW_STOP_FILE", raising=False)
    assert flowlib.stop_requested() is False
    assert flowlib.stop_reason() is None


def test_the_notice_is_the_file_and_its_first_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stop = tmp_path / "stop_requested"
    monkeypatch.setenv("FLOW_STOP_FILE", str(stop))
    assert not flowlib.stop_requested()
    stop.write_text("preempted: outbid\nmore\n")
    assert flowlib.stop_requested()
    assert flowlib.stop_reason() == "preempted: outbid"
    assert read_markers(tmp_path).stop_reason == "preempted: outbid"


def test_the_notice_command_quotes_the_reason() -> None:
    command = notice_command("it's $(bad)")
    assert "'it'\"'\"'s $(bad)'" in command
    assert 'kill -TERM "$(cat "$d/script.pid")"' in command


def test_run_lines_inside_a_task() -> None:
    out = io.StringIO()
    run = Run("p", None, {"lr": 0.1}, out, task_id="task-1")
    run.log({"loss": 0.5, "text": "skipped", "flag": True})
    run.log({"loss": 0.25}, step=7)
    run.log({"loss": 0.2})
    run.log_checkpoint("/ck/a.pt", step=8)
    run.finish()
    lines = [json.loads(line)["__flow__"] for line in out.getvalue().splitlines()]
    assert lines[0]["event"] == "run" and lines[0]["config"] == {"lr": 0.1}
    assert [(x.get("step"), x.get("loss")) for x in lines[1:4]] == [(0, 0.5), (7, 0.25), (8, 0.2)]
    assert "text" not in lines[1] and "flag" not in lines[1]
    assert lines[4] == {**lines[4], "event": "checkpoint", "path": "/ck/a.pt", "step": 8}
    with pytest.raises(ValidationError, match="finished"):
        run.log({"loss": 1.0})


def test_reserved_names_are_refused() -> None:
    run = Run(None, None, {}, io.StringIO(), task_id="t")
    with pytest.raises(ValidationError, match="reserved"):
        run.log({"step": 3})
