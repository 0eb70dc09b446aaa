"""``flow keeper``: what this home's keeper is doing (:mod:`flowlib.keeper`)."""

from __future__ import annotations

import argparse

from flowlib.cli._output import print_json

__all__ = ["cmd_keeper"]


def cmd_keeper(args: argparse.Namespace) -> int:
    from flowlib.config import load_config
    from flowlib.core.keeper_process import read_state

    config = load_config({"home": args.home})
    state = read_state(config.home)
    if args.json:
        print_json({"enabled": config.keeper, **(state or {"running": False})})
        return 0
    if not config.keeper:
        print("keeper: off (keeper: false in the config, or FLOW_KEEPER=0)")
    if state is None:
        print("keeper: none has run here; one starts when a cloud task is submitted")
        return 0
    if state["running"]:
        print(
            f"keeper: running (pid {state['pid']}), watching {state['live_tasks']} live "
            f"task(s); last look {state['last_poll_at'][:19]}Z, {state['polls']} looks since "
            f"{state['started_at'][:19]}Z"
        )
        for name, why in state.get("unanswered", {}).items():
            print(f"keeper: its last look could not ask {name} ({why}); it asks again")
    else:
        print(
            f"keeper: not running (it last looked at {state['last_poll_at'][:19]}Z and left "
            "when nothing was live); the next cloud submit starts it"
        )
    return 0
