"""Metrics and checkpoints from a task's own output: one JSON object per line on stdout.

The workload prints lines such as::

    {"__flow__": {"loss": 0.5, "step": 10}}
    {"__flow__": {"event": "checkpoint", "path": "/workspace/ckpt/step-10.pt", "step": 10}}

(``{"__mlflare__": {...}}`` lines are read the same way). :func:`log_metrics` and
:func:`log_checkpoint` print them; printing the JSON yourself is just as good. This module uses
the standard library only, so ``import flowlib.metrics`` costs nothing on the machine that runs
the workload.

On the client, :func:`collect` reads a task log back into :class:`MetricRow` and
:class:`Checkpoint` records. Keys ``step``, ``time``, ``event`` and ``path`` are reserved; every
other key with a number value is a metric. A row without ``step`` follows the previous row's
step (``0`` first). A line that is not valid JSON, or whose payload is not an object, stays an
ordinary log line: collection never fails on it.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TextIO, TypedDict

if TYPE_CHECKING:
    from typing import TypeGuard

__all__ = [
    "MARKERS",
    "Checkpoint",
    "CheckpointJson",
    "MetricRow",
    "MetricRowJson",
    "Metrics",
    "Summary",
    "SummaryJson",
    "collect",
    "compare",
    "is_flow_line",
    "iter_rows",
    "log_checkpoint",
    "log_metrics",
    "parse_line",
]

MARKERS = ("__flow__", "__mlflare__")
RESERVED = frozenset({"step", "time", "event", "path"})
CHECKPOINT_EVENTS = frozenset({"checkpoint", "checkpoint_saved"})
_DECODER = json.JSONDecoder()
_STARTS = tuple(f'{{"{m}"' for m in MARKERS)


# -- the workload's side ---------------------------------------------------------------------
def log_metrics(step: int | None = None, *, file: TextIO | None = None, **values: float) -> None:
    """Print one metrics line: ``log_metrics(loss=0.5, accuracy=0.8, step=10)``."""
    bad = [k for k in values if k in RESERVED]
    if bad:
        raise ValueError(f"{', '.join(bad)} is reserved; pass step= as the step number")
    payload: dict[str, float] = dict(values)
    if step is not None:
        payload["step"] = int(step)
    payload["time"] = round(time.time(), 3)
    _emit(payload, file)


def log_checkpoint(
    path: str | os.PathLike[str], *, step: int | None = None, file: TextIO | None = None
) -> None:
    """Print a checkpoint line: flowlib remembers ``path`` (made absolute here) for the task, and
    ``flow resume`` hands the latest to the next run as ``FLOW_RESUME_FROM``."""
    payload: dict[str, object] = {"event": "checkpoint", "path": os.path.abspath(os.fspath(path))}
    if step is not None:
        payload["step"] = int(step)
    payload["time"] = round(time.time(), 3)
    _emit(payload, file)


def _emit(payload: Mapping[str, object], file: TextIO | None) -> None:
    out = file or sys.stdout
    out.write(json.dumps({"__flow__": payload}, allow_nan=True) + "\n")
    out.flush()


# -- the client's side -----------------------------------------------------------------------
class MetricRowJson(TypedDict):
    """:meth:`MetricRow.to_dict` (``flow metrics --json``, the dashboard)."""

    step: int
    time: float | None
    values: dict[str, float]


class CheckpointJson(TypedDict):
    """:meth:`Checkpoint.to_dict`, as a task keeps it (``provider_data["checkpoints"]``)."""

    path: str
    step: int | None
    time: float | None


class SummaryJson(TypedDict):
    """:meth:`Summary.to_dict`: a value that is not finite (NaN, infinity) is None."""

    count: int
    last_step: int
    last: float | None
    min: float | None
    max: float | None


@dataclass(frozen=True)
class MetricRow:
    """One metrics line: its step, when it was logged (epoch seconds, None when the line did not
    say), and the metric values."""

    step: int
    time: float | None
    values: dict[str, float]

    def to_dict(self) -> MetricRowJson:
        return {"step": self.step, "time": self.time, "values": dict(self.values)}


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint the workload announced: its path on the task's machine, step and time."""

    path: str
    step: int | None = None
    time: float | None = None

    def to_dict(self) -> CheckpointJson:
        return {"path": self.path, "step": self.step, "time": self.time}

    @classmethod
    def from_dict(cls, data: Mapping[str, object]) -> Checkpoint:
        return cls(str(data["path"]), _int(data.get("step")), _number(data.get("time")))


