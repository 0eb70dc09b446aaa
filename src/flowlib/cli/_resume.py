"""``flow resume``: submit a task again from its latest checkpoint."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import TYPE_CHECKING, TextIO

from flowlib.cli._output import exit_status, print_json, task_view
from flowlib.flow import Flow
from flowlib.models import Task, TaskStatus

if TYPE_CHECKING:
    from flowlib.metrics import Checkpoint

__all__ = ["cmd_resume", "print_end_hints", "resume_hints", "stopped_early"]

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


def resume_hints(task: Task, checkpoints: Sequence[Checkpoint]) -> list[str]:
    """The lines to show under a task that was cut off: ``flow resume`` when it announced a
    checkpoint (the only case in which that command works), else how to make it resumable."""
    if not stopped_early(task):
        return []
    if checkpoints:
        return [f"flow resume {task.task_id}   # continue from {checkpoints[-1].path}"]
    why = (
        "its time limit"
        if task.exit_code == EXIT_TIMEOUT and task.status == TaskStatus.FAILED
        else "its machine going away"
    )
    return [
        f"# cut off by {why}, with no checkpoint announced, so there is nothing to resume:",
        "# have the workload call flowlib.log_checkpoint(path) after each save, and read",
        "# FLOW_RESUME_FROM when it starts; then `flow resume` continues such a run",
    ]


def print_end_hints(flow: Flow, task: Task, *, file: TextIO | None = None) -> None:
    """What to do next with a task that ended without completing: its output, and how to
    continue it when it was cut off."""
    lines = [f"flow logs {task.task_id}      # see its output"]
    if stopped_early(task):
        lines += resume_hints(task, flow.checkpoints(task.task_id))
    for line in lines:
        print(f"  {line}", file=file)


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
