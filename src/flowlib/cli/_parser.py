"""The ``flow`` argument parser. Standard library only: ``flow --help`` must stay instant, so
nothing here imports pydantic, yaml, httpx or the engine; each command's handler does that.

Each subcommand sets ``handler`` to ``"module:function"`` (imported only when it runs).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from flowlib._version import __version__
from flowlib.cli._usage import Parser, UsageError, closest, unknown_words_error

__all__ = ["build_parser", "parse_args"]

_EPILOG = """\
examples:
  flow init                               a config for this machine and an example flow.yaml
  flow run flow.yaml --wait               run a task file, exit with the task's exit code
  flow run python train.py --lr 3         run a command (every word after it is the command's)
  flow run --wait -i a100 python train.py flow's own options go before the command
  flow status                             recent tasks
  flow logs TASK -f                       stream a task's output
  flow artifacts TASK                     what it left (log, metrics, outputs), where, how big
  flow cancel TASK                        stop it
  flow wait TASK                          wait for it to end, exit with its exit code
  flow ssh TASK -- nvidia-smi             run a command on the task's machine
  flow tunnel TASK 8888                   reach its port 8888 (Jupyter) from here
  flow run --on my-a6000 python train.py  run on a persistent instance (hibernates when idle)
  flow doctor                             check the config, credentials and providers
  flow ui                                 a web dashboard of your tasks (flowlib[ui])

TASK is a task id, a unique id prefix or a task name.
Exit codes: see docs/cli.md (2 usage/validation, 3 config, 5 not found, ...; with --wait or
--follow, the task's own exit code)."""

_RUN_EPILOG = """\
TARGET is a task file (*.yaml, *.yml), an sbatch script (*.sbatch, *.slurm, or a script with
#SBATCH lines: docs/slurm.md), a quoted command line ("python train.py && echo done":
shell syntax runs under bash) or a program: then every argument after it belongs to the program,
`flow run python train.py --help` passes --help to train.py. Put flow's options before a program;
after a task file or a quoted command line they may also follow it. `--` before TARGET lets a
command start with '-'. A flowlib App runs with `flow run app.py` (its local entrypoint) or
`flow run app.py::fn --param value` (docs/functions.md).

examples:
  flow run "echo hello" --wait
  flow run --name train -e WANDB_MODE=offline --follow python train.py --epochs 3
  flow run -e HF_TOKEN python train.py    HF_TOKEN's value from this shell, never on `ps`
  flow run job.yaml --dry-run --verbose
  flow run train.sbatch --dry-run         how each #SBATCH directive is read"""


SHELLS = ("bash", "zsh", "fish")

_WAIT_EPILOG = """\
Exit status: 0 when the task completed; its exit code when it failed (124: stopped by its time
limit, 128+N: killed by signal N; 1 when it failed without one); 130 when it was cancelled;
8 when --timeout ran out (the task keeps running). Ctrl-C stops waiting, not the task.

examples:
  flow wait train && echo "train finished"
  flow wait train --timeout 3600 --json"""

_GOVERNOR_EPILOG = """\
The local resource governor starts a task only when this machine can take it; with
`flow run --governor pause` (or `governor: pause` in the providers.local config) it also pauses a
running task while its GPU runs hot or RAM runs short. See docs/observability.md.

examples:
  flow governor
  flow governor --json"""

_DOCTOR_EPILOG = """\
One line per check, ok / warn / fail, with a hint for each that is not ok; exit 0 unless a
check fails (then 1). Secrets are never printed, only whether they are set.

examples:
  flow doctor
  flow doctor --json --timeout 1"""

_COMPLETION_EPILOG = """\
examples:
  flow completion bash > ~/.local/share/bash-completion/completions/flow
  flow completion zsh > "${fpath[1]}/_flow"
  flow completion fish > ~/.config/fish/completions/flow.fish
  eval "$(flow completion bash)"          this shell only"""


def _version() -> str:
    return f"flow (flowlib) {__version__}"


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text!r}")
    return value


def _non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected 0 or more, got {value}")
    return value


def _port_spec(text: str) -> tuple[int, int]:
    """``8888`` or ``8888:9999`` (the task's port, the local one; 0 or none: any free port)."""
    remote, _, local = text.partition(":")
    try:
        ports = (int(remote), int(local) if local else 0)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PORT or PORT:LOCAL_PORT (8888, 8888:9999), got {text!r}"
        ) from None
    if not 0 < ports[0] <= 65535 or not 0 <= ports[1] <= 65535:
        raise argparse.ArgumentTypeError(f"ports are 1 to 65535, got {text!r}")
    return ports


