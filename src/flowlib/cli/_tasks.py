"""``flow status``, ``flow logs`` and ``flow cancel``: questions about tasks already submitted."""

from __future__ import annotations

import argparse
import sys

from flowlib.cli._output import exit_status, print_error, print_json, task_view
from flowlib.cli._submitted import end_line, keeps_running
from flowlib.cli._views import list_tasks, parse_statuses, task_details, task_table
from flowlib.cli._watch import watch_status
from flowlib.errors import FlowError, ValidationError
from flowlib.flow import Flow
from flowlib.models import Task

# parse_statuses is also flow ui's (ui/_views.py reads the same --status words from here).
__all__ = ["cmd_cancel", "cmd_logs", "cmd_status", "parse_statuses"]


def cmd_status(args: argparse.Namespace) -> int:
    if getattr(args, "watch", False):
        return watch_status(args)
    with Flow(home=args.home) as flow:
        if args.task:
            task = flow.get_task(args.task)
            _say_unanswered(flow)
            if args.json:
                print_json(task_view(task))
            else:
                print(task_details(task, flow.checkpoints(task.task_id)))
            return 0
        tasks = list_tasks(flow, args)
        _say_unanswered(flow)
        instances = [] if args.json else _instances(flow, tasks)
    if args.json:
        print_json([task_view(t) for t in tasks])
        return 0
    print(task_table(tasks, args, instances))
    return 0


def _say_unanswered(flow: Flow) -> None:
    """A provider that could not be asked is said on stderr: its tasks show what was stored."""
    for name, why in flow.lifecycle.unanswered.items():
        print(
            f"note: {name} could not be asked ({why}); its tasks show their last known state",
            file=sys.stderr,
        )


def _instances(flow: Flow, tasks: list[Task]) -> list[str]:
    """One line per persistent instance an unfinished listed task runs on: its state, queue."""
    from flowlib.cli._instance import describe_state

    wanted = sorted(
        {
            (t.provider, t.config.instance_name)
            for t in tasks
            if t.config is not None and t.config.instance_name and not t.is_terminal
        }
    )
    lines = []
    for provider, name in wanted:
        try:
            view = flow.persistent_instances(provider).describe(name)
        except FlowError as exc:
            lines.append(f"{name}: unknown ({exc.message})")
            continue
        queued = [*view["queue"], *view["undelivered"]]
        queue = f"; queue: {', '.join(queued)}" if queued else "; queue empty"
        lines.append(f"{name}: {describe_state(view)}{queue}")
    return lines


def cmd_logs(args: argparse.Namespace) -> int:
    """A task's output; with ``-f`` until it ends, then the task's own exit status (as
    ``flow run -f``). ``--json``: one object, or with ``-f`` one object per line (NDJSON)."""
    with Flow(home=args.home) as flow:
        if args.follow:
            if args.tail is not None:
                raise ValidationError(
                    "--tail cannot be combined with --follow yet: -f prints the whole log",
                    suggestions=[f"flow logs {args.task} --tail {args.tail}, then -f"],
                )
            return _follow(flow, flow.get_task(args.task), args)
        text = flow.logs(args.task, tail=args.tail, include_metrics=args.metrics)
        if args.json:
            task = flow.get_task(args.task)
            print_json({**_ref(task), "lines": text.splitlines()})
        elif text:
            print(text)
        elif args.tail != 0:
            task = flow.get_task(args.task)
            print(
                f"(no output from {task.task_id} ({task.name}) yet: it is {task.status})",
                file=sys.stderr,
            )
    return 0


def _ref(task: Task) -> dict[str, object]:
    return {"task_id": task.task_id, "name": task.name, "status": task.status.value}


def _follow(flow: Flow, task: Task, args: argparse.Namespace) -> int:
    import json

    from flowlib.cli._waiting import follow_with_status

    lines = (
        flow.follow_logs(task.task_id, include_metrics=args.metrics)
        if args.json
        else follow_with_status(flow, task, include_metrics=args.metrics)
    )
    try:
        for line in lines:
            if args.json:
                record = {"type": "line", "task_id": task.task_id, "line": line}
                print(json.dumps(record), flush=True)
            else:
                print(line, flush=True)
        task = flow.wait(task.task_id)
    except KeyboardInterrupt:
        keeps_running(task, "following")
        return 130
    if args.json:
        end = {"type": "end", **_ref(task), "exit_code": task.exit_code, "message": task.message}
        print(json.dumps(end), flush=True)
    else:
        print(end_line(task), file=sys.stderr)
    return exit_status(task)


def _array_ref(flow: Flow, ref: str) -> str:
    """``--array`` takes flowlib's array id (any task of the array) or, before that, SLURM's
    array job id (the number ``squeue`` shows), which could also be a task id prefix."""
    if ref.isdigit():
        for record in flow.store.list(limit=10_000):  # array job ids are SLURM's
            if str(record.provider_data.get("job_id", "")).startswith(f"{ref}_"):
                return record.task_id
    return ref


def _cancel_arrays(flow: Flow, args: argparse.Namespace, failed: list[FlowError]) -> list[object]:
    results: list[object] = []
    for ref in getattr(args, "array", None) or []:
        try:
            tasks = flow.cancel_array(_array_ref(flow, ref))
        except FlowError as exc:
            failed.append(exc)
            results.append({"array": ref, **exc.to_dict()})
            if not args.json:
                print_error(exc)
            continue
        results.extend(task_view(t) for t in tasks)
        if not args.json:
            for task in tasks:
                print(f"{task.task_id} ({task.name}): {task.status}")
    return results


def cmd_cancel(args: argparse.Namespace) -> int:
    """Cancel each task and each ``--array``; one failure does not stop the others. The exit
    status is the first failure's (0 when every cancel worked)."""
    if not args.tasks and not getattr(args, "array", None):
        raise ValidationError(
            "flow cancel needs a task or --array ARRAY",
            suggestions=["flow cancel TASK...", "flow cancel --array ARRAY (every task of it)"],
        )
    failed: list[FlowError] = []
    results = []
    with Flow(home=args.home) as flow:
        results.extend(_cancel_arrays(flow, args, failed))
        for ref in args.tasks:
            try:
                task = flow.cancel(ref)
            except FlowError as exc:
                failed.append(exc)
                results.append({"task": ref, **exc.to_dict()})
                if not args.json:
                    print_error(exc)
                continue
            results.append(task_view(task))
            if not args.json:
                print(f"{task.task_id} ({task.name}): {task.status}")
    if args.json:
        print_json(results)
    return failed[0].exit_code if failed else 0
