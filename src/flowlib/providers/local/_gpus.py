"""What GPUs this machine has (``nvidia-smi``), and whether a task's request fits them."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass

from flowlib.core.seams import CommandRunner
from flowlib.errors import CapacityError, FlowError
from flowlib.models import TaskConfig

QUERY = ["nvidia-smi", "--query-gpu=index,name,memory.total", "--format=csv,noheader,nounits"]


@dataclass(frozen=True)
class LocalGPU:
    index: int
    name: str  # as nvidia-smi says it: "NVIDIA H100 80GB HBM3"
    memory_gb: int
    model: str | None  # canonical catalog model ("h100"), None when unknown


def detect_gpus(runner: CommandRunner) -> list[LocalGPU]:
    """This machine's NVIDIA GPUs; empty when there is no ``nvidia-smi`` or it finds none."""
    if shutil.which("nvidia-smi") is None:
        return []
    try:
        result = runner.run(QUERY, timeout=20)
    except (OSError, TimeoutError, Exception):  # a broken driver must not break submit
        return []
    if result.returncode != 0:
        return []
    return parse_nvidia_smi(result.stdout)


def parse_nvidia_smi(text: str) -> list[LocalGPU]:
    gpus = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 3 or not parts[0].isdigit():
            continue
        try:
            mib = float(parts[2])
        except ValueError:
            continue
        gpus.append(LocalGPU(int(parts[0]), parts[1], round(mib / 1024), model_of(parts[1])))
    return gpus


def model_of(gpu_name: str) -> str | None:
    """The catalog model of a name as nvidia-smi prints it, e.g. 'NVIDIA A100-SXM4-80GB'."""
    from flowlib.catalog import parse_instance_type

    words = re.sub(r"(?i)\b(nvidia|geforce|tesla|quadro)\b", " ", gpu_name).replace("-", " ")
    tokens = [t for t in words.lower().split() if t]
    # Try the longest run of leading words first ("rtx a6000", then "rtx", ...).
    for size in (2, 1):
        for start in range(len(tokens) - size + 1):
            candidate = "".join(tokens[start : start + size])
            try:
                request = parse_instance_type(candidate)
            except FlowError:
                continue
            if request.gpu:
                return request.gpu
    return None


def check_fits(config: TaskConfig, gpus: list[LocalGPU]) -> None:
    """Raise :class:`CapacityError` when this machine cannot give the task the GPUs it asks for."""
    if config.instance_type is None and config.min_gpu_memory_gb is None and not config.gpu_count:
        return
    have = ", ".join(f"{g.name} ({g.memory_gb} GB)" for g in gpus) or "no NVIDIA GPU"
    tips = [
        "drop instance_type / min_gpu_memory_gb / gpu_count to run here on what this machine has",
        "or run it with a provider that rents GPUs (`flow catalog` lists offers)",
    ]
    if config.instance_type is None and config.gpu_count and len(gpus) < config.gpu_count:
        raise CapacityError(
            f"this machine has {have}; the task asks for {config.gpu_count} GPU(s)",
            suggestions=tips,
            provider="local",
        )
    if config.min_gpu_memory_gb is not None:
        if not any(g.memory_gb >= config.min_gpu_memory_gb for g in gpus):
            raise CapacityError(
                f"this machine has {have}; the task asks for a GPU with at least "
                f"{config.min_gpu_memory_gb} GB",
                suggestions=tips,
                provider="local",
            )
        return
    from flowlib.catalog import parse_instance_type

    assert config.instance_type is not None
    want = parse_instance_type(config.instance_type)
    if want.fid:
        raise CapacityError(
            f"'{config.instance_type}' is a cloud provider's instance type id; "
            "the local provider runs on this machine's GPUs",
            suggestions=tips,
            provider="local",
        )
    count = want.count or 1
    matching = [
        g
        for g in gpus
        if (want.gpu is None or g.model == want.gpu)
        and (want.memory_gb is None or abs(g.memory_gb - want.memory_gb) <= 2)
    ]
    if len(matching) < count:
        raise CapacityError(
            f"this machine has {have}; the task asks for {count}x {want.gpu or 'GPU'}"
            + (f" {want.memory_gb}GB" if want.memory_gb else ""),
            suggestions=tips,
            provider="local",
        )