_SSH_EPILOG = """\
Without COMMAND: an interactive shell. With it (after `--`), the words are joined by spaces and
run by the remote shell, as ssh does, and flow exits with the command's exit code.

examples:
  flow ssh train                          a shell on the task's machine
  flow ssh train -- nvidia-smi            run one command there
  flow ssh train --node 1 -- 'tail -f /var/log/flow/task.log'"""

_TUNNEL_EPILOG = """\
Prints the local URL, then keeps the tunnel open until Ctrl-C (or until the task ends).

examples:
  flow tunnel notebook 8888               Jupyter: open the printed http://127.0.0.1:... URL
  flow tunnel train 6006:6006             TensorBoard at http://127.0.0.1:6006"""


def _add_market_options(p: argparse.ArgumentParser | argparse._ArgumentGroup) -> None:
    """``--spot`` / ``--on-demand``: only spot (preemptible) or only on-demand offers."""
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
        "--gpus",
        metavar="N",
        type=_non_negative_int,
        help="N GPUs per instance; of any model unless -i names one (the cheapest that fits); "
        "0: no GPU (drops a task file's or sbatch script's GPU request)",
    )
    hw.add_argument(
        "--min-vcpus", metavar="N", type=_positive_int, help="at least N vCPUs per instance"
    )
    hw.add_argument(
        "--min-ram",
        metavar="GB",
        type=_positive_int,
        help="at least GB of host memory per instance",
    )
    hw.add_argument("--nodes", metavar="N", type=_positive_int, help="run on N instances")
    hw.add_argument("--region", help="only offers in this region")
    _add_market_options(hw)
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
        "--provider",
        metavar="NAME",
        help="where to run (default: from config, else local); auto: the cheapest offer "
        "across the configured providers",
    )
    hw.add_argument(
        "--governor",
        choices=("start", "pause"),
        help="local provider: `pause` also watches the task while it runs, pausing it while "
        "its GPU runs hotter than max_gpu_temp_c or RAM runs short (docs/observability.md)",
    )
    hw.add_argument(
        "--on",
        metavar="INSTANCE",
        help="run on a persistent instance (created on first use, woken for each task, "
        "asleep when idle): docs/persistent-instances.md",
    )
    task = p.add_argument_group("task")
    task.add_argument("--name", help="a name to find the task by (default: from the command)")
    task.add_argument(
        "--idempotency-key",
        metavar="KEY",
        help="submit at most once per KEY: run again with the same KEY and the task already "
        "submitted is shown instead (array tasks get KEY:INDEX)",
    )
    task.add_argument(
        "-e",
        "--env",
        metavar="KEY[=VALUE]",
        action="append",
        help="an environment variable for the task (repeatable); KEY alone passes its value "
        "from this environment, off the command line",
    )
    task.add_argument("--image", help="a container image to run the workload in")
    task.add_argument(
        "--code-dir", metavar="DIR", help="the directory to upload (default: the current directory)"
    )
    task.add_argument("--no-upload", action="store_true", help="do not upload the code directory")
    data = p.add_argument_group("data (docs/data.md)")
    data.add_argument(
        "--data",
        metavar="SPEC",
        action="append",
        help="data for the task (repeatable): s3://BUCKET/PREFIX (at /data), "
        "/PATH=s3://..., /PATH=volume://NAME or /PATH=/dir/on/the/machine",
    )
    data.add_argument(
        "--output",
        metavar="DIR=URL",
        action="append",
        help="sync DIR to an s3:// URL when the task ends (repeatable): /results=s3://b/run1",
    )
    data.add_argument(
        "--volume",
        metavar="NAME:PATH",
        action="append",
        help="mount the volume NAME at PATH, created when missing (repeatable)",
    )
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
    mode.add_argument(
        "--strict",
        action="store_true",
        help="an sbatch script: refuse it if any #SBATCH directive would be ignored",
    )
    mode.add_argument("--json", action="store_true", help="print the task as JSON")


