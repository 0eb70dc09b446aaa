"""A real run -> wait on the local provider, traced with the SDK's in-memory exporter."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from flowlib import Flow, TaskStatus

SECRET = "s3cr3t-9f8e7d"


def children(all_spans: list[ReadableSpan], parent: ReadableSpan) -> list[str]:
    return [
        s.name
        for s in sorted(all_spans, key=lambda s: s.start_time or 0)
        if s.parent is not None and s.parent.span_id == parent.context.span_id
    ]


def test_run_then_wait_is_one_span_tree(spans: InMemorySpanExporter, project: Path) -> None:
    flow = Flow()
    task = flow.run("echo hello")
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.COMPLETED
    finished = list(spans.get_finished_spans())
    roots = [s for s in finished if s.parent is None]
    assert [s.name for s in roots] == ["flow.run", "flow.wait"]
    run, wait = roots
    assert children(finished, run) == ["provider.prepare", "provider.submit", "flow.get_task"]
    assert set(children(finished, wait)) == {"provider.status", "provider.logs"}
    for root in roots:
        attributes = dict(root.attributes or {})
        assert attributes["flow.task.id"] == task.task_id
        assert attributes["flow.provider"] == "local"
        assert attributes["flow.instance_type"] == "this machine"
    assert dict(wait.attributes or {})["flow.task.status"] == "completed"
    submit = next(s for s in finished if s.name == "provider.submit")
    assert dict(submit.attributes or {})["flow.task.id"] == task.task_id
    traces = {s.context.trace_id for s in finished}
    assert traces == {run.context.trace_id, wait.context.trace_id}


def test_no_secret_or_env_value_reaches_any_span(
    spans: InMemorySpanExporter, project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_API_KEY", SECRET + "-key")
    flow = Flow(api_key=SECRET + "-key")
    task = flow.run(
        ["bash", "-c", f"echo {SECRET}-arg"], env={"TOKEN": SECRET + "-env"}, name="secretive"
    )
    flow.wait(task.task_id, timeout=30)
    flow.logs(task.task_id)
    flow.list_tasks()
    with pytest.raises(Exception):  # noqa: B017 - any failure: its span must stay clean too
        flow.cancel(task.task_id)
    finished = spans.get_finished_spans()
    assert len(finished) > 5
    for s in finished:
        text = repr(dict(s.attributes or {})) + repr(s.status.description) + s.name
        text += repr([dict(e.attributes or {}) for e in s.events])
        assert SECRET not in text, s.name


def test_flow_trace_prints_the_tree_on_stderr(project: Path) -> None:
    env = {**os.environ, "FLOW_TRACE": "console"}
    result = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "run", "--no-upload", "echo hi", "--wait"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stderr.splitlines()
    # Piped, the wait's state changes come first (cli/_waiting.py), then the trace.
    lines = lines[lines.index("trace (flow --trace):") :]
    assert lines[1].startswith("  flow run ")
    assert any(line.startswith("    flow.run ") for line in lines)
    assert any(line.startswith("      provider.submit ") for line in lines)
    assert "completed" in result.stdout
    flagged = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "--trace", "status"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "flow.list_tasks" in flagged.stderr
