"""``flow run``: command-line arguments to a TaskConfig, then :meth:`Flow.run`."""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.cli._options import task_config, with_governor
from flowlib.cli._output import MASK, config_view, print_json, task_view
from flowlib.cli._sbatch import cmd_run_sbatch
from flowlib.cli._submitted import follow, print_plan_notes, wait
from flowlib.cli._targets import looks_like_sbatch

if TYPE_CHECKING:
    from flowlib.catalog import Plan
    from flowlib.core.packaging import CodeArchive
    from flowlib.flow import Flow
    from flowlib.models import TaskConfig
    from flowlib.providers.base import Provider

__all__ = ["cmd_run"]

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
        "--gpus",
        "--min-vcpus",
        "--min-ram",
        "--code-dir",
        "--on",
        "--governor",
    }
)


def cmd_run(args: argparse.Namespace) -> int:
    if looks_like_sbatch(args.target):  # an sbatch script: translated (cli/_sbatch.py)
        return cmd_run_sbatch(args)
    if args.target.partition("::")[0].endswith(".py") and _is_app(args.target):
        return _run_app(args)  # a Modal-style app: `flow run app.py[::fn] --arg value`
    from flowlib.flow import Flow

    _note_misplaced_options(args)
    with Flow(provider=args.provider, home=args.home) as flow:
        if getattr(args, "governor", None):
            flow.config = with_governor(flow.config, args.governor)
        config = task_config(args)
        if args.dry_run:
            return _dry_run(flow, config, args)
        task = flow.run(config, idempotency_key=args.idempotency_key)
        if args.follow:
            return follow(flow, task, args)
        if args.wait:
            return wait(flow, task, args)
        if args.json:
            print_json(task_view(task))
            return 0
        print(f"submitted {task.task_id} ({task.name}) on {task.provider}: {task.status}")
        print_plan_notes(flow, task)
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


def _note_misplaced_options(args: argparse.Namespace) -> None:
    misplaced = [a for a in args.args if a.split("=", 1)[0] in _FLOW_ONLY]
    if misplaced:
        print(
            f"note: {' '.join(misplaced)} came after the program {args.target!r}, so the "
            "program gets it; flow's own options go before the program "
            f"(flow run {misplaced[0]} {args.target} ...)",
            file=sys.stderr,
        )


def _dry_run(flow: Flow, config: TaskConfig, args: argparse.Namespace) -> int:
    plan, provider, prepared, unchecked = dry_run_plan(flow, config)
    code: dict[str, Any] | None = None
    sha = None
    archive = None
    if prepared.upload_code:
        from flowlib.core.packaging import package_directory

        code_dir = Path(prepared.code_dir or Path.cwd()).absolute()
        archive = package_directory(code_dir, exclude=[flow.config.home])
        sha = archive.sha256
        code = {
            "dir": str(code_dir),
            "files": archive.file_count,
            "bytes": archive.total_bytes,
            "packed_bytes": len(archive.data),
            "sha256": sha,
        }
    masked = prepared.model_copy(update={"env": dict.fromkeys(prepared.env, MASK)})
    script, script_source = _startup_script(provider, masked, archive)
    if args.json:
        data: dict[str, Any] = {
            "dry_run": True,
            "provider": provider.name,
            "plan": plan.to_dict(),
            "config": config_view(prepared),
            "code": code,
        }
        if unchecked:
            data["unchecked"] = unchecked
        if args.verbose:
            data["startup_script"] = script
            data["startup_script_source"] = script_source
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
    for line in plan.lines():
        print(line)
    if unchecked:
        print(f"  note: {unchecked}")
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
        print(f"\nstartup script ({script_source}; secrets masked):\n")
        print(script, end="" if script.endswith("\n") else "\n")
    else:
        print(f"startup script: {len(script.splitlines())} lines (--verbose prints it)")
    return 0


def _startup_script(
    provider: Provider, config: TaskConfig, archive: CodeArchive | None
) -> tuple[str, str]:
    """The script the provider would send (its own render, when it has one) and where it came
    from: the dry run must show what a submit sends, not a look-alike."""
    from flowlib.core.store import TaskRecord
    from flowlib.providers.base import ScriptPreview

    record = TaskRecord(task_id="task-dry-run", name=config.name, provider=provider.name,
                        config=config)  # fmt: skip
    why = f"{provider.name} renders no preview"
    if isinstance(provider, ScriptPreview):
        from flowlib.errors import APIError, AuthenticationError, NetworkError

        try:
            return provider.preview_script(record, archive), f"as {provider.name} sends it"
        except (AuthenticationError, NetworkError, APIError) as exc:
            why = f"{provider.name} could not be asked: {exc.message}"
    from flowlib.core.startup import ScriptContext, build_script

    context = ScriptContext(
        task_id=record.task_id,
        config=config,
        code_at_path=config.upload_code,
        code_sha256=archive.sha256 if archive is not None else None,
        docker=config.image is not None,
    )
    return build_script(context), f"generic, {why}"


def dry_run_plan(flow: Flow, config: TaskConfig) -> tuple[Plan, Provider, TaskConfig, str]:
    """The plan, the provider it chose, the task as that provider prepares it, and, when the
    provider could not be asked (no credentials, unreachable), why: the plan then stands on the
    catalog alone. Nothing is created."""
    from flowlib._planning import pinned
    from flowlib.describe import check_and_prepare
    from flowlib.errors import APIError, AuthenticationError, ConfigError, NetworkError

    plan = flow.plan(config)
    target = config if plan.offer is None else pinned(plan, config, plan.offer)
    provider = flow.provider(plan.provider)
    try:
        return plan, provider, check_and_prepare(provider, target, flow.registry.specs()), ""
    except (AuthenticationError, ConfigError, NetworkError, APIError) as exc:
        if plan.offer is None:
            raise
        return plan, provider, target, f"not checked with {plan.provider}: {exc.message}"


def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB"):
        if size < 1024 or unit == "MB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} MB"