def _add_actions(
    p: argparse.ArgumentParser, noun: str
) -> argparse._SubParsersAction[argparse.ArgumentParser]:
    """``flow NOUN [ACTION]``: the actions' subparsers, into ``NOUN_command`` (default list)."""
    p.add_argument("--provider", metavar="NAME", help=f"whose {noun}s (default: from config)")
    p.add_argument("--json", action="store_true", help="print JSON")
    actions = p.add_subparsers(dest=f"{noun}_command", metavar="ACTION", title="actions")
    p.set_defaults(**{f"{noun}_command": "list"})  # after add_subparsers, or it is not used
    return actions


def build_parser() -> argparse.ArgumentParser:
    """The whole ``flow`` parser."""
    return _build()[0]


def _build() -> tuple[argparse.ArgumentParser, dict[str, argparse.ArgumentParser]]:
    # Options every subcommand also accepts after its name (`flow status --home X`). SUPPRESS
    # keeps a value given before the subcommand when it is not repeated after it.
    common = Parser(add_help=False)
    common.add_argument(
        "--home",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help="where flow keeps its task store and task files (FLOW_HOME)",
    )
    common.add_argument(
        "--trace",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print what flow did as a tree of OpenTelemetry spans on stderr (FLOW_TRACE=console)",
    )

    parser = Parser(
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
    parser.add_argument(
        "--trace",
        action="store_true",
        help="print what flow did as a tree of OpenTelemetry spans on stderr (FLOW_TRACE=console)",
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
    p.add_argument("--json", action="store_true", help="print what was written as JSON")

    p = command(
        "run",
        "flowlib.cli._run:cmd_run",
        "submit a task",
        usage="flow run [options] TARGET [ARGS...]",
        epilog=_RUN_EPILOG,
    )
    # No prefix matching: `flow run python x.py --n 2` gives `--n` to the program instead of
    # failing as an ambiguous abbreviation of --name / --no-upload.
    p.allow_abbrev = False
    _add_run_options(p)
    # Optional to argparse so that `flow run` alone explains what it takes (parse_args).
    p.add_argument(
        "target", metavar="TARGET", nargs="?", help="a task file, a command line, or a program"
    )
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
    watch = p.add_argument_group("watching (--watch)")
    watch.add_argument(
        "-w",
        "--watch",
        action="store_true",
        help="keep showing it until Ctrl-C: redrawn on a terminal; on a pipe a new table "
        "only when something changed",
    )
    watch.add_argument(
        "--interval",
        metavar="S",
        type=_positive_float,
        default=2.0,
        help="seconds between looks (default 2)",
    )
    watch.add_argument("--count", metavar="N", type=_positive_int, help="stop after N looks")
    watch.add_argument(
        "--until-done",
        action="store_true",
        help="stop once every task shown has ended",
    )

    p = command(
        "artifacts",
        "flowlib.cli._artifacts:cmd_artifacts",
        "list what a task left (log, metrics, checkpoints, outputs), also once its machine is gone",
    )
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument("--json", action="store_true", help="print JSON")
    p = command(
        "download",
        "flowlib.cli._artifacts:cmd_download",
        "fetch what a task left (all of it, or PATH: a name `flow artifacts` lists, or a folder)",
    )
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument("path", metavar="PATH", nargs="?", help="one artifact or folder (default: all)")
    p.add_argument(
        "-o", "--output", metavar="DIR", help="where to put them (default: ./<task id>/)"
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command("logs", "flowlib.cli._tasks:cmd_logs", "print a task's output")
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument(
        "-f", "--follow", action="store_true", help="keep printing new lines until the task ends"
    )
    p.add_argument(
        "--tail", metavar="N", type=_non_negative_int, help="only the last N lines (default: all)"
    )
    p.add_argument(
        "--metrics",
        action="store_true",
        help='also show the metric and checkpoint lines ({"__flow__": ...}), hidden by default',
    )
    p.add_argument(
        "--json", action="store_true", help="print JSON (with -f: one JSON object per line)"
    )

    p = command(
        "wait",
        "flowlib.cli._watch:cmd_wait",
        "wait for a task to end and exit with its exit code",
        epilog=_WAIT_EPILOG,
    )
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument(
        "--timeout", metavar="S", type=_positive_float, help="give up after S seconds (exit 8)"
    )
    p.add_argument("--json", action="store_true", help="print the ended task as JSON")

    p = command(
        "metrics",
        "flowlib.cli._metrics:cmd_metrics",
        'the metrics a task logged ({"__flow__": {"loss": 0.5, "step": 1}} lines); with '
        "several tasks, the runs side by side",
    )
    p.add_argument(
        "tasks", metavar="TASK", nargs="+", help="a task id, id prefix or name (2-10: compare)"
    )
    p.add_argument(
        "-f", "--follow", action="store_true", help="print rows as they come until the task ends"
    )
    p.add_argument("--json", action="store_true", help="print the rows as JSON")
    p.add_argument("--plot", metavar="FILE.png", help="also draw a PNG chart (needs flowlib[plot])")
    p.add_argument(
        "--tensorboard",
        metavar="DIR",
        help="also write TensorBoard event files to DIR/TASK (needs flowlib[tensorboard])",
    )

    p = command(
        "ui",
        "flowlib.ui._command:cmd_ui",
        "a local web dashboard of this machine's tasks (needs flowlib[ui])",
    )
    p.add_argument(
        "--port", type=_non_negative_int, default=None, help="port (default 8765, or a free one)"
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default 127.0.0.1; 0.0.0.0 lets other machines in)",
    )
    p.add_argument("--no-open", action="store_true", help="do not open a browser")

    p = command(
        "resume",
        "flowlib.cli._resume:cmd_resume",
        "submit a task again from its latest checkpoint (FLOW_RESUME_FROM)",
    )
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument(
        "--wait", action="store_true", help="wait for it to end and exit with its exit code"
    )
    p.add_argument("--json", action="store_true", help="print the new task as JSON")

    p = command(
        "cancel", "flowlib.cli._tasks:cmd_cancel", "stop tasks and every process they started"
    )
    p.add_argument("tasks", metavar="TASK", nargs="*", help="task ids, id prefixes or names")
    p.add_argument(
        "--array",
        metavar="ARRAY",
        action="append",
        default=[],
        help="every unfinished task of an array (repeatable): the array id flow run printed, "
        "any of its tasks, or SLURM's array job id",
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "ssh",
        "flowlib.cli._ssh:cmd_ssh",
        "open a shell on a task's machine, or run a command there",
        usage="flow ssh TASK [--node N] [-- COMMAND...]",
        epilog=_SSH_EPILOG,
    )
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument(
        "--node", metavar="N", type=_non_negative_int, default=0, help="which node (default 0)"
    )
    p.add_argument(
        "remote_command",
        metavar="COMMAND",
        nargs=argparse.REMAINDER,
        help="run this instead of a shell; exit with its exit code",
    )

    p = command(
        "tunnel",
        "flowlib.cli._ssh:cmd_tunnel",
        "reach a port of a task's machine from this one, until Ctrl-C",
        usage="flow tunnel TASK PORT[:LOCAL_PORT] [--node N]",
        epilog=_TUNNEL_EPILOG,
    )
    p.add_argument("task", metavar="TASK", help="a task id, id prefix or name")
    p.add_argument(
        "ports",
        metavar="PORT[:LOCAL_PORT]",
        type=_port_spec,
        help="the task's port, and where it appears here (default: any free port)",
    )
    p.add_argument(
        "--node", metavar="N", type=_non_negative_int, default=0, help="which node (default 0)"
    )

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
    p.add_argument(
        "--refresh",
        action="store_true",
        help="fetch live offers from the providers (all configured, or --provider) and keep "
        "them under FLOW_HOME for planning",
    )
    _add_market_options(p)
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "cost",
        "flowlib.cli._cost:cmd_cost",
        "what tasks cost: the price each was started at times its billed time",
    )
    p.add_argument(
        "--since", metavar="DATE", help="only tasks created on or after DATE (2026-01-31, or 7d)"
    )
    p.add_argument(
        "--by",
        choices=("provider", "name", "task"),
        default="provider",
        help="group totals by provider (default), task name, or one row per task",
    )
    p.add_argument("--provider", metavar="NAME", help="only tasks of this provider")
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "volume",
        "flowlib.cli._volume:cmd_volume",
        "create, list and delete persistent volumes (docs/data.md)",
    )
    volume = _add_actions(p, "volume")
    v = commands["volume create"] = volume.add_parser(
        "create", help="create a volume", parents=[common]
    )
    v.add_argument("name", metavar="NAME", nargs="?", help="a name to find it by")
    v.add_argument("--size", metavar="GB", type=_positive_int, required=True, help="its size in GB")
    v.add_argument("--json", action="store_true", help="print JSON")
    v = commands["volume list"] = volume.add_parser(
        "list", help="list the volumes", parents=[common]
    )
    v.add_argument("--json", action="store_true", help="print JSON")
    v = commands["volume delete"] = volume.add_parser(
        "delete", help="delete volumes (refused while a task uses one)", parents=[common]
    )
    v.add_argument("volumes", metavar="VOLUME", nargs="+", help="volume ids or names")
    v.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "keeper",
        "flowlib.cli._keeper:cmd_keeper",
        "show what the keeper is doing (it keeps results and releases machines nobody watches)",
    )
    p.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "instance",
        "flowlib.cli._instance:cmd_instance",
        "list, wake, hibernate or delete persistent instances (flow run --on NAME)",
    )
    instance = _add_actions(p, "instance")
    for action, text in (
        ("list", "the instances and their state"),
        ("show", "one instance: its state and its queue"),
        ("wake", "restore (or start) it and wait until it is reachable"),
        ("hibernate", "put it to sleep now, per its idle policy"),
        ("delete", "delete its VM and disk; its unfinished tasks are cancelled"),
    ):
        i = commands[f"instance {action}"] = instance.add_parser(
            action, help=text, description=text, parents=[common]
        )
        i.add_argument(
            "name", metavar="NAME", nargs="?" if action == "list" else None, help="the instance"
        )
        i.add_argument(
            "--provider", metavar="NAME", default=argparse.SUPPRESS, help="whose instances"
        )
        i.add_argument("--json", action="store_true", help="print JSON")

    p = command(
        "governor",
        "flowlib.cli._governor:cmd_governor",
        "this machine's GPUs, free memory, temperature and the local tasks holding them",
        epilog=_GOVERNOR_EPILOG,
    )
    p.add_argument("--json", action="store_true", help="print it as JSON")

    p = command(
        "doctor",
        "flowlib.cli._doctor:cmd_doctor",
        "check the setup: config, providers, credentials, reachability",
        epilog=_DOCTOR_EPILOG,
    )
    p.add_argument(
        "--timeout",
        metavar="S",
        type=_positive_float,
        default=3.0,
        help="how long to try to reach each provider (default 3)",
    )
    p.add_argument("--json", action="store_true", help="print the checks as JSON")

    p = command(
        "completion",
        "flowlib.cli._completion:cmd_completion",
        "print a shell completion script for flow: bash, zsh or fish",
        epilog=_COMPLETION_EPILOG,
    )
    p.add_argument("shell", metavar="SHELL", choices=SHELLS, help="bash, zsh or fish")

    return parser, commands


