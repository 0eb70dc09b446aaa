"""The ``flow`` argument parser. Standard library only: ``flow --help`` must stay instant, so
nothing here imports pydantic, yaml, httpx or the engine; each command's handler does that.

Each subcommand sets ``handler`` to ``"module:function"`` (imported only when it runs).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

__all__ = ["build_parser", "parse_args"]

_EPILOG = """\
examples:
  flow init                               a config for this machine and an example flow.yaml
  flow run flow.yaml --wait               run a task file, exit with the task's exit code
  flow run python train.py --lr 3         run a command (every word after it is the command's)
  flow run --wait -i a100 python train.py flow's own options go before the command
  flow status                             recent tasks
  flow logs TASK -f                       stream a task's output
  flow cancel TASK                        stop it

TASK is a task id, a unique id prefix or a task name.
Exit codes: see docs/cli.md (2 usage/validation, 3 config, 5 not found, ...; with --wait or
--follow, the task's own exit code)."""

_RUN_EPILOG = """\
TARGET is a task file (*.yaml, *.yml), a quoted command line ("python train.py && echo done":
shell syntax runs under bash) or a program: then every argument after it belongs to the program,
`flow run python train.py --help` passes --help to train.py. Put flow's options before a program;
after a task file or a quoted command line they may also follow it. `--` before TARGET lets a
command start with '-'.

examples:
  flow run "echo hello" --wait
  flow run --name train -e WANDB_MODE=offline --follow python train.py --epochs 3
  flow run job.yaml --dry-run --verbose"""


def _version() -> str:
    from flowlib import __version__

    return f"flow (flowlib) {__version__}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _add_run_options(p: argparse.ArgumentParser) -> None:
    hw = p.add_argument_group("hardware and limits")
    hw.add_argument(
        "-i",
        "--instance-type",
        metavar="TYPE",
        help="what to run on: a100, 8xh100, a100-80gb.sxm.1x (see `flow catalog`)",
    )
    hw.add_argument(
        "--min-gpu-memory",
        metavar="GB",
        type=_positive_int,
        help="instead of -i: any GPU with at least GB of memory",
    )
    hw.add_argument(
        "--max-price",
        metavar="USD",
        type=float,
        help="the most to pay per instance-hour, in US dollars",
    )
    hw.add_argument(
        "--max-run-time",
        metavar="HOURS",
        type=float,
        help="stop the workload after HOURS (exit 124); at most 168",
    )
    hw.add_argument(
        "--provider", metavar="NAME", help="where to run (default: from config, else local)"
    )
    task = p.add_argument_group("task")
    task.add_argument("--name", help="a name to find the task by (default: from the command)")
    task.add_argument(
        "-e",
        "--env",
        metavar="KEY=VALUE",
        action="append",
        help="an environment variable for the task (repeatable)",
    )
    task.add_argument("--image", help="a container image to run the workload in")
    task.add_argument(
        "--code-dir", metavar="DIR", help="the directory to upload (default: the current directory)"
    )
    task.add_argument("--no-upload", action="store_true", help="do not upload the code directory")
    mode = p.add_argument_group("what flow does after submitting")
    mode.add_argument(
        "--wait", action="store_true", help="wait for the task to end and exit with its exit code"
    )
    mode.add_argument(
        "-f",
        "--follow",
        action="store_true",
        help="stream its logs until it ends, then exit with its exit code",
    )
    mode.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would run (config, provider, script); create nothing",
    )
    mode.add_argument(
        "-v", "--verbose", action="store_true", help="with --dry-run: also print the startup script"
    )
    mode.add_argument("--json", action="store_true", help="print the task as JSON")


def build_parser() -> argparse.ArgumentParser:
    """The whole ``flow`` parser."""
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    # Options every subcommand also accepts after its name (`flow status --home X`). SUPPRESS
    # keeps a value given before the subcommand when it is not repeated after it.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--home",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="where flow keeps its task store and task files (FLOW_HOME)",
    )

    parser = argparse.ArgumentParser(
        prog="flow",
        description="Describe a GPU job once, run it anywhere: this machine or rented GPUs.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    parser.add_argument(
        "--home",
        metavar="PATH",
        default=None,
        help="where flow keeps its task store and task files (FLOW_HOME)",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    commands: dict[str, argparse.ArgumentParser] = {}

    def command(
        name: str, handler: str, help: str, usage: str | None = None, epilog: str | None = None
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name,
            help=help,
            description=help,
            parents=[common],
            usage=usage,
            epilog=epilog,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        p.set_defaults(handler=handler, json=False)
        commands[name] = p
        return p

    p = command(
        "init",
        "flowlib.cli._init:cmd_init",
        "write a config file (and an example flow.yaml) to get started",
    )
    p.add_argument("--provider", metavar="NAME", help="the provider to use (default: local)")
    p.add_argument("--project", help="the provider project to bill")
    p.add_argument("--region", help="the default region")
    p.add_argument(
        "--api-key-env",
        metavar="VAR",
        nargs="?",
        const="FLOW_API_KEY",
        help="store the API key read from environment variable VAR "
        "(default FLOW_API_KEY); it is never printed",
    )
    p.add_argument(
        "--local",
        action="store_true",
        help="write ./.flow/config.yaml (this project) instead of ~/.flow/config.yaml",
    )
    p.add_argument("--no-example", action="store_true", help="do not write an example flow.yaml")

    p = command(
        "run",
        "flowlib.cli._run:cmd_run",
        "submit a task",
        usage="flow run [options] TARGET [ARGS...]",
        epilog=_RUN_EPILOG,
    )
    _add_run_options(p)
    p.add_argument("target", metavar="TARGET", help="a task file, a command line, or a program")
    p.add_argument(
        "args",
        metavar="ARGS",
        nargs=argparse.REMAINDER,
        help="the program's arguments, passed as they are",
    )

    p = command(
        "status", "flowlib.cli._tasks:cmd_status", "list recent tasks, or show one task in detail"
    )
    p.add_argument("task", metavar="TASK", nargs="?", help="a task id, id prefix or name")
    p.add_argument("--all", action="store_true", help="list every task, not only the newest")
    p.add_argument(
        "--limit",
        metavar="N",
        type=_positive_int,
        default=20,
        help="how many tasks to list (default 20)",
    )
    p.add_argument(
        "--status",
        metavar="STATUS",
        action="append",
        help="only tasks in STATUS: pending, running, completed, failed, cancelled "
        "(repeatable, or comma separated)",
    )
    p.add_argument("--provider", metavar="NAME", help="only tasks of this provider")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("logs", "flowlib.cli._tasks:cmd_logs", "print a task's output")
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines until the task ends"
    )
    p.add_argument(
        "--tail", metavar="N", type=_non_negative_int, help="only the last N lines (default: all)"
    )

    p = command(
        "cancel", "flowlib.cli._tasks:cmd_cancel", "stop tasks and every process they started"
    )
    p.add_argument("tasks", metavar="TASK", nargs="+", help="task ids, id prefixes or names")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "catalog",
        "flowlib.cli._catalog:cmd_catalog",
        "list the instance types you can rent, cheapest first",
    )
    p.add_argument(
        "--min-gpu-memory", metavar="GB", type=_positive_int, help="at least GB of memory per GPU"
    )
    p.add_argument("--max-price", metavar="USD", type=float, help="at most USD per hour")
    p.add_argument("--gpus", metavar="N", type=_positive_int, help="exactly N GPUs per instance")
    p.add_argument("--gpu", metavar="MODEL", help="only this GPU model: a100, h100, rtx4090...")
    p.add_argument(
        "-i",
        "--instance-type",
        metavar="TYPE",
        help="only offers of this instance type: a100, 8xh100, a100-80gb.sxm.1x",
    )
    p.add_argument("--provider", metavar="NAME", help="only this provider's offers")
    p.add_argument("--region", help="only offers in this region")
    kind = p.add_mutually_exclusive_group()
    kind.add_argument(
        "--spot",
        action="store_const",
        const=True,
        dest="spot",
        help="only spot offers (can be preempted)",
    )
    kind.add_argument(
        "--on-demand", action="store_const", const=False, dest="spot", help="only on-demand offers"
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    return parser, commands


def _takes_no_arguments(target: str) -> bool:
    """A task file, or a whole command line in one argument: what follows can only be options."""
    is_file = target.endswith((".yaml", ".yml")) and " " not in target.strip()
    return is_file or any(ch.isspace() for ch in target.strip())


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``). argparse exits (SystemExit) on --help,
    --version and usage errors, as always."""
    parser, commands = _build()
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
    if args.command is None:
        parser.print_help(sys.stderr)
        parser.exit(2)
    if args.command == "run" and args.args and _takes_no_arguments(args.target):
        _parse_trailing_run_options(args, commands["run"])
    if args.home is not None:  # task directories must not depend on where flow was started
        args.home = os.path.abspath(os.path.expanduser(args.home))
    return args


def _parse_trailing_run_options(args: argparse.Namespace, run: argparse.ArgumentParser) -> None:
    """``flow run job.yaml --wait``: the words after a task file or a quoted command line."""
    first = args.args[0]
    if not first.startswith("-") or first == "--":
        if args.target.endswith((".yaml", ".yml")):
            run.error(f"a task file takes no arguments, got {first!r} after {args.target}")
        run.error(
            f"got {first!r} after a quoted command line: put the command's arguments "
            "inside the quotes, and flow's options before or after them"
        )
    tail = argparse.ArgumentParser(prog=run.prog, usage=run.usage, add_help=False)
    _add_run_options(tail)
    tail.add_argument("-h", "--help", action="store_true", dest="tail_help")
    words, args.args = list(args.args), []
    tail.parse_args(words, namespace=args)
    if args.tail_help:
        run.print_help()
        run.exit(0)
