"""``flow status``, ``flow logs`` and ``flow cancel``: questions about tasks already submitted."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from flowlib.cli._output import (
    ago,
    duration,
    print_error,
    print_json,
    shorten,
    table,
    task_view,
    timestamp,
)
from flowlib.errors import FlowError, ValidationError
from flowlib.flow import Flow
from flowlib.models import Task, TaskStatus

if TYPE_CHECKING:
    from flowlib.metrics import Checkpoint

__all__ = [
    "cmd_cancel",
    "cmd_logs",
    "cmd_status",
    "list_tasks",
    "parse_statuses",
    "task_details",
    "task_table",
]


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


def cmd_status(args: argparse.Namespace) -> int:
    if getattr(args, "watch", False):
        from flowlib.cli._watch import watch_status

        return watch_status(args)
    with Flow(home=args.home) as flow:
        if args.task:
            task = flow.get_task(args.task)
            if args.json:
                print_json(task_view(task))
            else:
                print(task_details(task, flow.checkpoints(task.task_id)))
            return 0
        tasks = list_tasks(flow, args)
        instances = [] if args.json else _instances(flow, tasks)
    if args.json:
        print_json([task_view(t) for t in tasks])
        return 0
    print(task_table(tasks, args, instances))
    return 0


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
    lines = [table(["ID", "NAME", "STATUS", "PROVIDER", "CREATED", "EXIT / MESSAGE"], rows)]
    if not args.all and len(tasks) == args.limit:
        lines.append(f"(the {args.limit} newest; --all or --limit N shows more)")
    if instances:
        lines.append("\npersistent instances (flow instance list):")
        lines.extend(f"  {line}" for line in instances)
    return "\n".join(lines)


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

    from flowlib.cli._output import exit_status
    from flowlib.cli._run import _end_line
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
        print(
            f"\nstopped following; task {task.task_id} ({task.name}) keeps running. "
            f"Cancel it with: flow cancel {task.task_id}",
            file=sys.stderr,
        )
        return 130
    if args.json:
        end = {"type": "end", **_ref(task), "exit_code": task.exit_code, "message": task.message}
        print(json.dumps(end), flush=True)
    else:
        print(_end_line(task), file=sys.stderr)
    return exit_status(task)


def _array_ref(flow: Flow, ref: str) -> str:
    """``--array`` takes flowlib's array id (any task of the array) or, before that, SLURM's
    array job id (the number ``squeue`` shows), which could also be a task id prefix."""
    if ref.isdigit():
        for record in flow.store.list(provider="slurm", limit=10_000):
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
