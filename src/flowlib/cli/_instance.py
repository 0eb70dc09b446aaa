"""``flow instance list|show|wake|hibernate|delete``: persistent instances (``flow run --on``)."""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from typing import Any

from flowlib.cli._output import duration, print_json, table
from flowlib.flow import Flow

__all__ = ["cmd_instance", "describe_state"]


def describe_state(view: Mapping[str, Any]) -> str:
    """``cooldown (4m left)``, ``hibernated``, ``running task-...``: one instance's state."""
    state = str(view.get("state"))
    if view.get("running"):
        state = f"running {view['running']}"
    elif state == "cooldown" and view.get("cooldown_left_s") is not None:
        left = float(view["cooldown_left_s"])
        state = f"cooldown ({duration(left)} left, then {view.get('policy')})"
    if view.get("detail"):
        state += f": {view['detail']}"
    return state


def _queue(view: Mapping[str, Any]) -> str:
    queued = [*view.get("queue", []), *view.get("undelivered", [])]
    return ", ".join(queued) if queued else "-"


def cmd_instance(args: argparse.Namespace) -> int:
    action = args.instance_command
    name = getattr(args, "name", None)
    with Flow(provider=args.provider, home=args.home) as flow:
        boxes = flow.persistent_instances()
        if action == "list" and name is None:
            views = boxes.list_all()
        elif action in ("list", "show"):
            views = [boxes.describe(str(name))]  # show: NAME is required
        else:
            views = [getattr(boxes, action)(name)]
    if args.json:
        print_json(views if action == "list" else views[0])
        return 0
    if action == "list" and not views:
        print("no persistent instances yet; try: flow run --on my-a6000 python train.py")
        return 0
    if action in ("wake", "hibernate", "delete"):
        done = {"wake": "woken", "hibernate": "asleep or going to sleep", "delete": "deleted"}
        print(f"instance {views[0]['name']}: {done[action]}")
    rows = [
        [
            str(v["name"]),
            describe_state(v),
            str(v.get("flavor") or "-"),
            str(v.get("region") or "-"),
            str(v.get("ip") or "-"),
            _queue(v),
        ]
        for v in views
    ]
    print(table(["INSTANCE", "STATE", "FLAVOR", "REGION", "IP", "QUEUE"], rows))
    return 0
