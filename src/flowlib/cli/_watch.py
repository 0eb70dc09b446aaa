"""``flow wait TASK`` and ``flow status --watch``: staying with tasks until they end."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

from flowlib.cli._submitted import ended, keeps_running
from flowlib.cli._views import list_tasks, task_details, task_table
from flowlib.errors import ValidationError
from flowlib.flow import Flow
from flowlib.models import Task

__all__ = ["cmd_wait", "watch_status"]

# Home, then clear the screen: the terminal redraws in place, as watch(1) does.
_REDRAW = "\x1b[H\x1b[2J"


def cmd_wait(args: argparse.Namespace) -> int:
    """Wait for the task; exit with its exit status (``exit_status``), 8 on ``--timeout``."""
    with Flow(home=args.home) as flow:
        task = flow.get_task(args.task)
        if not task.is_terminal and not args.json:
            print(f"waiting for {task.task_id} ({task.name}): {task.status}", file=sys.stderr)
        try:
            task = flow.wait(task.task_id, timeout=args.timeout)
        except KeyboardInterrupt:
            keeps_running(task, "waiting")
            return 130
        return ended(flow, task, args)


def watch_status(
    args: argparse.Namespace,
    *,
    out: TextIO | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """``flow status --watch``: look every ``--interval`` seconds until Ctrl-C (exit 0),
    ``--count`` looks or, with ``--until-done``, until every task shown has ended. A terminal
    is redrawn at each look; a pipe gets a new view only when a task changed (its status,
    exit code or message, not its age), so ``flow status --watch | tee`` is a change log."""
    if args.json:
        raise ValidationError(
            "--watch draws tables; --json prints one answer",
            suggestions=["flow status --json (once), or flow wait TASK --json (when it ends)"],
        )
    out = out or sys.stdout
    tty = out.isatty()
    last: object = None
    looks = 0
    try:
        with Flow(home=args.home) as flow:
            while True:
                tasks = [flow.get_task(args.task)] if args.task else list_tasks(flow, args)
                looks += 1
                state = [(t.task_id, t.status, t.exit_code, t.message) for t in tasks]
                if tty or state != last:
                    _show(out, tasks, args, tty)
                last = state
                done = all(t.is_terminal for t in tasks)
                if (args.count and looks >= args.count) or (args.until_done and done):
                    break
                sleep(args.interval)
    except KeyboardInterrupt:
        print(file=out)
    return 0


def _show(out: TextIO, tasks: list[Task], args: argparse.Namespace, tty: bool) -> None:
    view = task_details(tasks[0]) if args.task else task_table(tasks, args)
    when = time.strftime("%H:%M:%S")
    header = f"every {args.interval:g}s, {when} (Ctrl-C stops)"
    if tty:
        out.write(f"{_REDRAW}{header}\n\n{view}\n")
    else:
        out.write(f"-- {when}\n{view}\n")
    out.flush()
