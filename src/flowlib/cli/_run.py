"""``flow run``: command-line arguments to a TaskConfig, then :meth:`Flow.run`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.cli._output import (
    MASK,
    config_view,
    duration,
    exit_status,
    print_json,
    task_view,
)
from flowlib.errors import ValidationError
from flowlib.models import TaskStatus

if TYPE_CHECKING:
    from flowlib.flow import Flow
    from flowlib.models import Task, TaskConfig

__all__ = ["cmd_run", "parse_data_options", "parse_env", "task_config", "task_fields"]

# flow run options that a program hardly ever takes itself: one of them after the program most
# likely meant flow's (`flow run python x.py --wait`), so say where it went.
_FLOW_ONLY = frozenset(
    {
        "--wait",
        "--follow",
        "--dry-run",
        "--no-upload",
        "--instance-type",
        "--min-gpu-memory",
        "--max-run-time",
        "--max-price",
        "--code-dir",
        "--on",
    }
)


def cmd_run(args: argparse.Namespace) -> int:
    from flowlib.cli._sbatch import looks_like_sbatch

    if looks_like_sbatch(args.target):  # an sbatch script: translated (cli/_sbatch.py)
        from flowlib.cli._sbatch import cmd_run_sbatch

        return cmd_run_sbatch(args)
    if args.target.partition("::")[0].endswith(".py") and _is_app(args.target):
        return _run_app(args)  # a Modal-style app: `flow run app.py[::fn] --arg value`
    from flowlib.flow import Flow

    _note_misplaced_options(args)
    with Flow(provider=args.provider, home=args.home) as flow:
        config = task_config(args)
        if args.dry_run:
            return _dry_run(flow, config, args)
        task = flow.run(config, idempotency_key=args.idempotency_key)
        if args.follow:
            return _follow(flow, task, args)
        if args.wait:
            return _wait(flow, task, args)
        if args.json:
            print_json(task_view(task))
            return 0
        print(f"submitted {task.task_id} ({task.name}) on {task.provider}: {task.status}")
        print(f"  flow logs {task.task_id} -f     # follow its output")
        print(f"  flow status {task.task_id}      # see how it is doing")
        return 0


def _is_app(target: str) -> bool:
    from flowlib.frontends.app import is_app_target

    return is_app_target(target)


def _run_app(args: argparse.Namespace) -> int:
    """``flow run app.py`` runs the app's local entrypoint; ``app.py::fn --arg value`` one
    function (frontends/app/). Flow's other options do not apply: the decorator holds them."""
    from flowlib.frontends.app import run_from_cli

    if args.home:
        os.environ["FLOW_HOME"] = args.home
    return run_from_cli(args.target, list(args.args), provider=args.provider)


def parse_env(items: list[str] | None) -> dict[str, str]:
    """``--env KEY=VALUE`` options as a mapping (the value may hold further ``=``); a bare
    ``--env KEY`` takes KEY's value from this environment, as ``docker run -e KEY`` does, so a
    secret never shows on a command line (``ps``, shell history)."""
    env: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not key.strip():
            tips = ["write --env KEY=VALUE, e.g. --env WANDB_MODE=offline"]
            raise ValidationError(f"--env {item!r} is not KEY=VALUE or KEY", suggestions=tips)
        if not sep:
            if key not in os.environ:
                raise ValidationError(
                    f"--env {key}: {key} is not set in this environment, so there is no value "
                    "to pass",
                    suggestions=[f"export {key} first", f"or write --env {key}=VALUE"],
                )
            value = os.environ[key]
        env[key] = value
    return env


