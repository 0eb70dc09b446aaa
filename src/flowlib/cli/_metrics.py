"""``flow metrics``: the numbers a task printed as ``{"__flow__": {...}}`` lines."""

from __future__ import annotations

import argparse
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.cli._output import print_json, table
from flowlib.flow import Flow

if TYPE_CHECKING:
    from flowlib.metrics import MetricRow

__all__ = ["cmd_metrics", "plot", "sparkline", "summary"]

BARS = "▁▂▃▄▅▆▇█"


def sparkline(values: list[float], width: int = 24) -> str:
    """``values`` as a row of block characters, averaged into at most ``width`` buckets."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return ""
    if len(finite) > width:
        size = len(finite) / width
        finite = [
            sum(chunk) / len(chunk)
            for i in range(width)
            if (chunk := finite[int(i * size) : max(int((i + 1) * size), int(i * size) + 1)])
        ]
    low, high = min(finite), max(finite)
    span = high - low
    if span == 0:
        return BARS[len(BARS) // 2] * len(finite)
    return "".join(BARS[min(len(BARS) - 1, int((v - low) / span * len(BARS)))] for v in finite)


def _num(value: float) -> str:
    return f"{value:.4g}"


def summary(rows: list[MetricRow]) -> str:
    """One line per metric: how many values, the last, min and max, and a sparkline."""
    from flowlib.metrics import Metrics

    found = Metrics(rows=rows)
    lines = []
    for name in found.names():
        points = found.series(name)  # a scan of every row: once per metric
        values = [v for _, v in points]
        last_step = points[-1][0]
        lines.append(
            [
                name,
                str(len(values)),
                str(last_step),
                _num(values[-1]),
                _num(min(values)),
                _num(max(values)),
                sparkline(values),
            ]
        )
    headers = ["METRIC", "N", "STEP", "LAST", "MIN", "MAX", "TREND"]
    return table(headers, lines, right=(1, 2, 3, 4, 5))


def _row_line(row: MetricRow) -> str:
    when = ""
    if row.time is not None:
        when = datetime.fromtimestamp(row.time, timezone.utc).strftime("%H:%M:%S ")
    values = "  ".join(f"{k}={_num(v)}" for k, v in row.values.items())
    return f"{when}step {row.step}: {values}"


def plot(rows: list[MetricRow], path: Path) -> Path:
    """A PNG chart, one panel per metric against its step. Needs matplotlib."""
    from flowlib._extras import import_optional

    # An optional extra: untyped here, so that mypy passes with or without it.
    import_optional("matplotlib", "--plot").use("Agg")
    plt: Any = import_optional("matplotlib.pyplot", "--plot")
    from flowlib.metrics import Metrics

    found = Metrics(rows=rows)
    names = found.names()
    fig, axes = plt.subplots(
        max(1, len(names)), 1, figsize=(7, 2.4 * max(1, len(names))), squeeze=False
    )
    for i, name in enumerate(names):
        ax = axes[i][0]
        points = found.series(name)
        ax.plot([s for s, _ in points], [v for _, v in points])
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
    fig.supxlabel("step")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def cmd_metrics(args: argparse.Namespace) -> int:
    with Flow(home=args.home) as flow:
        task = flow.get_task(args.task)
        if args.follow:
            rows: list[MetricRow] = []
            for row in flow.follow_metrics(task.task_id):
                rows.append(row)
                if not args.json:
                    print(_row_line(row), flush=True)
            if not args.json and rows:
                print()
        else:
            rows = flow.metrics(task.task_id)
    if args.plot:
        plot(rows, Path(args.plot))
    if args.json:
        print_json([r.to_dict() for r in rows])
    elif rows:
        print(summary(rows))
    else:
        print(
            f'no metrics from {task.task_id} ({task.name}) yet: the workload prints {{"__flow__": '
            '{"loss": 0.5, "step": 1}} lines, or calls flowlib.log_metrics(loss=0.5, step=1)'
        )
    if args.plot and not args.json:
        print(f"wrote {args.plot}")
    return 0
