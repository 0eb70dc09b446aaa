"""Metric and checkpoint lines: what the workload prints, and what flowlib reads back."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

import flowlib
from flowlib.cli._metrics import sparkline, summary
from flowlib.metrics import Checkpoint, MetricRow, collect, is_flow_line, parse_line


def test_log_metrics_prints_one_line_that_reads_back() -> None:
    out = io.StringIO()
    flowlib.log_metrics(loss=0.5, accuracy=0.8, step=10, file=out)
    line = out.getvalue()
    assert line.endswith("\n") and line.count("\n") == 1
    data = json.loads(line)["__flow__"]
    assert data["loss"] == 0.5 and data["step"] == 10 and isinstance(data["time"], float)
    (row,) = collect([line]).rows
    assert row.step == 10 and row.values == {"loss": 0.5, "accuracy": 0.8}
    assert row.time == data["time"]


def test_a_reserved_name_is_refused() -> None:
    with pytest.raises(ValueError, match="reserved"):
        flowlib.log_metrics(time=3.0)


def test_log_checkpoint_records_an_absolute_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    out = io.StringIO()
    flowlib.log_checkpoint("ckpt/step-5.pt", step=5, file=out)
    (ckpt,) = collect([out.getvalue()]).checkpoints
    assert ckpt.path == str(tmp_path / "ckpt/step-5.pt") and ckpt.step == 5


def test_hand_printed_and_mlflare_lines_are_read_too() -> None:
    lines = [
        '{"__flow__": {"loss": 0.9}}',
        '{"__mlflare__": {"loss": 0.7, "accuracy": 0.5}}',
        '[rank0]: {"__flow__": {"loss": 0.6, "step": 7}}',
        '{"__flow__": {"loss": 0.5}}',
    ]
    rows = collect(lines).rows
    assert [(r.step, r.values["loss"]) for r in rows] == [(0, 0.9), (1, 0.7), (7, 0.6), (8, 0.5)]
    assert rows[0].time is None


def test_invalid_lines_stay_log_lines_and_never_break_collection() -> None:
    lines = [
        '{"__flow__": {"loss": ',
        '{"__flow__": [1, 2]}',
        '{"__flow__": {"loss": "high", "note": null}}',
        "{not json at all",
        "plain output with __flow__ in it",
        '{"__flow__": {"loss": NaN, "step": 3}}',
        "\x00\xff binary noise",
    ]
    found = collect(lines)
    assert [r.step for r in found.rows] == [3]
    assert not is_flow_line(lines[0]) and not is_flow_line(lines[3]) and not is_flow_line(lines[4])
    assert parse_line(lines[2]) == {"loss": "high", "note": None}  # a flow line, but no metric


def test_checkpoint_events_are_remembered_in_order() -> None:
    lines = [
        '{"__flow__": {"event": "checkpoint", "path": "/ckpt/1.pt", "step": 1}}',
        '{"__flow__": {"loss": 0.5, "step": 1}}',
        '{"__flow__": {"event": "checkpoint_saved", "path": "/ckpt/2.pt"}}',
        '{"__flow__": {"event": "checkpoint"}}',
        '{"__flow__": {"event": "epoch_end", "path": "/not/a/checkpoint"}}',
    ]
    found = collect(lines)
    assert found.checkpoints == [Checkpoint("/ckpt/1.pt", 1, None), Checkpoint("/ckpt/2.pt")]
    assert len(found.rows) == 1


def test_a_sparkline_follows_the_values() -> None:
    assert sparkline([1, 2, 3, 4, 5, 6, 7, 8]) == "▁▂▃▄▅▆▇█"
    assert sparkline([3, 3, 3]) == "▅▅▅"  # flat: a middle bar
    assert len(sparkline([float(i) for i in range(1000)], width=20)) == 20
    assert sparkline([]) == ""


def test_the_summary_has_a_line_per_metric() -> None:
    rows = [MetricRow(i, None, {"loss": 1 / (i + 1), "lr": 0.1}) for i in range(5)]
    text = summary(rows).splitlines()
    assert text[0].split() == ["METRIC", "N", "STEP", "LAST", "MIN", "MAX", "TREND"]
    assert text[1].split()[:6] == ["loss", "5", "4", "0.2", "0.2", "1"]
    assert text[2].split()[0] == "lr"


def test_the_metrics_module_needs_nothing_but_the_standard_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys; from flowlib import metrics; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('pydantic', 'httpx', 'yaml', 'opentelemetry', 'pluggy')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