def parse_data_options(
    data: list[str] | None, outputs: list[str] | None = None, volumes: list[str] | None = None
) -> dict[str, Any]:
    """``--data``, ``--output`` and ``--volume`` as TaskConfig fields (only those given). The
    command line only splits ``TARGET=SOURCE`` / ``NAME:PATH``; what a source means is
    :func:`flowlib.data.parse_data`'s business, as for ``flowlib.run(data=...)``."""
    from flowlib.data import DEFAULT_DATA_TARGET, parse_data

    mounts: dict[str, str] = {}

    def add(target: str, source: str, given: str) -> None:
        if target in mounts:
            raise ValidationError(
                f"{given}: {target} already has data ({mounts[target]})",
                suggestions=["give each source its own path: --data /datasets=s3://b/imagenet"],
            )
        mounts[target] = source

    for spec in data or []:
        target, sep, source = spec.partition("=")
        if sep and target.startswith("/") and source:
            add(target, source, f"--data {spec}")
        elif spec.startswith("/") or "://" in spec:
            add(DEFAULT_DATA_TARGET, spec, f"--data {spec}")
        else:
            raise ValidationError(
                f"--data {spec!r} is neither a source nor PATH=SOURCE",
                suggestions=[
                    f"--data s3://BUCKET/PREFIX (mounted at {DEFAULT_DATA_TARGET})",
                    "--data /datasets=s3://BUCKET/PREFIX, --data /models=volume://NAME",
                ],
            )
    for spec in volumes or []:
        name, sep, path = spec.rpartition(":")
        if not (sep and name and path.startswith("/")):
            raise ValidationError(
                f"--volume {spec!r} is not NAME:PATH",
                suggestions=["e.g. --volume pretrained:/models (created when missing)"],
            )
        add(path, f"volume://{name.removeprefix('volume://')}", f"--volume {spec}")
    fields: dict[str, Any] = {}
    if mounts:
        fields["data_mounts"] = parse_data(mounts)
    for spec in outputs or []:
        target, sep, url = spec.partition("=")
        if not (sep and target.startswith("/") and url):
            raise ValidationError(
                f"--output {spec!r} is not DIR=URL",
                suggestions=["e.g. --output /results=s3://my-bucket/runs/run1"],
            )
        fields.setdefault("outputs", {})[target] = url
    return fields


def task_fields(args: argparse.Namespace) -> dict[str, Any]:
    """The TaskConfig fields that the options set (only those given)."""
    fields: dict[str, Any] = {}
    given = {
        "name": args.name,
        "instance_type": args.instance_type,
        "min_gpu_memory_gb": args.min_gpu_memory,
        "max_price_per_hour": args.max_price,
        "max_run_time_hours": args.max_run_time,
        "image": args.image,
        "code_dir": args.code_dir,
        "instance_name": getattr(args, "on", None),
    }
    fields.update({k: v for k, v in given.items() if v is not None})
    if args.env:
        fields["env"] = parse_env(args.env)
    if args.no_upload:
        fields["upload_code"] = False
    fields.update(
        parse_data_options(
            getattr(args, "data", None),
            getattr(args, "output", None),
            getattr(args, "volume", None),
        )
    )
    # One hardware request on the command line replaces the task file's (either kind).
    if "instance_type" in fields and "min_gpu_memory_gb" not in fields:
        fields["min_gpu_memory_gb"] = None
    elif "min_gpu_memory_gb" in fields and "instance_type" not in fields:
        fields["instance_type"] = None
    return fields


def task_config(args: argparse.Namespace) -> TaskConfig:
    """TARGET (a task file, a command line, or a program and its arguments) with the options
    over it; ``--env`` adds to a task file's env rather than replacing it."""
    from flowlib.describe import to_task_config

    target: str | list[str] = [args.target, *args.args] if args.args else args.target
    config = to_task_config(target)
    fields = task_fields(args)
    if not fields:
        return config
    if "env" in fields:
        fields["env"] = {**config.env, **fields["env"]}
    if "data_mounts" in fields:  # added to a task file's, as --env is
        fields["data_mounts"] = [*config.data_mounts, *fields["data_mounts"]]
    if "outputs" in fields:
        fields["outputs"] = {**config.outputs, **fields["outputs"]}
    return to_task_config(config, **fields)


def _note_misplaced_options(args: argparse.Namespace) -> None:
    misplaced = [a for a in args.args if a.split("=", 1)[0] in _FLOW_ONLY]
    if misplaced:
        print(
            f"note: {' '.join(misplaced)} came after the program {args.target!r}, so the "
            "program gets it; flow's own options go before the program "
            f"(flow run {misplaced[0]} {args.target} ...)",
            file=sys.stderr,
        )


def _end_line(task: Task) -> str:
    took = ""
    if task.started_at and task.completed_at:
        took = f" after {duration((task.completed_at - task.started_at).total_seconds())}"
    code = "" if task.exit_code is None else f", exit code {task.exit_code}"
    line = f"{task.task_id} ({task.name}) {task.status}{took}{code}"
    if task.message and task.status != TaskStatus.COMPLETED:
        line += f": {task.message}"
    return line


