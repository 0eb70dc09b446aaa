"""Runs side by side: flowlib.metrics.compare and `flow metrics A B`'s text."""

from __future__ import annotations

import math

from flowlib.cli._metrics import MARKS, comparison, overlay
from flowlib.metrics import MetricRow, Metrics, Summary, compare


def _run(values: dict[str, list[float]]) -> list[MetricRow]:
    steps = max(len(v) for v in values.values())
    return [
        MetricRow(step, None, {k: v[step] for k, v in values.items() if step < len(v)})
        for step in range(steps)
    ]


def test_compare_summarises_each_metric_of_each_run() -> None:
    a = Metrics(rows=_run({"loss": [1.0, 0.5, 0.25], "acc": [0.1, 0.2, 0.3]}))
    b = Metrics(rows=_run({"loss": [2.0, math.nan, 0.75]}))
    table = compare({"a": a, "b": b})
    assert list(table) == ["loss", "acc"]
    assert table["loss"]["a"] == Summary(count=3, last_step=2, last=0.25, min=0.25, max=1.0)
    assert table["loss"]["b"].min == 0.75 and table["loss"]["b"].max == 2.0  # NaN left out
    assert set(table["acc"]) == {"a"}
    nothing = Summary.of([(0, math.nan)]).to_dict()
    assert nothing["min"] is None and nothing["last"] is None  # JSON-ready


def test_comparison_is_one_table_per_metric_with_every_run() -> None:
    runs = {"a": _run({"loss": [1.0, 0.5, 0.25]}), "b": _run({"loss": [2.0, 1.0], "acc": [0.5]})}
    text = comparison(runs, {"a": "task-a (lr-1)", "b": "task-b (lr-3)"})
    loss, acc = text.split("\n\n")
    assert loss.splitlines()[0].split()[:2] == ["LOSS", "N"]
    row_a = next(line for line in loss.splitlines() if "task-a" in line).split()
    assert row_a[:7] == [MARKS[0], "task-a", "(lr-1)", "3", "2", "0.25", "0.25"]
    assert any(MARKS[1] in line for line in loss.splitlines()[3:])  # overlaid chart
    row_a_acc = next(line for line in acc.splitlines() if "task-a" in line).split()
    assert row_a_acc[3:5] == ["0", "-"]  # run a logged no accuracy


def test_overlay_puts_each_run_on_one_shared_scale() -> None:
    grid = overlay([[0.0, 1.0], [1.0, 0.0]], width=5, height=2)
    assert grid == [MARKS[1] + "   " + MARKS[0], MARKS[0] + "   " + MARKS[1]]
    assert overlay([[math.nan]]) == []