def _takes_no_arguments(target: str) -> bool:
    """A task file, or a whole command line in one argument: what follows can only be options."""
    is_file = target.endswith((".yaml", ".yml", ".sbatch", ".slurm")) and " " not in target.strip()
    if is_file or any(ch.isspace() for ch in target.strip()):
        return True
    from flowlib.cli._targets import looks_like_sbatch  # a script with an #SBATCH header

    return looks_like_sbatch(target)


_RUN_NEEDS = "flow run needs a TARGET: a command, a task file, an sbatch script or app.py::fn"
_RUN_EXAMPLES = (
    "a command:        flow run --wait python train.py --epochs 3",
    "a task file:      flow run job.yaml --wait   (flow init writes an example, flow.yaml)",
    "an sbatch script: flow run train.sbatch --dry-run",
    "a function:       flow run app.py::train --steps 100   (docs/functions.md)",
)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse ``argv`` (default ``sys.argv[1:]``). SystemExit on --help and --version (0) and on
    usage errors (2), as argparse does; a usage error is printed first (_usage.UsageError), as
    JSON on stdout when the words hold ``--json``."""
    words = list(sys.argv[1:] if argv is None else argv)
    try:
        return _parse_args(words)
    except UsageError as exc:
        exc.print(as_json="--json" in (words[: words.index("--")] if "--" in words else words))
        raise SystemExit(exc.exit_code) from None


def _parse(
    parser: argparse.ArgumentParser,
    commands: dict[str, argparse.ArgumentParser],
    words: list[str],
    namespace: argparse.Namespace | None = None,
) -> argparse.Namespace:
    """``parser.parse_args``, but words no option took are blamed on the (sub)command they were
    given to: ``flow status --limt 5`` shows flow status's usage and suggests --limit."""
    try:
        args, extra = parser.parse_known_args(words, namespace)
    except UsageError as exc:
        raise _blame_typo(exc, [parser, *commands.values()], words) from None
    if extra:
        name = getattr(args, "command", None) or ""
        chosen = commands.get(f"{name} {getattr(args, f'{name}_command', '')}")
        raise unknown_words_error(chosen or commands.get(name, parser), extra)
    return args