def _wait(flow: Flow, task: Task, args: argparse.Namespace) -> int:
    from flowlib.cli._waiting import WaitDisplay

    if not args.json:
        print(
            f"submitted {task.task_id} ({task.name}) on {task.provider}; waiting for it to end",
            flush=True,
        )
    try:
        with WaitDisplay(task) as display:
            task = flow.wait(task.task_id, on_poll=display.update)
    except KeyboardInterrupt:
        _keeps_running(task, "waiting")
        return 130
    if args.json:
        print_json(task_view(task))
    else:
        print(_end_line(task))
        if task.status != TaskStatus.COMPLETED:
            from flowlib.cli._resume import print_end_hints

            print_end_hints(flow, task)
    return exit_status(task)


def _follow(flow: Flow, task: Task, args: argparse.Namespace) -> int:
    # With --json, stdout holds only the JSON: the log lines go to stderr.
    out = sys.stderr if args.json else sys.stdout
    print(
        f"submitted {task.task_id} ({task.name}) on {task.provider}; following its output "
        "(Ctrl-C stops following, not the task)",
        file=sys.stderr,
    )
    from flowlib.cli._waiting import follow_with_status

    try:
        for line in follow_with_status(flow, task):
            print(line, file=out, flush=True)
        task = flow.wait(task.task_id)
    except KeyboardInterrupt:
        _keeps_running(task, "following")
        return 130
    if args.json:
        print_json(task_view(task))
    else:
        print(_end_line(task), file=sys.stderr)
    return exit_status(task)


def _keeps_running(task: Task, doing: str) -> None:
    print(
        f"\nstopped {doing}; task {task.task_id} ({task.name}) keeps running. "
        f"Cancel it with: flow cancel {task.task_id}",
        file=sys.stderr,
    )


def _dry_run(flow: Flow, config: TaskConfig, args: argparse.Namespace) -> int:
    from flowlib.core.startup import ScriptContext, build_script
    from flowlib.describe import check_and_prepare

    provider = flow.provider()
    prepared = check_and_prepare(provider, config)
    code: dict[str, Any] | None = None
    sha = None
    if prepared.upload_code:
        from flowlib.core.packaging import package_directory

        code_dir = Path(prepared.code_dir or Path.cwd()).absolute()
        archive = package_directory(code_dir)
        sha = archive.sha256
        code = {
            "dir": str(code_dir),
            "files": archive.file_count,
            "bytes": archive.total_bytes,
            "packed_bytes": len(archive.data),
            "sha256": sha,
        }
    masked = prepared.model_copy(update={"env": dict.fromkeys(prepared.env, MASK)})
    script = build_script(
        ScriptContext(
            task_id="task-dry-run",
            config=masked,
            code_at_path=prepared.upload_code,
            code_sha256=sha,
            docker=prepared.image is not None,
        )
    )
    if args.json:
        data: dict[str, Any] = {
            "dry_run": True,
            "provider": provider.name,
            "config": config_view(prepared),
            "code": code,
        }
        if args.verbose:
            data["startup_script"] = script
        print_json(data)
        return 0
    import yaml

    shown = prepared.model_dump(mode="json", exclude_defaults=True)
    shown["env"] = dict.fromkeys(prepared.env, MASK) if prepared.env else None
    if prepared.command is not None:  # one line, as a shell would read it
        shown["command"] = shlex.join(prepared.command)
    shown = {k: v for k, v in shown.items() if v is not None}
    print("dry run: nothing was submitted or recorded\n")
    print(f"provider: {provider.name}")
    print("task:")
    for line in yaml.safe_dump(shown, sort_keys=False, width=96).splitlines():
        print(f"  {line}")
    if code is None:
        print("code: not uploaded (--no-upload)")
    else:
        print(
            f"code: {code['dir']} ({code['files']} files, {_size(code['bytes'])}; "
            f"{_size(code['packed_bytes'])} packed, sha256 {str(sha)[:12]}...)"
        )
    if args.verbose:
        print("\nstartup script (env values masked):\n")
        print(script, end="" if script.endswith("\n") else "\n")
    else:
        print(f"startup script: {len(script.splitlines())} lines (--verbose prints it)")
    return 0


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"
