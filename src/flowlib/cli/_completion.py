"""``flow completion bash|zsh|fish``: a static completion script, generated from flow's own
argument parser by shtab (https://github.com/iterative/shtab), so it never drifts from it."""

from __future__ import annotations

import argparse

from flowlib.errors import ConfigError

__all__ = ["cmd_completion", "completion_script"]


def completion_script(shell: str) -> str:
    """The completion script for ``shell`` (one of ``flowlib.cli._parser.SHELLS``)."""
    try:
        import shtab
    except ImportError:  # a trimmed install: shtab is a dependency of flowlib
        raise ConfigError(
            "flow completion needs the shtab package, which is not installed",
            suggestions=["pip install shtab (or reinstall flowlib: pip install flowlib)"],
        ) from None
    from flowlib.cli._parser import build_parser

    parser = build_parser()
    _complete_tasks(parser)
    script: str = shtab.complete(parser, shell=shell)
    return script


# TASK arguments complete to the ids and names of the newest tasks, read from `flow status`'s
# table when TAB is pressed (so the script never holds a task list of its own).
_LIST_TASKS = "flow status --limit 50 2>/dev/null | awk '/^task-/ {print $1; print $2}'"
_TASKS = {
    "bash": "_flow_compgen_tasks",
    "zsh": f"($({_LIST_TASKS}))",
    "fish": f"({_LIST_TASKS})",
    "preamble": {
        "bash": f'_flow_compgen_tasks() {{\n  compgen -W "$({_LIST_TASKS})" -- "$1"\n}}\n',
    },
}


def _complete_tasks(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if action.dest in ("task", "tasks"):
            action.complete = _TASKS  # type: ignore[attr-defined]  # read by shtab
        for sub in getattr(action, "choices", None) or {}:
            if isinstance(action.choices, dict) and isinstance(
                action.choices[sub], argparse.ArgumentParser
            ):
                _complete_tasks(action.choices[sub])


def cmd_completion(args: argparse.Namespace) -> int:
    print(completion_script(args.shell), end="")
    return 0
