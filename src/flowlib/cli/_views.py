"""How ``flow status`` shows tasks: the table of recent tasks and one task in detail (also
redrawn by ``flow status --watch``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowlib.cli._output import ago, duration, shorten, table, timestamp
from flowlib.errors import ValidationError
from flowlib.models import TaskStatus

if TYPE_CHECKING:
    from flowlib.flow import Flow
    from flowlib.metrics import Checkpoint
    from flowlib.models import Task

__all__ = ["list_tasks", "parse_statuses", "task_details", "task_table"]


def parse_statuses(values: list[str] | None) -> list[TaskStatus] | None:
    """``--status running,pending --status failed`` as statuses (None: no filter)."""
    if not values:
        return None
    wanted: list[TaskStatus] = []
    for word in (w.strip().lower() for v in values for w in v.split(",")):
        try:
            wanted.append(TaskStatus(word))
        except ValueError:
            valid = ", ".join(s.value for s in TaskStatus)
            raise ValidationError(
                f"unknown task status {word!r}", suggestions=[f"use one of: {valid}"]
            ) from None
    return wanted


def list_tasks(flow: Flow, args: argparse.Namespace) -> list[Task]:
    """The tasks ``flow status`` lists for ``args`` (--status, --provider, --limit, --all)."""
    limit = sys.maxsize if args.all else args.limit
    return flow.list_tasks(status=parse_statuses(args.status), limit=limit, provider=args.provider)


def task_table(tasks: list[Task], args: argparse.Namespace, instances: Sequence[str] = ()) -> str:
    """``flow status``'s table of ``tasks`` (with the lines about persistent instances)."""
    if not tasks:
        if args.status or args.provider:
            return "no tasks match"
        return 'no tasks yet; try: flow run "echo hello" --wait'
    rows = [
        [t.task_id, t.name, t.status.value, t.provider, ago(t.created_at), _outcome(t)]
        for t in tasks
    ]
    headers = ["ID", "NAME", "STATUS", "PROVIDER", "CREATED", "EXIT / MESSAGE"]
    if any(t.cost is not None for t in tasks):  # priced tasks: what each cost so far
        headers.insert(5, "COST")
        for row, t in zip(rows, tasks, strict=True):
            row.insert(5, "-" if t.cost is None else f"${t.cost.amount:,.2f}")
    lines = [table(headers, rows)]
    if not args.all and len(tasks) == args.limit:
        lines.append(f"(the {args.limit} newest; --all or --limit N shows more)")
    if instances:
        lines.append("\npersistent instances (flow instance list):")
        lines.extend(f"  {line}" for line in instances)
    return "\n".join(lines)


def _outcome(task: Task) -> str:
    parts = [] if task.exit_code is None else [str(task.exit_code)]
    if task.message:
        parts.append(shorten(task.message, 60))
    return " ".join(parts) or "-"


def task_details(task: Task, checkpoints: Sequence[Checkpoint] = ()) -> str:
    """``flow status TASK``: one task in detail, and what to run next (``checkpoints``: what
    it announced, for the resume hint)."""
    config = task.config
    status = task.status.value
    if task.exit_code is not None:
        status += f", exit code {task.exit_code}"
    lines = [("status", status)]
    if task.message:
        lines.append(("message", task.message))
    lines.append(("provider", task.provider))
    if task.instance_type:
        lines.append(("instance type", task.instance_type))
    if config is not None and config.instance_name:
        lines.append(("instance", f"{config.instance_name} (flow instance show)"))
    if config is not None:
        lines.append(("workload", config.workload))
        if config.env:
            lines.append(("env", ", ".join(config.env) + " (values hidden)"))
        if config.max_run_time_hours is not None:
            lines.append(("time limit", f"{config.max_run_time_hours:g} h"))
        lines.append(("code", str(config.code_dir) if config.upload_code else "not uploaded"))
    lines.append(("created", timestamp(task.created_at)))
    if task.started_at:
        lines.append(("started", timestamp(task.started_at)))
    if task.completed_at:
        ran = ""
        if task.started_at:
            ran = f", ran {duration((task.completed_at - task.started_at).total_seconds())}"
        lines.append(("ended", timestamp(task.completed_at) + ran))
    if task.cost is not None:
        c = task.cost
        nodes = f" x {c.nodes} nodes" if c.nodes > 1 else ""
        billed = "billed by the provider" if c.source == "provider" else "from start to end"
        lines.append(
            ("cost", f"{c} (${c.price_per_hour:,.2f}/h{nodes} x {c.hours:.2f} h, {billed})")
        )
    if task.created_by:
        lines.append(("created by", task.created_by))
    width = max(len(k) for k, _ in lines) + 1
    out = [f"{task.task_id} ({task.name})"]
    out.extend(f"  {(key + ':').ljust(width)} {value}" for key, value in lines)
    out.append("")
    if task.is_terminal:
        from flowlib.cli._resume import resume_hints, stopped_early

        out.append(f"  flow logs {task.task_id}      # its output")
        if stopped_early(task):
            out.extend(f"  {hint}" for hint in resume_hints(task, checkpoints))
    else:
        out.append(f"  flow logs {task.task_id} -f   # follow its output")
        out.append(f"  flow wait {task.task_id}      # wait for it to end")
        out.append(f"  flow cancel {task.task_id}    # stop it")
    return "\n".join(out)
