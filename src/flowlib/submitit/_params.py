"""submitit's parameters, and what each becomes in flowlib: one typed table."""

from __future__ import annotations

import difflib
import math
import re
import warnings
from collections.abc import Mapping
from enum import Enum
from typing import Any

from flowlib.errors import UnsupportedError, ValidationError

__all__ = ["PARAMETERS", "Use", "task_fields", "validate", "warn_ignored"]


class Use(str, Enum):
    FIELD = "field"  # becomes a TaskConfig field (or flowlib option)
    GPU = "gpu"  # feeds the instance-type choice through the catalog
    CHECK = "check"  # must be 1 (nodes, tasks): more is refused, not dropped
    IGNORED = "ignored"  # SLURM scheduling detail without meaning here: warned once


PARAMETERS: Mapping[str, Use] = {
    # submitit's generic names
    "timeout_min": Use.FIELD,
    "name": Use.FIELD,
    "gpus_per_node": Use.GPU,
    "nodes": Use.CHECK,
    "tasks_per_node": Use.CHECK,
    "cpus_per_task": Use.FIELD,
    "mem_gb": Use.FIELD,
    "stderr_to_stdout": Use.IGNORED,
    # SLURM names
    "slurm_partition": Use.IGNORED,
    "slurm_time": Use.FIELD,
    "slurm_job_name": Use.FIELD,
    "slurm_gres": Use.GPU,
    "slurm_gpus_per_node": Use.GPU,
    "slurm_constraint": Use.GPU,
    "slurm_array_parallelism": Use.FIELD,
    "slurm_additional_parameters": Use.IGNORED,
    "slurm_setup": Use.IGNORED,
    "slurm_srun_args": Use.IGNORED,
    "slurm_qos": Use.IGNORED,
    "slurm_account": Use.IGNORED,
    "slurm_comment": Use.IGNORED,
    "slurm_exclude": Use.IGNORED,
    "slurm_nodelist": Use.IGNORED,
    "slurm_mem": Use.FIELD,
    "slurm_mem_per_cpu": Use.IGNORED,
    "slurm_mem_per_gpu": Use.IGNORED,
    "slurm_cpus_per_task": Use.FIELD,
    "slurm_cpus_per_gpu": Use.IGNORED,
    "slurm_signal_delay_s": Use.IGNORED,
    "slurm_wckey": Use.IGNORED,
    "slurm_exclusive": Use.IGNORED,
    "slurm_use_srun": Use.IGNORED,
    "slurm_stderr_to_stdout": Use.IGNORED,
    "slurm_nodes": Use.CHECK,
    "slurm_ntasks_per_node": Use.CHECK,
    # flowlib's own
    "flow_provider": Use.FIELD,
    "flow_instance_type": Use.FIELD,
    "flow_gpu": Use.GPU,
    "flow_min_gpu_memory_gb": Use.GPU,
    "flow_max_price_per_hour": Use.FIELD,
    "flow_env": Use.FIELD,
    "flow_image": Use.FIELD,
    "flow_region": Use.FIELD,
    "flow_code_dir": Use.FIELD,
    "flow_upload_code": Use.FIELD,
    "flow_python": Use.FIELD,
}


def validate(params: Mapping[str, Any]) -> None:
    unknown = sorted(set(params) - set(PARAMETERS))
    if not unknown:
        return
    tips = []
    for name in unknown:
        close = difflib.get_close_matches(name, PARAMETERS, n=1)
        if close:
            tips.append(f"did you mean `{close[0]}` instead of `{name}`?")
    valid = "\n".join(f"  - {p}" for p in sorted(PARAMETERS))
    raise ValidationError(
        f"Unavailable parameter(s): {unknown}\nValid parameters are:\n{valid}",
        suggestions=tips,
        unknown=unknown,
    )


def warn_ignored(params: Mapping[str, Any]) -> None:
    """One warning naming the parameters that have no effect here (never a silent drop)."""
    ignored = sorted(k for k in params if PARAMETERS.get(k) is Use.IGNORED)
    if ignored:
        warnings.warn(
            f"flowlib ignores {', '.join(ignored)} (scheduling details without effect on "
            "flowlib providers)",
            stacklevel=3,
        )


def _minutes(value: Any) -> float:
    """``timeout_min``/``slurm_time``: minutes, or SLURM's ``[D-]HH:MM[:SS]`` / ``MM``."""
    if isinstance(value, (int, float)):
        return float(value)
    text = str(value)
    days = 0
    if "-" in text:
        d, text = text.split("-", 1)
        days = int(d)
    parts = [int(p) for p in text.split(":")]
    if len(parts) == 1:
        return days * 1440 + parts[0]
    if len(parts) == 2:
        return days * 1440 + parts[0] * 60 + parts[1]
    return days * 1440 + parts[0] * 60 + parts[1] + parts[2] / 60


