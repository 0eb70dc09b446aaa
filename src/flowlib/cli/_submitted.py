"""After a submit: following or waiting for the task (Ctrl-C leaves it running), the line it
ends with, and the notes on where a planned task went. ``flow run``, ``flow run job.sbatch``,
``flow wait`` and ``flow logs -f`` end the same way."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, TextIO

from flowlib.cli._output import duration, exit_status, print_json, task_view
from flowlib.models import TaskStatus

if TYPE_CHECKING:
    from flowlib.flow import Flow
    from flowlib.models import Task

__all__ = ["end_line", "ended", "follow", "keeps_running", "print_plan_notes", "wait"]


def print_plan_notes(flow: Flow, task: Task) -> None:
    """The offer a planned task went to, its price, and the offers it moved past."""
    plan = flow.store.get(task.task_id).provider_data.get("plan")
    if not isinstance(plan, dict):
        return
    for note in plan.get("fallbacks") or []:
        print(f"  note: {note}", file=sys.stderr)
    price = plan.get("price_per_hour")
    shown = "price unknown" if price is None else f"${price:,.2f}/h"
    worst = plan.get("worst_case_cost")
    where = plan.get("region") or "the region the provider chose"
    at_most = "" if worst is None else f", at most ${worst:,.2f}"
    print(f"  on {plan.get('instance_type')} in {where}, {shown}{at_most}")


def end_line(task: Task) -> str:
    """``ID (NAME) STATUS after DURATION, exit code N: MESSAGE``: how an ended task is told."""
    took = ""
    if task.started_at and task.completed_at:
        took = f" after {duration((task.completed_at - task.started_at).total_seconds())}"
    code = "" if task.exit_code is None else f", exit code {task.exit_code}"
    line = f"{task.task_id} ({task.name}) {task.status}{took}{code}"
    if task.message and task.status != TaskStatus.COMPLETED:
        line += f": {task.message}"
    return line


def wait(flow: Flow, task: Task, args: argparse.Namespace) -> int:
    """``--wait``: a status line until the task ends, then its end (and, when it did not
    complete, what to do next); the task's exit status."""
    from flowlib.cli._waiting import WaitDisplay

    if not args.json:
        print(
            f"submitted {task.task_id} ({task.name}) on {task.provider}; waiting for it to end",
            flush=True,
        )
    try:
        with WaitDisplay(task) as display:
            task = flow.wait(
                task.task_id,
                on_poll=lambda t: display.update(t, flow.lifecycle.unanswered.get(t.provider)),
            )
    except KeyboardInterrupt:
        keeps_running(task, "waiting")
        return 130
    return ended(flow, task, args, hints=True)


def follow(flow: Flow, task: Task, args: argparse.Namespace) -> int:
    """``--follow``: the task's output until it ends, then its end; the task's exit status."""
    # With --json, stdout holds only the JSON: the log lines go to stderr.
    out = sys.stderr if args.json else sys.stdout
    print(
        f"submitted {task.task_id} ({task.name}) on {task.provider}; following its output "
        "(Ctrl-C stops following, not the task)",
        file=sys.stderr,
    )
    from flowlib.cli._waiting import follow_with_status

    try:
        for line in follow_with_status(flow, task):
            print(line, file=out, flush=True)
        task = flow.wait(task.task_id)
    except KeyboardInterrupt:
        keeps_running(task, "following")
        return 130
    return ended(flow, task, args, out=sys.stderr)


def ended(
    flow: Flow,
    task: Task,
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    hints: bool = False,
) -> int:
    """How a command that stayed with ``task`` ends: its JSON (``--json``) or its end line on
    ``out`` (with ``hints``, what to do next when it did not complete); its exit status."""
    if args.json:
        print_json(task_view(task))
        return exit_status(task)
    print(end_line(task), file=out or sys.stdout)
    if hints and task.status != TaskStatus.COMPLETED:
        from flowlib.cli._resume import print_end_hints

        print_end_hints(flow, task)
    return exit_status(task)


def keeps_running(task: Task, doing: str) -> None:
    """What Ctrl-C while ``doing`` (waiting, following) leaves: the task, and how to stop it."""
    print(
        f"\nstopped {doing}; task {task.task_id} ({task.name}) keeps running. "
        f"Cancel it with: flow cancel {task.task_id}",
        file=sys.stderr,
    )
