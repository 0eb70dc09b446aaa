"""``flow artifacts TASK`` and ``flow download TASK [PATH] [-o DIR]``: what a task left, found
after its machine is gone (:mod:`flowlib.results`)."""

from __future__ import annotations

import argparse

from flowlib.cli._output import print_json, table

__all__ = ["cmd_artifacts", "cmd_download"]


def _size(size: int | None) -> str:
    if size is None:
        return "-"
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1000 or unit == "GB":
            return f"{size} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1000  # type: ignore[assignment]
    return "-"


def cmd_artifacts(args: argparse.Namespace) -> int:
    from flowlib.flow import Flow

    with Flow(home=args.home) as flow:
        task = flow.get_task(args.task)
        found = flow.artifacts(task.task_id)
    if args.json:
        print_json(
            {
                "task_id": task.task_id,
                "name": task.name,
                "status": task.status.value,
                "artifacts": [a.to_dict() for a in found],
            }
        )
        return 0
    if not found:
        print(f"{task.task_id} ({task.name}, {task.status}) left nothing flowlib can find")
        return 0
    rows = [[a.kind, a.name, _size(a.size), a.where] for a in found]
    print(table(["KIND", "NAME", "SIZE", "WHERE"], rows, right=[2]))
    return 0


def cmd_download(args: argparse.Namespace) -> int:
    from pathlib import Path

    from flowlib.flow import Flow

    with Flow(home=args.home) as flow:
        task = flow.get_task(args.task)
        target = Path(args.output) if args.output else None
        written = flow.download(task.task_id, args.path, target)
    if args.json:
        print_json({"task_id": task.task_id, "files": [str(p) for p in written]})
        return 0
    for path in written:
        print(path)
    return 0
