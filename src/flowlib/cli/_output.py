"""How the CLI prints: aligned text tables, relative times, JSON, errors. Standard library only.

Nothing printed here carries a secret: task ``env`` values are secrets as far as flowlib is
concerned (docs/configuration.md), so every view of a task shows the keys and masks the values.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any, TextIO

from flowlib.providers.base import MASK  # one mask for every secret shown

if TYPE_CHECKING:
    from flowlib.errors import FlowError
    from flowlib.models import Task, TaskConfig

__all__ = [
    "MASK",
    "ago",
    "config_view",
    "duration",
    "exit_status",
    "print_error",
    "print_json",
    "table",
    "task_view",
    "timestamp",
]


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], *, right: Sequence[int] = ()
) -> str:
    """Rows as aligned columns under ``headers``; columns in ``right`` align right (numbers)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))

    def line(cells: Sequence[str]) -> str:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        return "  ".join(parts).rstrip()

    return "\n".join([line(headers), *(line(r) for r in rows)])


def shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3].rstrip() + "..."


def ago(when: datetime | None, now: datetime | None = None) -> str:
    """``3s ago``, ``5m ago``, ``2h ago``, ``4d ago``; the date beyond a week."""
    if when is None:
        return "-"
    now = now or datetime.now(timezone.utc)
    seconds = (now - when).total_seconds()
    if seconds < 0:
        return "just now"
    if seconds >= 7 * 86400:
        return when.strftime("%Y-%m-%d")
    return f"{duration(seconds)} ago"


def duration(seconds: float) -> str:
    """A length of time in its largest unit: ``42s``, ``3m``, ``5h``, ``2d``."""
    seconds = max(0, int(seconds))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def timestamp(when: datetime | None) -> str:
    if when is None:
        return "-"
    return f"{when.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC ({ago(when)})"


def print_json(data: Any, file: TextIO | None = None) -> None:
    print(json.dumps(data, indent=2, default=str), file=file or sys.stdout)


def print_error(exc: FlowError, *, as_json: bool = False) -> None:
    """``error: message`` and a ``hint:`` line per suggestion on stderr (JSON on stdout)."""
    if as_json:
        print_json(exc.to_dict())
        return
    print(f"error: {exc.message}", file=sys.stderr)
    for tip in exc.suggestions:
        print(f"  hint: {tip}", file=sys.stderr)


def _masked(env: Mapping[str, str]) -> dict[str, str]:
    return dict.fromkeys(env, MASK)


def config_view(config: TaskConfig) -> dict[str, Any]:
    """A TaskConfig as JSON-ready data, env values masked."""
    data = config.model_dump(mode="json")
    data["env"] = _masked(config.env)
    return data


def task_view(task: Task) -> dict[str, Any]:
    """A Task as JSON-ready data, env values masked."""
    data = task.model_dump(mode="json")
    if task.config is not None:
        data["config"] = config_view(task.config)
    return data


def exit_status(task: Task) -> int:
    """The process exit status that stands for how ``task`` ended (``--wait``, ``--follow``)."""
    from flowlib.models import TaskStatus

    if task.status == TaskStatus.COMPLETED:
        return 0
    code = task.exit_code
    if code is None or code == 0:
        return 130 if task.status == TaskStatus.CANCELLED else 1
    # A shell reports death by signal N as 128+N; a negative code is the same death, unshifted.
    return code if 0 < code <= 255 else (128 - code if -64 < code < 0 else 1)
