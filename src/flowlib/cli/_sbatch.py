"""``flow run job.sbatch``: an existing sbatch script, unchanged, on any provider.

The script is translated by :mod:`flowlib.frontends.slurm` (every directive mapped or reported
as ignored); ``--dry-run`` prints that report, ``--strict`` refuses a script with ignored
directives, and an ``--array`` becomes one task per index (:meth:`Flow.run_array`): one real
array job on SLURM, which enforces its ``%`` throttle; elsewhere submitted no faster than that
throttle allows. A script's ``--partition`` becomes an instance type through
``providers.slurm.partitions`` in the config (docs/slurm.md).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.cli._options import task_fields, with_governor
from flowlib.cli._output import exit_status, print_json, task_view
from flowlib.cli._submitted import follow, print_plan_notes, wait

if TYPE_CHECKING:
    from flowlib.flow import Flow
    from flowlib.frontends.slurm import SbatchTranslation
    from flowlib.models import Task, TaskConfig

__all__ = ["cmd_run_sbatch"]


def cmd_run_sbatch(args: argparse.Namespace) -> int:
    from flowlib.flow import Flow

    if args.args:
        from flowlib.errors import ValidationError

        raise ValidationError(
            f"{args.target}: arguments after an sbatch script are not passed to it yet",
            suggestions=["read them from --export variables instead: --env NAME=value"],
        )
    with Flow(provider=args.provider, home=args.home) as flow:
        if getattr(args, "governor", None):
            flow.config = with_governor(flow.config, args.governor)
        translation = _translate(flow, args)
        for warning in translation.report.warnings:
            print(f"warning: {warning}", file=sys.stderr)
        configs = _with_options(translation, args)
        if args.dry_run:
            return _dry_run(flow, translation, configs, args)
        ignored = translation.report.ignored
        if ignored and not args.json:
            print(
                f"note: {len(ignored)} directive(s) ignored "
                f"(flow run {args.target} --dry-run lists them with the reason)",
                file=sys.stderr,
            )
        if len(configs) == 1:
            key = getattr(args, "idempotency_key", None)
            return _after_submit(flow, flow.run(configs[0], idempotency_key=key), args)
        return _run_array(flow, configs, translation.array_throttle, args)


def _after_submit(flow: Flow, task: Task, args: argparse.Namespace) -> int:
    """What ``flow run`` does after submitting one task (follow, wait, or say how to look)."""
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
    return 0


def _translate(flow: Flow, args: argparse.Namespace) -> SbatchTranslation:
    from flowlib.frontends.slurm import load_sbatch

    partitions = flow.config.provider_settings("slurm").get("partitions") or {}
    code_dir = Path(args.code_dir).absolute() if args.code_dir else None
    return load_sbatch(
        Path(args.target),
        partitions=partitions,
        strict=args.strict,
        submit_env=os.environ,
        code_dir=code_dir,
    )


def _with_options(translation: SbatchTranslation, args: argparse.Namespace) -> list[TaskConfig]:
    """The translated tasks with the command line's options over them."""
    from flowlib.describe import to_task_config

    fields = task_fields(args)
    if not fields:
        return list(translation.tasks)
    configs = []
    many = len(translation.tasks) > 1
    for config in translation.tasks:
        own = dict(fields)
        if "env" in own:
            own["env"] = {**config.env, **own["env"]}
        if many and "name" in own:  # one name per array task
            own["name"] = f"{own['name'][:50]}-{config.env.get('SLURM_ARRAY_TASK_ID', '')}"
        configs.append(to_task_config(config, **own))
    return configs


def _dry_run(
    flow: Flow, translation: SbatchTranslation, configs: list[TaskConfig], args: argparse.Namespace
) -> int:
    first = configs[0]
    plan = flow.plan(first)  # where it would run, and at what price (fails as a run would)
    summary: dict[str, Any] = {
        "tasks": len(configs),
        "instance_type": first.instance_type,
        "gpu_count": first.gpu_count,
        "min_vcpus": first.min_vcpus,
        "min_ram_gb": first.min_ram_gb,
        "num_instances": first.num_instances,
        "max_run_time_hours": first.max_run_time_hours,
        "array_throttle": translation.array_throttle,
        "data": {m.target: m.source for m in first.data_mounts},
        "outputs": dict(first.outputs),
    }
    if args.json:
        rows = [
            {
                "line": r.line,
                "directive": r.directive,
                "status": r.status,
                "target": r.target,
                "reason": r.reason,
            }
            for r in translation.report.rows
        ]
        print_json(
            {
                "dry_run": True,
                "source": args.target,
                **summary,
                "plan": plan.to_dict(),
                "directives": rows,
            }
        )
        return 0
    print(f"dry run: {args.target} as flowlib reads it; nothing was submitted\n")
    print(translation.report.table())
    print()
    array = ""
    if len(configs) > 1:
        indices = ",".join(c.env.get("SLURM_ARRAY_TASK_ID", "?") for c in configs)
        limit = translation.array_throttle
        array = f" (array {indices}" + (f", at most {limit} at once)" if limit else ")")
    print(f"tasks: {len(configs)}{array}")
    keys = ("instance_type", "gpu_count", "min_vcpus", "min_ram_gb", "num_instances")
    for key in (*keys, "max_run_time_hours"):
        value = summary[key]
        if value is None and key in ("gpu_count", "min_vcpus", "min_ram_gb"):
            continue
        shown = "(none)" if value is None else (f"{value:g}" if isinstance(value, float) else value)
        print(f"  {key}: {shown}")
    for line in plan.lines():
        print(line)
    for target, source in summary["data"].items():  # --data / --volume / --output
        print(f"  data: {target} <- {source}")
    for target, url in summary["outputs"].items():
        print(f"  output: {target} -> {url}")
    return 0


def _run_array(
    flow: Flow, configs: list[TaskConfig], throttle: int | None, args: argparse.Namespace
) -> int:
    """Submit the array: one task per index, at most ``throttle`` running at once (a provider
    that runs arrays itself, like SLURM, gets ONE array job and enforces the throttle)."""
    indices = [int(c.env.get("SLURM_ARRAY_TASK_ID", i)) for i, c in enumerate(configs)]
    submitted = flow.run_array(
        configs,
        throttle=throttle,
        indices=indices,
        idempotency_key=getattr(args, "idempotency_key", None),
    )
    if not args.json:
        for task in submitted:
            print(f"submitted {task.task_id} ({task.name}) on {task.provider}: {task.status}")
        if submitted:  # the first task's id names the array (Flow.cancel_array takes any)
            array = flow.store.get(submitted[0].task_id).provider_data.get("array", {}).get("id")
            print(f"  array {array}: flow cancel --array {array}   # stops every task of it")
    if not (args.wait or args.follow):
        if args.json:
            print_json([task_view(t) for t in submitted])
        return 0
    ended = [flow.wait(t.task_id) for t in submitted]
    if args.json:
        print_json([task_view(t) for t in ended])
    else:
        for task in ended:
            code = "" if task.exit_code is None else f", exit code {task.exit_code}"
            print(f"{task.task_id} ({task.name}) {task.status}{code}")
    return max((exit_status(t) for t in ended), default=0)