def _gpu_request(params: Mapping[str, Any]) -> tuple[str | None, int | None, int | None]:
    family = params.get("flow_gpu")
    count = params.get("gpus_per_node", params.get("slurm_gpus_per_node"))
    gres = params.get("slurm_gres")
    if gres:  # gpu:N or gpu:type:N
        match = re.fullmatch(r"gpu(?::([A-Za-z0-9_.-]+?))?(?::(\d+))?", str(gres))
        if match is None:
            raise ValidationError(f"cannot read slurm_gres={gres!r}: expected gpu[:type][:count]")
        family = family or match.group(1)
        count = count or (int(match.group(2)) if match.group(2) else 1)
    if not family and params.get("slurm_constraint"):
        family = str(params["slurm_constraint"])
    if isinstance(count, str):  # submitit also takes "a100:2"
        if ":" in count:
            family, count = count.split(":", 1)
        count = int(count)
    memory = params.get("flow_min_gpu_memory_gb")
    return family, (int(count) if count else None), (int(memory) if memory else None)


def task_fields(params: Mapping[str, Any], provider: str) -> dict[str, Any]:
    """The TaskConfig fields (and flowlib options) the parameters ask for."""
    fields: dict[str, Any] = {}
    for key in ("nodes", "tasks_per_node", "slurm_nodes", "slurm_ntasks_per_node"):
        if int(params.get(key, 1)) != 1:
            raise UnsupportedError(
                f"{key}={params[key]}: the submitit frontend runs one task on one node for now",
                suggestions=["submit one job per process (map_array) instead"],
            )
    timeout = params.get("timeout_min", params.get("slurm_time"))
    if timeout is not None:
        fields["max_run_time_hours"] = _minutes(timeout) / 60
    name = params.get("name", params.get("slurm_job_name"))
    if name:
        fields["name"] = re.sub(r"[^A-Za-z0-9_-]+", "-", str(name)).strip("-_")[:63] or None
    for key, field in (
        ("flow_max_price_per_hour", "max_price_per_hour"),
        ("flow_env", "env"),
        ("flow_image", "image"),
        ("flow_region", "region"),
        ("flow_code_dir", "code_dir"),
        ("flow_upload_code", "upload_code"),
        ("flow_python", "python"),
    ):
        if params.get(key) is not None:
            fields[field] = params[key]
    fields.update(_host_needs(params))
    if params.get("flow_instance_type"):
        fields["instance_type"] = params["flow_instance_type"]
    else:
        family, count, memory = _gpu_request(params)
        if family:
            fields["instance_type"] = choose_instance_type(
                family, count or 1, memory, params.get("flow_max_price_per_hour"), provider
            )
        elif count or memory:  # GPUs of any model: the planner picks the cheapest that fits
            fields["gpu_count"] = count or 1
            fields["min_gpu_memory_gb"] = memory
    return {k: v for k, v in fields.items() if v is not None}


def _host_needs(params: Mapping[str, Any]) -> dict[str, Any]:
    """``cpus_per_task`` -> ``min_vcpus``; ``mem_gb`` / ``slurm_mem`` -> ``min_ram_gb``."""
    out: dict[str, Any] = {}
    cpus = params.get("cpus_per_task", params.get("slurm_cpus_per_task"))
    if cpus is not None:
        out["min_vcpus"] = int(cpus)
    if params.get("mem_gb") is not None:
        out["min_ram_gb"] = max(1, math.ceil(float(params["mem_gb"])))
    elif params.get("slurm_mem") is not None:
        from flowlib.frontends.slurm._values import parse_memory_mb

        try:
            mb = parse_memory_mb(str(params["slurm_mem"]))
        except ValueError as exc:
            raise ValidationError(f"slurm_mem={params['slurm_mem']!r}: {exc}") from None
        if mb:  # 0 asks for a whole node's memory: no minimum
            out["min_ram_gb"] = max(1, -(-mb // 1024))
    return out


def choose_instance_type(
    gpu: str | None, count: int, memory_gb: int | None, max_price: float | None, provider: str
) -> str:
    """The cheapest catalog instance type with ``count`` GPUs (of family ``gpu``, with at least
    ``memory_gb`` each): this provider's offers when the catalog has some, else any."""
    from flowlib.catalog import find_instances

    filters: dict[str, Any] = {
        "gpu": gpu,
        "gpu_count": count,
        "min_gpu_memory_gb": memory_gb,
        "max_price_per_hour": max_price,
    }
    offers = find_instances(provider=provider, **filters) or find_instances(**filters)
    if not offers:
        want = f"{count}x {gpu or 'GPU'}" + (f" with {memory_gb} GB each" if memory_gb else "")
        raise ValidationError(
            f"no instance type in the catalog has {want}"
            + (f" under ${max_price}/h" if max_price else ""),
            suggestions=["`flow catalog` lists what exists; or set flow_instance_type"],
        )
    return offers[0].instance_type.name
