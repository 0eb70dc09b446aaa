"""``flow resume``: submit a task again from its latest checkpoint."""

from __future__ import annotations

import argparse

from flowlib.cli._output import exit_status, print_json, task_view
from flowlib.flow import Flow
from flowlib.models import Task, TaskStatus

__all__ = ["cmd_resume", "resume_hint", "stopped_early"]

# Provider states that mean "the machine was taken away", not "the workload failed".
PREEMPTED = frozenset({"preempted", "interrupted", "reclaimed", "spot-terminated"})
EXIT_TIMEOUT = 124  # core.startup: the workload was stopped by its time limit


def stopped_early(task: Task) -> bool:
    """True when the task was cut off (time limit, preemption) rather than failing by itself."""
    if task.status != TaskStatus.FAILED and task.status != TaskStatus.CANCELLED:
        return False
    if (task.provider_state or "").lower() in PREEMPTED:
        return True
    return task.status == TaskStatus.FAILED and task.exit_code == EXIT_TIMEOUT


def resume_hint(task: Task) -> str | None:
    """The line to show under a task that was cut off: how to continue it."""
    if not stopped_early(task):
        return None
    return f"flow resume {task.task_id}   # continue from its latest checkpoint"


def cmd_resume(args: argparse.Namespace) -> int:
    with Flow(home=args.home) as flow:
        before = flow.get_task(args.task)
        checkpoint = flow.checkpoints(before.task_id)[-1:] or None
        task = flow.resume(before.task_id)
        if args.wait:
            task = flow.wait(task.task_id)
    if args.json:
        print_json(task_view(task))
    else:
        where = checkpoint[0].path if checkpoint else "?"
        print(
            f"resumed {before.task_id} ({before.name}) as {task.task_id} on {task.provider}, "
            f"FLOW_RESUME_FROM={where}: {task.status}"
        )
        if not args.wait:
            print(f"  flow logs {task.task_id} -f     # follow its output")
    return exit_status(task) if args.wait else 0