def _blame_typo(
    exc: UsageError, parsers: list[argparse.ArgumentParser], words: list[str]
) -> UsageError:
    """``flow volume create --sise 3`` fails as "required: --size" before argparse looks at
    the unknown words: a close typo among them is the better answer."""
    failed = next((p for p in parsers if p.prog == exc.prog), None)
    if failed is None or not exc.message.startswith("the following arguments are required"):
        return exc
    known = {o for a in failed._actions for o in a.option_strings}
    typos = [w.split("=", 1)[0] for w in words if w.startswith("--")]
    for typo in (t for t in typos if t not in known):
        if close := closest(typo, sorted(o for o in known if o.startswith("--"))):
            exc.message = f"unknown option {typo}; did you mean {close}? ({exc.message})"
            break
    return exc


def _parse_args(words: list[str]) -> argparse.Namespace:
    parser, commands = _build()
    args = _parse(parser, commands, words)
    if args.command is None:
        parser.print_help(sys.stderr)
        parser.exit(2)
    if args.command == "run" and args.target is None:
        run = commands["run"]
        raise UsageError(
            _RUN_NEEDS, prog=run.prog, usage=run.format_usage(), suggestions=_RUN_EXAMPLES
        )
    if args.command == "run" and args.args and _takes_no_arguments(args.target):
        _parse_trailing_run_options(args, commands["run"])
    if args.command == "ssh":
        args = _parse_ssh(parser, commands, words)
    if args.home is not None:  # task directories must not depend on where flow was started
        args.home = os.path.abspath(os.path.expanduser(args.home))
    return args


