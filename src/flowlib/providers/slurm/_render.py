"""A flowlib task as an sbatch script: the provider's settings, the resource directives, and the
multi-node launcher.

The rendered script holds only ``#SBATCH`` directives and two commands: it sets ``FLOW_ROOT`` to
the task's directory and runs the task's startup script (:mod:`flowlib.core.startup`), written
next to it. No ``#PBS``/``#BSUB`` line is ever written (sbatch would obey them).
"""

from __future__ import annotations

import difflib
import math
import re
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any

from flowlib.core.startup import KILL_GRACE_S, MultiNode
from flowlib.errors import ConfigError, ValidationError
from flowlib.models import TaskConfig

__all__ = [
    "SlurmSettings",
    "multi_node",
    "render_array",
    "render_job",
    "resources",
]

# Keys every provider section inherits from the top level of the config; not SLURM's business.
_INHERITED = {"api_key", "project", "region", "api_url"}


@dataclass(frozen=True)
class SlurmSettings:
    """``providers.slurm`` in the config file (see docs/slurm.md).

    :ivar login_host: ``user@host[:port]`` of a login node; unset: SLURM's commands run here.
    :ivar login_key: the private key for ``login_host`` (default: ssh's own choice).
    :ivar job_dir: where task directories go (a filesystem the compute nodes share); default
        ``~/.flow/slurm`` on the submitting machine.
    :ivar partition: the partition for tasks no entry of ``partitions`` claims.
    :ivar partitions: partition -> the instance type of its nodes (``gpu: a100``,
        ``big: 8xh100``). Tasks asking for that GPU go there; ``flow run job.sbatch`` maps a
        script's ``--partition`` back to the instance type.
    :ivar gres_types: write the GPU model in ``--gres`` (``gpu:a100:2``), for clusters whose
        ``gres.conf`` declares GPU types.
    :ivar account, qos: ``--account`` / ``--qos`` for every job.
    :ivar slurm_conf: ``SLURM_CONF`` for the commands (another cluster's configuration).
    """

    login_host: str | None = None
    login_key: str | None = None
    job_dir: str | None = None
    partition: str | None = None
    partitions: Mapping[str, str] = field(default_factory=dict)
    gres_types: bool = False
    account: str | None = None
    qos: str | None = None
    slurm_conf: str | None = None
    command_timeout_s: float = 60.0
    poll_interval_s: float = 0.25

    @classmethod
    def from_mapping(cls, settings: Mapping[str, Any]) -> SlurmSettings:
        known = {f.name for f in fields(cls)}
        given = {k: v for k, v in settings.items() if k not in _INHERITED}
        unknown = sorted(set(given) - known)
        if unknown:
            tips = [
                f"did you mean '{close[0]}'?"
                for key in unknown
                if (close := difflib.get_close_matches(key, sorted(known), n=1))
            ]
            raise ConfigError(
                f"unknown key(s) in providers.slurm: {', '.join(unknown)}",
                suggestions=tips or [f"valid keys: {', '.join(sorted(known))}"],
                provider="slurm",
            )
        partitions = given.get("partitions") or {}
        if not isinstance(partitions, Mapping) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in partitions.items()
        ):
            raise ConfigError(
                "providers.slurm.partitions must map partition names to instance types",
                suggestions=["e.g. partitions: {gpu: a100, big: 8xh100}"],
                provider="slurm",
            )
        from flowlib.catalog import parse_instance_type

        for name, instance_type in partitions.items():
            try:
                parse_instance_type(instance_type)
            except ValidationError as exc:
                raise ConfigError(
                    f"providers.slurm.partitions.{name}: {exc.message}",
                    suggestions=exc.suggestions,
                    provider="slurm",
                ) from None
        try:
            return cls(**{**given, "partitions": dict(partitions)})
        except TypeError as exc:  # pragma: no cover - dataclass keyword errors
            raise ConfigError(f"providers.slurm: {exc}", provider="slurm") from None


@dataclass(frozen=True)
class Resources:
    """What a task asks SLURM for, as directive values."""

    partition: str | None
    gres: str | None
    gpus_per_node: int


def resources(config: TaskConfig, settings: SlurmSettings) -> Resources:
    """The partition and GPUs for ``config``; raises :class:`ValidationError` when no configured
    partition has the GPU it asks for."""
    from flowlib.catalog import parse_instance_type

    if config.instance_type is None:
        count = config.gpu_count or 0  # GPUs of any model: the partition's
        return Resources(settings.partition, f"gpu:{count}" if count else None, count)
    request = parse_instance_type(config.instance_type)
    if request.gpu is None:
        raise ValidationError(
            f"instance type {config.instance_type!r} names another provider's machine; on SLURM "
            "give a GPU model and count (4xa100)",
            suggestions=["instance_type='4xa100'"],
            provider="slurm",
        )
    count = request.count or 1
    partition = settings.partition
    if settings.partitions:
        claims = [(name, parse_instance_type(t)) for name, t in settings.partitions.items()]
        fitting = [
            name
            for name, offer in claims
            if offer.gpu == request.gpu and (offer.count is None or offer.count >= count)
        ]
        if fitting:
            partition = fitting[0]
        elif settings.partition is None:
            have = ", ".join(f"{n}: {t}" for n, t in settings.partitions.items())
            raise ValidationError(
                f"no SLURM partition has {count}x{request.gpu} (configured: {have})",
                suggestions=[
                    "add the partition to providers.slurm.partitions",
                    "or set providers.slurm.partition for GPUs no entry names",
                ],
                provider="slurm",
            )
    gres = f"gpu:{request.gpu}:{count}" if settings.gres_types else f"gpu:{count}"
    return Resources(partition, gres, count)