@dataclass
class Metrics:
    """What :func:`collect` found in a log."""

    rows: list[MetricRow] = field(default_factory=list)
    checkpoints: list[Checkpoint] = field(default_factory=list)

    def names(self) -> list[str]:
        """Metric names in the order they first appear."""
        seen: dict[str, None] = {}
        for row in self.rows:
            seen.update(dict.fromkeys(row.values))
        return list(seen)

    def series(self, name: str) -> list[tuple[int, float]]:
        return [(r.step, r.values[name]) for r in self.rows if name in r.values]

    def summaries(self) -> dict[str, Summary]:
        """Each metric's :class:`Summary`, in the order the metrics first appear (one pass)."""
        points: dict[str, list[tuple[int, float]]] = {}
        for row in self.rows:
            for name, value in row.values.items():
                points.setdefault(name, []).append((row.step, value))
        return {name: Summary.of(found) for name, found in points.items()}


@dataclass(frozen=True)
class Summary:
    """One metric of one run: how many values, the last step and value, the finite min and max
    (NaN when no value was finite)."""

    count: int
    last_step: int
    last: float
    min: float
    max: float

    @classmethod
    def of(cls, points: list[tuple[int, float]]) -> Summary:
        finite = [v for _, v in points if math.isfinite(v)]
        low, high = (min(finite), max(finite)) if finite else (math.nan, math.nan)
        return cls(len(points), points[-1][0], points[-1][1], low, high)

    def to_dict(self) -> SummaryJson:
        return {
            "count": self.count,
            "last_step": self.last_step,
            "last": _finite(self.last),
            "min": _finite(self.min),
            "max": _finite(self.max),
        }


def compare(runs: dict[str, Metrics]) -> dict[str, dict[str, Summary]]:
    """Runs side by side: metric name -> run -> its :class:`Summary`, for every metric any run
    logged (names in first-seen order across the runs; a run without that metric is absent)."""
    table: dict[str, dict[str, Summary]] = {}
    for run, found in runs.items():
        for name, summary in found.summaries().items():
            table.setdefault(name, {})[run] = summary
    return table


def parse_line(line: str) -> dict[str, object] | None:
    """The payload of a flowlib line (``{"__flow__": {...}}``, also after a prefix such as
    ``[rank0]: ``), or None for any other line, invalid JSON included."""
    if "__" not in line:
        return None
    start = min((i for i in (line.find(s) for s in _STARTS) if i >= 0), default=-1)
    if start < 0:
        return None
    try:
        data, _end = _DECODER.raw_decode(line, start)
    except ValueError:
        return None
    if not isinstance(data, dict) or len(data) != 1:
        return None
    payload = next(iter(data.values()))
    return payload if isinstance(payload, dict) else None  # keys: JSON's, so str


def is_flow_line(line: str) -> bool:
    """True for a metrics or event line (kept out of the human log view)."""
    return parse_line(line) is not None


def iter_rows(lines: Iterable[str], found: Metrics | None = None) -> Iterator[MetricRow]:
    """Metric rows as lines come (for following a log); checkpoints go to ``found``."""
    last_step = -1
    for line in lines:
        payload = parse_line(line)
        if payload is None:
            continue
        step = _int(payload.get("step"))
        when = _number(payload.get("time"))
        event = payload.get("event")
        if event is not None:
            path = payload.get("path")
            if event in CHECKPOINT_EVENTS and isinstance(path, str) and path and found is not None:
                found.checkpoints.append(Checkpoint(path, step, when))
            continue
        values = {
            k: float(v)
            for k, v in payload.items()
            if k not in RESERVED and _is_number(v) and isinstance(k, str)
        }
        if not values:
            continue
        step = last_step + 1 if step is None else step
        last_step = step
        yield MetricRow(step, when, values)


def collect(lines: Iterable[str]) -> Metrics:
    """Every metric row and checkpoint of a log, in order."""
    found = Metrics()
    found.rows.extend(iter_rows(lines, found))
    return found


def _is_number(value: object) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _number(value: object) -> float | None:
    return float(value) if _is_number(value) and math.isfinite(value) else None


def _int(value: object) -> int | None:
    if _is_number(value) and math.isfinite(value) and float(value).is_integer():
        return int(value)
    return None