def _parse_ssh(
    parser: argparse.ArgumentParser, commands: dict[str, argparse.ArgumentParser], argv: list[str]
) -> argparse.Namespace:
    """``flow ssh TASK [--node 1] [--] ls -la``: flow's options end at the first ``--`` or at the
    first word that is not one of them; the rest is the remote command, kept as written (a
    ``--`` inside the command stays in it)."""
    cut = argv.index("--") if "--" in argv else len(argv)
    ssh = commands["ssh"]
    args = _parse(parser, commands, argv[:cut])
    words, after = list(args.remote_command), argv[cut + 1 :]
    takes_value = {opt for a in ssh._actions if a.nargs != 0 for opt in a.option_strings}
    options: list[str] = []
    while words and words[0].startswith("-"):
        options.append(words.pop(0))
        if options[-1] in takes_value and words:
            options.append(words.pop(0))
    if options:
        _parse(ssh, commands, [*options, args.task], namespace=args)
    if cut == len(argv):
        args.remote_command = words
    else:
        args.remote_command = [*words, "--", *after] if words else after
    return args


def _parse_trailing_run_options(args: argparse.Namespace, run: argparse.ArgumentParser) -> None:
    """``flow run job.yaml --wait``: the words after a task file or a quoted command line."""
    first = args.args[0]
    if not first.startswith("-") or first == "--":
        if args.target.endswith((".yaml", ".yml", ".sbatch", ".slurm")):
            run.error(f"a task file takes no arguments, got {first!r} after {args.target}")
        run.error(
            f"got {first!r} after a quoted command line: put the command's arguments "
            "inside the quotes, and flow's options before or after them"
        )
    tail = Parser(prog=run.prog, usage=run.usage, add_help=False)
    _add_run_options(tail)
    tail.add_argument("-h", "--help", action="store_true", dest="tail_help")
    words, args.args = list(args.args), []
    _parse(tail, {}, words, namespace=args)
    if args.tail_help:
        run.print_help()
        run.exit(0)
