"""``flow metrics``: the numbers a task printed as ``{"__flow__": {...}}`` lines."""

from __future__ import annotations

import argparse
import math
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.cli._output import print_json, table
from flowlib.errors import ValidationError
from flowlib.flow import Flow

if TYPE_CHECKING:
    from flowlib.metrics import MetricRow

__all__ = [
    "cmd_metrics",
    "comparison",
    "plot",
    "plot_runs",
    "sparkline",
    "summary",
    "tensorboard",
]

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
    lines = [
        [
            name,
            str(s.count),
            str(s.last_step),
            _num(s.last),
            _num(s.min),
            _num(s.max),
            sparkline([v for _, v in found.series(name)]),
        ]
        for name, s in found.summaries().items()
    ]
    headers = ["METRIC", "N", "STEP", "LAST", "MIN", "MAX", "TREND"]
    return table(headers, lines, right=(1, 2, 3, 4, 5))


MARKS = "●○■□▲△◆◇▼▽"  # one per run (at most 10) in the comparison's overlaid sparklines


def overlay(series: list[list[float]], width: int = 32, height: int = 4) -> list[str]:
    """Several runs' values drawn on one small grid of text (one mark per run, the first run
    on top where two meet), on a shared y-axis; x is each run's own index scaled to ``width``."""
    finite = [v for values in series for v in values if math.isfinite(v)]
    if not finite:
        return []
    low, high = min(finite), max(finite)
    span = (high - low) or 1.0
    grid = [[" "] * width for _ in range(height)]
    for mark, values in reversed(list(zip(MARKS, series, strict=False))):
        n = len(values)
        for i, v in enumerate(values):
            if not math.isfinite(v):
                continue
            x = 0 if n == 1 else round(i * (width - 1) / (n - 1))
            y = height - 1 - min(height - 1, int((v - low) / span * height))
            grid[y][x] = mark
    return ["".join(row).rstrip() for row in grid]


def comparison(runs: dict[str, list[MetricRow]], labels: dict[str, str]) -> str:
    """``flow metrics A B ...``: per metric, one table row per run (N, step, last, min, max, its
    sparkline) and the runs overlaid on one small chart; ``labels``: run -> what to call it."""
    from flowlib.metrics import Metrics, compare

    found = {run: Metrics(rows=rows) for run, rows in runs.items()}
    blocks = []
    for name, per_run in compare(found).items():
        rows, curves = [], []
        for i, run in enumerate(runs):
            s = per_run.get(run)
            values = [v for _, v in found[run].series(name)] if s else []
            curves.append(values)
            if s is None:
                rows.append([MARKS[i], labels[run], "0", "-", "-", "-", "-", ""])
                continue
            cells = [str(s.count), str(s.last_step), _num(s.last), _num(s.min), _num(s.max)]
            rows.append([MARKS[i], labels[run], *cells, sparkline(values)])
        headers = ["", name.upper(), "N", "STEP", "LAST", "MIN", "MAX", "TREND"]
        lines = [table(headers, rows, right=(2, 3, 4, 5, 6))]
        lines.extend(f"    {line}" for line in overlay(curves))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


def _row_line(row: MetricRow) -> str:
    when = ""
    if row.time is not None:
        when = datetime.fromtimestamp(row.time, timezone.utc).strftime("%H:%M:%S ")
    values = "  ".join(f"{k}={_num(v)}" for k, v in row.values.items())
    return f"{when}step {row.step}: {values}"


def plot(rows: list[MetricRow], path: Path) -> Path:
    """A PNG chart, one panel per metric against its step. Needs matplotlib."""
    return plot_runs({"": rows}, path)


def plot_runs(runs: dict[str, list[MetricRow]], path: Path) -> Path:
    """A PNG chart, one panel per metric against its step, each run (label -> rows) one line on
    it (a legend when there are several). Needs matplotlib."""
    from flowlib._extras import import_optional

    # An optional extra: untyped here, so that mypy passes with or without it.
    import_optional("matplotlib", "--plot").use("Agg")
    plt: Any = import_optional("matplotlib.pyplot", "--plot")
    from flowlib.metrics import Metrics, compare

    found = {label: Metrics(rows=rows) for label, rows in runs.items()}
    names = list(compare(found))
    fig, axes = plt.subplots(
        max(1, len(names)), 1, figsize=(7, 2.4 * max(1, len(names))), squeeze=False
    )
    for i, name in enumerate(names):
        ax = axes[i][0]
        for label, metrics in found.items():
            points = metrics.series(name)
            ax.plot([s for s, _ in points], [v for _, v in points], label=label or None)
        ax.set_ylabel(name)
        ax.grid(alpha=0.3)
        if len(found) > 1:
            ax.legend(fontsize="small")
    fig.supxlabel("step")
    fig.tight_layout()
    fig.savefig(path, format="png")
    plt.close(fig)
    return path


def tensorboard(rows: list[MetricRow], directory: Path) -> int:
    """The rows as TensorBoard scalars (one tag per metric, at its step and wall time) in an
    event file under ``directory``, written with TensorBoard's own writer; how many."""
    from flowlib._extras import import_optional

    summary: Any = import_optional("tensorboard.summary", "--tensorboard")
    directory.mkdir(parents=True, exist_ok=True)
    writer = summary.Writer(str(directory))
    count = 0
    for row in rows:
        for name, value in row.values.items():
            writer.add_scalar(name, value, row.step, wall_time=row.time)
            count += 1
    writer.close()
    return count


def cmd_metrics(args: argparse.Namespace) -> int:
    if len(args.tasks) > 1:
        return _compare(args)
    with Flow(home=args.home) as flow:
        task = flow.get_task(args.tasks[0])
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
    written = None
    if getattr(args, "tensorboard", None):
        written = Path(args.tensorboard) / task.task_id
        scalars = tensorboard(rows, written)
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
    if written is not None and not args.json:
        print(f"wrote {scalars} scalars to {written}  (tensorboard --logdir {args.tensorboard})")
    return 0


MAX_RUNS = len(MARKS)


def _compare(args: argparse.Namespace) -> int:
    """``flow metrics A B ...``: the runs side by side."""
    if args.follow:
        raise ValidationError(
            "--follow takes one task; comparing runs reads what they logged so far",
            suggestions=[f"flow metrics {args.tasks[0]} -f", "flow ui (live charts of every run)"],
        )
    if len(args.tasks) > MAX_RUNS:
        raise ValidationError(
            f"flow metrics compares at most {MAX_RUNS} tasks, got {len(args.tasks)}",
            suggestions=["pick the runs that matter, or use --json and your own tools"],
        )
    runs: dict[str, list[MetricRow]] = {}
    labels: dict[str, str] = {}
    with Flow(home=args.home) as flow:
        for ref in args.tasks:
            task = flow.get_task(ref)
            runs[task.task_id] = flow.metrics(task.task_id)
            labels[task.task_id] = f"{task.task_id} ({task.name})"
    if len(runs) < 2:
        raise ValidationError(
            "these names are all one task: comparing needs two different tasks",
            suggestions=["name tasks by id (flow status lists them)"],
        )
    if args.plot:
        plot_runs({labels[run]: rows for run, rows in runs.items()}, Path(args.plot))
    if args.json:
        print_json({run: [r.to_dict() for r in rows] for run, rows in runs.items()})
        return 0
    text = comparison(runs, labels)
    print(text or "none of these tasks logged metrics yet")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
