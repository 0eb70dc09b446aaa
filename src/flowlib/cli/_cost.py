"""``flow cost``: what tasks cost, from the price each was started at (kept on the task) and
its billed time; totals by provider, by task name, or one row per task."""

from __future__ import annotations

import argparse
import re
import sys
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from flowlib.cli._output import print_json, table
from flowlib.errors import ValidationError

if TYPE_CHECKING:
    from flowlib.models import Task

__all__ = ["cmd_cost", "parse_since", "totals"]


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """``2026-01-31``, ``2026-01-31T12:00``, or an age: ``7d``, ``12h``, ``30m``."""
    now = now or datetime.now(timezone.utc)
    age = re.fullmatch(r"\s*(\d+)\s*([dhm])\s*", text)
    if age:
        unit = {"d": "days", "h": "hours", "m": "minutes"}[age.group(2)]
        return now - timedelta(**{unit: int(age.group(1))})
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValidationError(
            f"--since {text!r} is neither a date nor an age",
            suggestions=["--since 2026-01-31, --since 2026-01-31T09:00, --since 7d"],
        ) from None
    return when if when.tzinfo else when.replace(tzinfo=timezone.utc)


def totals(tasks: list[Task], by: str) -> list[dict[str, Any]]:
    """One row per group (``provider``, ``name``, ``task``): tasks, priced tasks, instance
    hours and dollars, most expensive first."""
    groups: dict[str, dict[str, Any]] = {}
    for t in tasks:
        key = {"provider": t.provider, "name": t.name}.get(by, t.task_id)
        row = groups.setdefault(
            key, {by: key, "tasks": 0, "priced": 0, "hours": 0.0, "cost": 0.0, "running": 0}
        )
        row["tasks"] += 1
        if t.cost is not None:
            row["priced"] += 1
            row["hours"] += t.cost.hours * t.cost.nodes
            row["cost"] += t.cost.amount
            row["running"] += 0 if t.cost.final else 1
    return sorted(groups.values(), key=lambda r: (-r["cost"], str(r[by])))


def cmd_cost(args: argparse.Namespace) -> int:
    from flowlib.flow import Flow

    since = parse_since(args.since) if args.since else None
    with Flow(home=args.home) as flow:
        tasks = flow.list_tasks(limit=sys.maxsize, provider=args.provider)
    if since is not None:
        tasks = [t for t in tasks if t.created_at >= since]
    rows = totals(tasks, args.by)
    total = sum(r["cost"] for r in rows)
    if args.json:
        print_json({"since": since.isoformat() if since else None, "by": args.by,
                    "total": round(total, 6), "groups": rows})  # fmt: skip
        return 0
    if not tasks:
        print("no tasks" + (f" since {since:%Y-%m-%d %H:%M}" if since else ""))
        return 0
    cells = [
        [
            str(r[args.by]),
            str(r["tasks"]),
            f"{r['hours']:.2f}",
            f"${r['cost']:,.2f}" + (" so far" if r["running"] else ""),
        ]
        for r in rows
    ]
    print(table([args.by.upper(), "TASKS", "INSTANCE-HOURS", "COST"], cells, right=(1, 2, 3)))
    unpriced = sum(r["tasks"] - r["priced"] for r in rows)
    print(f"total: ${total:,.2f}" + (f" since {since:%Y-%m-%d %H:%M} UTC" if since else ""))
    if unpriced:
        print(f"({unpriced} task(s) without a price: this machine, SLURM, or no offer planned)")
    return 0
