"""Task options on the command line (``flow run``'s, and ``flow run job.sbatch``'s) as
TaskConfig fields: ``--env``, ``--data`` / ``--output`` / ``--volume``, the hardware and limits,
and ``--governor`` as the local provider's setting."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING, Any

from flowlib.errors import ValidationError

if TYPE_CHECKING:
    from flowlib.models import FlowConfig, TaskConfig

__all__ = ["parse_data_options", "parse_env", "task_config", "task_fields", "with_governor"]


def with_governor(config: FlowConfig, mode: str) -> FlowConfig:
    """``--governor MODE``: the local provider's ``governor`` setting for this run."""
    if config.provider != "local":
        raise ValidationError(
            f"--governor is a setting of the local resource governor; this task runs on "
            f"{config.provider!r}",
            suggestions=["drop --governor, or run it here with --provider local"],
        )
    sections = dict(config.providers)
    sections["local"] = {**sections.get("local", {}), "governor": mode}
    return config.model_copy(update={"providers": sections})


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
        "gpu_count": getattr(args, "gpus", None),
        "min_vcpus": getattr(args, "min_vcpus", None),
        "min_ram_gb": getattr(args, "min_ram", None),
        "num_instances": getattr(args, "nodes", None),
        "region": getattr(args, "region", None),
        "spot": getattr(args, "spot", None),
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
    if fields.get("gpu_count") == 0:  # --gpus 0: no GPU at all, whatever the file asked
        fields.update(gpu_count=None, instance_type=None, min_gpu_memory_gb=None)
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