def _word(value: str) -> str:
    """A directive value as sbatch splits it: quoted when it holds blanks, quotes or ``#``."""
    if re.fullmatch(r"[A-Za-z0-9_./%:=,@+-]+", value):
        return value
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def time_minutes(hours: float, grace_s: int = KILL_GRACE_S) -> int:
    """SLURM's limit for a task of ``hours``: flowlib's own limit fires first (exit 124), SLURM's
    only catches a startup script that could not stop its workload."""
    return math.ceil(hours * 60 + (grace_s + 60) / 60)


def _directives(
    task_id: str, config: TaskConfig, task_dir: str, settings: SlurmSettings
) -> list[str]:
    res = resources(config, settings)
    lines = [
        ("job-name", config.name),
        ("output", f"{task_dir}/slurm-%j.out"),
        ("chdir", task_dir),
        ("nodes", str(config.num_instances)),
        ("ntasks-per-node", "1"),
        ("comment", f"flowlib task {task_id}"),
    ]
    if config.max_run_time_hours is not None:
        grace = config.stop_grace_s
        lines.append(("time", str(time_minutes(config.max_run_time_hours, grace))))
    # SLURM's own stop notice (the partition's time limit, preemption): SIGTERM to the batch
    # shell, which writes FLOW_STOP_FILE and passes it on (core.startup).
    lines.append(("signal", f"B:TERM@{max(1, config.stop_grace_s)}"))
    if res.gres is not None:
        lines.append(("gres", res.gres))
    if res.partition is not None:
        lines.append(("partition", res.partition))
    if settings.account is not None:
        lines.append(("account", settings.account))
    if settings.qos is not None:
        lines.append(("qos", settings.qos))
    return [f"#SBATCH --{key}={_word(value)}" for key, value in lines]


def render_job(task_id: str, config: TaskConfig, task_dir: str, settings: SlurmSettings) -> str:
    """The batch script for one task whose files are in ``task_dir``."""
    directives = "\n".join(_directives(task_id, config, task_dir, settings))
    root = shlex.quote(f"{task_dir}/root")
    startup = shlex.quote(f"{task_dir}/startup.sh")
    return (
        f"#!/bin/bash\n{directives}\n"
        f"# flowlib task {task_id} ({config.name}): its startup script runs under FLOW_ROOT\n"
        f"export FLOW_ROOT={root}\n"
        f"exec bash {startup}\n"
    )


def render_array(
    tasks: Sequence[tuple[int, str, str]],
    config: TaskConfig,
    array_dir: str,
    settings: SlurmSettings,
    *,
    throttle: int | None = None,
) -> str:
    """One SLURM array job for many tasks: ``tasks`` is (array index, task id, task dir); each
    array task runs its own task's startup script. ``config`` (the first task's) decides the
    resources, which SLURM gives every array task alike."""
    first_id = tasks[0][1]
    lines = _directives(first_id, config, array_dir, settings)
    lines[1] = f"#SBATCH --output={_word(array_dir)}/slurm-%A_%a.out"
    lines[5] = f"#SBATCH --comment={_word('flowlib array ' + first_id)}"
    spec = ",".join(str(i) for i, _, _ in tasks) + (f"%{throttle}" if throttle else "")
    lines.append(f"#SBATCH --array={spec}")
    cases = "".join(
        f"  {index}) FLOW_TASK_DIR={shlex.quote(task_dir)} ;;  # {task_id}\n"
        for index, task_id, task_dir in tasks
    )
    directives = "\n".join(lines)
    return (
        f"#!/bin/bash\n{directives}\n"
        f"# flowlib array of {len(tasks)} tasks: each array index runs its task's startup script\n"
        'case "$SLURM_ARRAY_TASK_ID" in\n'
        f"{cases}"
        '  *) echo "flowlib: no task for array index $SLURM_ARRAY_TASK_ID" >&2; exit 2 ;;\n'
        "esac\n"
        'export FLOW_ROOT="$FLOW_TASK_DIR/root"\n'
        'exec bash "$FLOW_TASK_DIR/startup.sh"\n'
    )


def multi_node(config: TaskConfig, gpus_per_node: int) -> MultiNode | None:
    """The multi-node contract from SLURM's variables: ``srun`` starts the workload once per
    node, and each node reads its rank, the first node's address and its GPUs from SLURM."""
    if config.num_instances <= 1:
        return None
    return MultiNode(
        node_rank='"${SLURM_NODEID:-0}"',
        num_nodes='"${SLURM_JOB_NUM_NODES:-' + str(config.num_instances) + '}"',
        main_ip=(
            '"$(h=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1); '
            'getent ahostsv4 "$h" | awk \'{print $1; exit}\' | grep . || echo "$h")"'
        ),
        gpus_per_node='"${SLURM_GPUS_ON_NODE:-' + str(gpus_per_node) + '}"',
        master_port='"$(( 20000 + ${SLURM_JOB_ID:-0} % 20000 ))"',
        launcher=(
            f"srun --nodes={config.num_instances} --ntasks-per-node=1 "
            "--kill-on-bad-exit=1 --export=ALL"
        ),
    )
