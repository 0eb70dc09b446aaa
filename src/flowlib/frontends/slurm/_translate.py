"""From an sbatch script to TaskConfigs, with a report row for every directive."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from flowlib.errors import ValidationError
from flowlib.frontends.slurm._options import OPTIONS
from flowlib.frontends.slurm._runtime import render_job_script, slurm_environment
from flowlib.frontends.slurm._script import Directive, SbatchScript, parse_sbatch
from flowlib.frontends.slurm._values import UNLIMITED
from flowlib.models import MAX_RUN_TIME_HOURS, TaskConfig

__all__ = [
    "SbatchTranslation",
    "TranslationReport",
    "TranslationRow",
    "load_sbatch",
    "translate_sbatch",
]

Status = Literal["mapped", "ignored", "overridden"]


@dataclass(frozen=True)
class TranslationRow:
    """What became of one directive: ``mapped`` to ``target``, ``ignored`` for ``reason``, or
    ``overridden`` by a later directive (as SLURM overrides it)."""

    line: int
    directive: str
    status: Status
    target: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TranslationReport:
    """Every directive of the script, in order, and the warnings of the read."""

    rows: tuple[TranslationRow, ...]
    warnings: tuple[str, ...] = ()

    @property
    def ignored(self) -> tuple[TranslationRow, ...]:
        return tuple(r for r in self.rows if r.status == "ignored")

    def table(self) -> str:
        """The rows as a plain-text table (what ``flow run job.sbatch --dry-run`` prints)."""
        cells = [("line", "directive", "status", "becomes / why")]
        cells += [(str(r.line), r.directive, r.status, r.target or r.reason) for r in self.rows]
        widths = [max(len(c[i]) for c in cells) for i in range(3)]
        return "\n".join(
            "  ".join(c[i].ljust(widths[i]) for i in range(3)) + "  " + c[3] for c in cells
        )


@dataclass(frozen=True)
class SbatchTranslation:
    """The tasks an sbatch script becomes: one, or one per array index (``array_indices``);
    ``array_throttle`` is the ``%`` limit on how many run at once (None: no limit)."""

    script: SbatchScript
    tasks: tuple[TaskConfig, ...]
    report: TranslationReport
    array_indices: tuple[int, ...] = ()
    array_throttle: int | None = None


@dataclass
class _Plan:
    rows: list[TranslationRow] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    env: dict[str, str] = field(default_factory=dict)
    workdir: str | None = None

    def map(self, d: Directive, target: str) -> None:
        self.rows.append(TranslationRow(d.line, d.spelling, "mapped", target=target))

    def ignore(self, d: Directive, reason: str) -> None:
        self.rows.append(TranslationRow(d.line, d.spelling, "ignored", reason=reason))


def _slug(name: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-_")[:50]
    return slug or "sbatch"


def _gpu_type(text: str) -> str | None:
    """The text as a GPU model the catalog knows (``a100``, ``h100-80gb``), else None."""
    from flowlib.catalog import parse_instance_type

    try:
        request = parse_instance_type(text)
    except ValidationError:
        return None
    if request.gpu is None or request.fid is not None or request.count is not None:
        return None
    return text


def _constraint_gpu(constraint: str) -> str | None:
    for feature in re.split(r"[&|,\[\]()*]+", constraint):
        if feature and not feature.isdigit() and _gpu_type(feature):
            return feature
    return None


def translate_sbatch(
    script: SbatchScript | str,
    *,
    source: str = "job.sbatch",
    partitions: Mapping[str, str] | None = None,
    default_gpu: str | None = None,
    strict: bool = False,
    submit_env: Mapping[str, str] | None = None,
    submit_dir: str = "/workspace",
    code_dir: Path | None = None,
) -> SbatchTranslation:
    """Translate an sbatch script (text or :class:`SbatchScript`) into TaskConfigs.

    :param partitions: partition -> instance type (``{"gpu": "a100"}`` or ``{"big": "8xh100"}``);
        a type without a count gets the script's GPUs per node.
    :param default_gpu: the GPU model for scripts that ask for GPUs without naming one.
    :param strict: raise :class:`ValidationError` listing every ignored directive.
    :param submit_env: where ``--export=NAME`` (no value) takes its value from.
    :param submit_dir: ``SLURM_SUBMIT_DIR``: the task's working directory.
    """
    parsed = parse_sbatch(script, source=source) if isinstance(script, str) else script
    plan = _Plan()
    last = {d.option: d for d in parsed.directives}
    for d in parsed.directives:
        winner = last[d.option]
        if winner is not d:
            plan.rows.append(
                TranslationRow(d.line, d.spelling, "overridden", reason=_overridden_by(d, winner))
            )
            continue
        _translate_one(parsed, d, plan, submit_env or {})
    _gpus(parsed, plan, partitions or {}, default_gpu)
    for d in parsed.late_directives:
        plan.rows.append(
            TranslationRow(
                d.line,
                d.text.strip(),
                "ignored",
                reason="after the first command: sbatch ignores it",
            )
        )
    report = TranslationReport(tuple(sorted(plan.rows, key=lambda r: r.line)), parsed.warnings)
    if strict and report.ignored:
        listed = "; ".join(f"line {r.line} {r.directive} ({r.reason})" for r in report.ignored)
        raise ValidationError(
            f"{parsed.source}: strict mode: {len(report.ignored)} directive(s) would be ignored: "
            f"{listed}",
            suggestions=["remove them, or translate without strict mode"],
            source=parsed.source,
        )
    base_env = slurm_environment(parsed, submit_dir=submit_dir)
    text = render_job_script(parsed, workdir=plan.workdir)
    common: dict[str, Any] = {"script": text, "code_dir": code_dir, **plan.fields}
    name = _slug(parsed.name)
    if parsed.array is None:
        tasks: tuple[TaskConfig, ...] = (
            TaskConfig(name=name, env={**base_env, **plan.env}, **common),
        )
        return SbatchTranslation(parsed, tasks, report)
    tasks = tuple(
        TaskConfig(
            name=f"{name[:50]}-{index}",
            env={**slurm_environment(parsed, submit_dir=submit_dir, array_index=index), **plan.env},
            **common,
        )
        for index in parsed.array.indices
    )
    return SbatchTranslation(parsed, tasks, report, parsed.array.indices, parsed.array.throttle)


def _overridden_by(d: Directive, winner: Directive) -> str:
    """Why ``d`` does not count: the directive that wins, named as the script wrote it."""
    where = "later on the same line" if winner.line == d.line else f"on line {winner.line}"
    if winner.prefix != d.prefix and winner.prefix in ("#PBS", "#BSUB"):
        return f"{winner.spelling} {where} wins (sbatch reads {winner.prefix} lines last)"
    return f"{winner.spelling} {where} wins"


def _translate_one(
    parsed: SbatchScript, d: Directive, plan: _Plan, submit_env: Mapping[str, str]
) -> None:
    option = d.option
    if option == "time":
        minutes = parsed.time_minutes
        if minutes is None or minutes == UNLIMITED:
            plan.map(d, "max_run_time_hours=None (no limit)")
            return
        hours = minutes / 60
        if hours > MAX_RUN_TIME_HOURS:
            raise ValidationError(
                f"{parsed.source}:{d.line}: {d.spelling} is {hours:g} hours; flowlib runs a task "
                f"for at most {MAX_RUN_TIME_HOURS:g} hours",
                suggestions=["checkpoint and resubmit, or lower --time"],
                source=parsed.source,
                line=d.line,
            )
        plan.fields["max_run_time_hours"] = hours
        plan.map(d, f"max_run_time_hours={hours:g}")
    elif option == "nodes":
        plan.fields["num_instances"] = parsed.num_nodes
        nodes = parsed.nodes
        if nodes is not None and nodes.maximum > nodes.minimum:
            plan.map(
                d,
                f"num_instances={nodes.minimum} (the minimum of {nodes}: a flowlib task does "
                "not grow or shrink)",
            )
        else:
            plan.map(d, f"num_instances={parsed.num_nodes}")
    elif option in ("ntasks", "ntasks-per-node"):
        plan.fields.setdefault("num_instances", parsed.num_nodes)
        plan.map(d, f"SLURM_NTASKS={parsed.num_tasks}, srun launches the tasks")
    elif option == "cpus-per-task":
        cpus = (parsed.cpus_per_task or 1) * _tasks_per_node(parsed)
        plan.fields["min_vcpus"] = cpus
        plan.map(d, f"min_vcpus={cpus} ({_cpus_text(parsed)}), SLURM_CPUS_PER_TASK")
    elif option == "job-name":
        plan.map(d, f"name={_slug(parsed.name)}, SLURM_JOB_NAME")
    elif option in ("gres", "gpus", "gpus-per-node", "gpus-per-task", "constraint", "partition"):
        pass  # decided together by _gpus
    elif option == "chdir":
        chdir = parsed.chdir or ""
        if chdir.startswith("/"):
            plan.ignore(d, "an absolute path on the cluster; the task runs in its workspace")
        else:
            plan.workdir = chdir
            plan.map(d, f"runs in {chdir} under the workspace")
    elif option == "export":
        _export(parsed, d, plan, submit_env)
    elif option in ("mem", "mem-per-cpu", "mem-per-gpu"):
        _memory(parsed, d, plan)
    elif option == "array":
        assert parsed.array is not None
        throttle = f", at most {parsed.array.throttle} at once" if parsed.array.throttle else ""
        plan.map(d, f"{len(parsed.array.indices)} tasks (SLURM_ARRAY_TASK_ID){throttle}")
    elif option == "ignore-pbs":
        plan.map(d, "#PBS and #BSUB lines not read")
    elif option.startswith(("PBS ", "BSUB ")):
        plan.ignore(d, f"{option.split()[0]} option flowlib does not interpret")
    else:
        spec = OPTIONS.get(option)
        plan.ignore(d, spec.ignored if spec and spec.ignored else "not interpreted by flowlib")


def _tasks_per_node(parsed: SbatchScript) -> int:
    return parsed.ntasks_per_node or -(-parsed.num_tasks // parsed.num_nodes)


def _cpus_text(parsed: SbatchScript) -> str:
    tasks = _tasks_per_node(parsed)
    each = parsed.cpus_per_task or 1
    return f"{each} per task x {tasks} tasks per node" if tasks > 1 else f"{each} per task"


def _memory(parsed: SbatchScript, d: Directive, plan: _Plan) -> None:
    """``--mem`` (per node), ``--mem-per-cpu`` (x CPUs per node), ``--mem-per-gpu`` (x GPUs
    per node) -> ``min_ram_gb``, host memory per instance."""
    if d.option == "mem":
        mb, how = parsed.mem_mb, "per node"
        if mb == 0:
            plan.map(d, "no minimum (--mem=0 asks for all of a node's memory)")
            return
    elif d.option == "mem-per-cpu":
        cpus = (parsed.cpus_per_task or 1) * _tasks_per_node(parsed)
        mb = (parsed.mem_per_cpu_mb or 0) * cpus
        how = f"x {cpus} CPUs per node"
    else:
        request = parsed.gpu_request_per_node
        if request is None:
            plan.ignore(d, "memory per GPU, but the script asks for no GPU")
            return
        mb = (parsed.mem_per_gpu_mb or 0) * request.count
        how = f"x {request.count} GPUs per node"
    assert mb is not None
    gb = max(1, -(-mb // 1024))
    plan.fields["min_ram_gb"] = gb
    plan.map(d, f"min_ram_gb={gb} ({how})")


def _export(parsed: SbatchScript, d: Directive, plan: _Plan, submit_env: Mapping[str, str]) -> None:
    value = parsed.export or ""
    mapped: list[str] = []
    notes: list[str] = []
    empty_start = False
    for item in filter(None, value.split(",")):
        name, eq, val = item.partition("=")
        if name.upper() in ("ALL", "NONE", "NIL") and not eq:
            if name.upper() == "ALL":
                notes.append("ALL: the submitting shell's environment is not shipped")
            else:
                empty_start = True
            continue
        if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise ValidationError(
                f"{parsed.source}:{d.line}: {d.spelling}: {name!r} is not a variable name",
                source=parsed.source,
                line=d.line,
            )
        if eq:
            plan.env[name] = val
            mapped.append(name)
        elif name in submit_env:
            plan.env[name] = submit_env[name]
            mapped.append(name)
        else:
            notes.append(f"{name}: not set where the script was translated")
    if empty_start:
        # NONE: the job starts from an empty environment, as every flowlib task does (the
        # submitting shell's variables never travel): only SLURM_* and the task's env are set.
        notes.insert(0, "NONE: starts from an empty environment, as every flowlib task does")
    if mapped:
        note = f" ({'; '.join(notes)})" if notes else ""
        plan.map(d, f"env {', '.join(mapped)}{note}")
    elif empty_start and len(notes) == 1:
        plan.map(d, "env starts empty (NONE), as every flowlib task's does")
    else:
        plan.ignore(d, "; ".join(notes) or "exports nothing")


def _gpus(
    parsed: SbatchScript,
    plan: _Plan,
    partitions: Mapping[str, str],
    default_gpu: str | None,
) -> None:
    """GPU type and count -> ``instance_type`` (a model is named) or ``gpu_count`` (any model),
    with one row per directive involved."""
    request = parsed.gpu_request_per_node
    involved = [
        d
        for d in parsed.directives
        if d.option in ("gres", "gpus", "gpus-per-node", "gpus-per-task", "constraint", "partition")
        and not any(r.line == d.line and r.directive == d.spelling for r in plan.rows)
    ]
    by_partition = partitions.get(parsed.partition or "") if parsed.partition else None
    gpu: str | None = None
    source_option = ""
    if request is not None and request.gpu_type and _gpu_type(request.gpu_type):
        gpu, source_option = request.gpu_type, "gres"
    elif parsed.constraint and _constraint_gpu(parsed.constraint):
        gpu, source_option = _constraint_gpu(parsed.constraint), "constraint"
    elif by_partition is not None:
        source_option = "partition"
    elif request is not None and default_gpu:
        gpu, source_option = default_gpu, "default_gpu"
    instance_type: str | None = None
    if source_option == "partition" and by_partition is not None:
        from flowlib.catalog import parse_instance_type

        mapped = parse_instance_type(by_partition)
        count = request.count if request is not None else None
        instance_type = by_partition if mapped.count or not count else f"{count}x{by_partition}"
    elif gpu is not None:
        instance_type = f"{request.count if request else 1}x{gpu}"
    if instance_type is not None:
        plan.fields["instance_type"] = instance_type
    elif request is not None:  # GPUs of any model: the planner picks the cheapest that fits
        plan.fields["gpu_count"] = request.count
    for d in involved:
        gpu_option = d.option in ("gres", "gpus", "gpus-per-node", "gpus-per-task")
        if d.option == "partition" and source_option == "partition":
            plan.map(d, f"instance_type={instance_type} (partition map)")
        elif d.option == "partition":
            plan.ignore(d, "no instance type configured for this partition (partitions=...)")
        elif d.option == "constraint" and source_option == "constraint":
            plan.map(d, f"instance_type={instance_type} (GPU named by the constraint)")
        elif d.option == "constraint":
            plan.ignore(d, _constraint_unused(parsed, source_option, gpu))
        elif gpu_option and instance_type is not None:
            plan.map(d, f"instance_type={instance_type}, SLURM_GPUS_ON_NODE")
        elif gpu_option and request is None:
            plan.ignore(d, "asks for no GPU")
        else:
            assert request is not None
            plan.map(
                d,
                f"gpu_count={request.count} per node, any model (the cheapest that fits, or "
                "default_gpu), SLURM_GPUS_ON_NODE",
            )


def _constraint_unused(parsed: SbatchScript, source_option: str, gpu: str | None) -> str:
    """Why a ``--constraint`` does not choose the GPU."""
    named = _constraint_gpu(parsed.constraint or "")
    if named is None:
        return "names no GPU model flowlib knows (node features have no meaning off-cluster)"
    if source_option == "partition":
        return f"names {named}, but the partition map chooses the instance type"
    return f"names {named}, but the GPU model comes from --{source_option} ({gpu})"


def load_sbatch(path: Path, **options: Any) -> SbatchTranslation:
    """Read and translate an sbatch file; ``options`` as for :func:`translate_sbatch`."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ValidationError(f"cannot read sbatch script {path}: {exc}") from None
    return translate_sbatch(text, source=str(path), **options)
