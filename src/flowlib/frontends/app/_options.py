"""What ``@app.function(...)`` accepts, checked; Modal's ``gpu=`` grammar through the catalog."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowlib.errors import ValidationError
from flowlib.remote._batch import Retries

__all__ = [
    "DEFAULT_MAX_CONTAINERS",
    "FunctionOptions",
    "any_gpu_count",
    "make_options",
    "resolve_gpu",
]

DEFAULT_MAX_CONTAINERS = 4


@dataclass(frozen=True)
class FunctionOptions:
    """What ``@app.function(...)`` was given (JSON-able but for ``retries``)."""

    gpu: str | tuple[str, ...] | None = None
    instance_type: str | None = None
    timeout: float | None = None
    retries: Retries = field(default_factory=Retries)
    image: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    volumes: tuple[dict[str, Any], ...] = ()
    max_price_per_hour: float | None = None
    provider: str | None = None
    max_containers: int = DEFAULT_MAX_CONTAINERS
    batch_size: int | None = None
    python: str | None = None
    code_dir: str | None = None
    name: str | None = None


def make_options(
    *,
    gpu: str | Sequence[str] | None,
    instance_type: str | None,
    timeout: float | None,
    retries: int | Retries | None,
    image: str | None,
    env: Mapping[str, str] | None,
    volumes: Mapping[str, Any] | Sequence[Any] | None,
    max_price_per_hour: float | None,
    provider: str | None,
    max_containers: int | None,
    batch_size: int | None,
    python: str | None,
    code_dir: str | Path | None,
    name: str | None,
) -> FunctionOptions:
    if gpu is not None and instance_type is not None:
        raise ValidationError(
            "give gpu= or instance_type=, not both",
            suggestions=['gpu="A100-80GB:4" (Modal\'s grammar) or instance_type="4xa100"'],
        )
    gpus: str | tuple[str, ...] | None = gpu if gpu is None or isinstance(gpu, str) else tuple(gpu)
    if gpus is not None:
        _check_gpu_grammar(gpus)
    if timeout is not None and not 0 < timeout <= 168 * 3600:
        raise ValidationError(f"timeout={timeout!r}: expected seconds, above 0 and at most 7 days")
    for label, value in (("max_containers", max_containers), ("batch_size", batch_size)):
        if value is not None and (isinstance(value, bool) or int(value) < 1):
            raise ValidationError(f"{label}={value!r}: expected 1 or more")
    return FunctionOptions(
        gpu=gpus,
        instance_type=instance_type,
        timeout=None if timeout is None else float(timeout),
        retries=Retries.of(retries),
        image=image,
        env=dict(env or {}),
        volumes=_volumes(volumes),
        max_price_per_hour=max_price_per_hour,
        provider=provider,
        max_containers=int(max_containers or DEFAULT_MAX_CONTAINERS),
        batch_size=batch_size,
        python=python,
        code_dir=None if code_dir is None else str(Path(code_dir).absolute()),
        name=name,
    )


def _volumes(volumes: Mapping[str, Any] | Sequence[Any] | None) -> tuple[dict[str, Any], ...]:
    """``{"/data": "my-volume"}`` (mount path to volume name or id, Modal's shape), or
    :class:`~flowlib.models.VolumeSpec` objects / dicts."""
    if not volumes:
        return ()
    # Here, not above: an App's module is imported on the task's machine too, without pydantic.
    from flowlib.models import VolumeSpec

    specs: list[VolumeSpec] = []
    if isinstance(volumes, Mapping):
        for mount, volume in volumes.items():
            if isinstance(volume, VolumeSpec):
                specs.append(volume.model_copy(update={"mount_path": mount}))
            elif isinstance(volume, str):
                key = "volume_id" if volume.startswith(("vol_", "vol-")) else "name"
                specs.append(VolumeSpec(mount_path=mount, **{key: volume}))
            else:
                specs.append(VolumeSpec(mount_path=mount, **dict(volume)))
    else:
        specs = [v if isinstance(v, VolumeSpec) else VolumeSpec(**dict(v)) for v in volumes]
    return tuple(s.model_dump(mode="json", exclude_defaults=True) for s in specs)


def _check_gpu_grammar(gpu: str | tuple[str, ...]) -> None:
    from flowlib.catalog import parse_instance_type

    for spec in (gpu,) if isinstance(gpu, str) else gpu:
        if spec.lower().split(":")[0] != "any":
            parse_instance_type(spec)  # raises ValidationError naming the known GPUs


def any_gpu_count(gpu: str | Sequence[str] | None) -> int | None:
    """``gpu="any:4"`` (alone, not in a fallback list) as a GPU count of any model: the
    planner then picks the cheapest offer with that many GPUs; None for any other ``gpu=``."""
    if not isinstance(gpu, str):
        return None
    model, _, count_text = gpu.partition(":")
    if model.strip().lower() != "any":
        return None
    if count_text and not count_text.strip().isdigit():
        raise ValidationError(f'gpu={gpu!r}: the count after "any:" is a whole number')
    return int(count_text or 1)


def resolve_gpu(
    gpu: str | Sequence[str], *, provider: str | None = None, max_price: float | None = None
) -> list[str]:
    """Modal's ``gpu=`` as instance types, in fallback order: ``"A100"``, ``"H100:8"``,
    ``"A100-80GB:4"``, ``"any:2"``; a list tries each in turn. Each entry becomes the cheapest
    catalog instance type with that many GPUs of that model (and memory): ``provider``'s
    offers when the catalog has some, else any provider's. Entries nothing in the catalog
    matches are left out; none left is a :class:`ValidationError`."""
    from flowlib.catalog import find_instances, parse_instance_type

    specs = [gpu] if isinstance(gpu, str) else list(gpu)
    chosen: list[str] = []
    missing: list[str] = []
    for spec in specs:
        model, _, count_text = spec.partition(":")
        filters: dict[str, Any] = {"max_price_per_hour": max_price}
        if model.lower() == "any":
            filters["gpu_count"] = int(count_text or 1)
        else:
            request = parse_instance_type(spec)
            if request.fid is not None or request.interconnect is not None:
                chosen.append(spec)  # already an exact instance type
                continue
            filters.update(
                gpu=request.gpu, gpu_count=request.count or 1, min_gpu_memory_gb=request.memory_gb
            )
        offers = (provider and find_instances(provider=provider, **filters)) or find_instances(
            **filters
        )
        if offers:
            name = offers[0].instance_type.name
            if name not in chosen:
                chosen.append(name)
        else:
            missing.append(spec)
    if not chosen:
        price = f" under ${max_price}/h" if max_price else ""
        raise ValidationError(
            f"no instance type in the catalog matches gpu={gpu!r}{price}",
            suggestions=["`flow catalog` lists what exists", 'e.g. gpu="A100:2" or "H100:8"'],
        )
    return chosen
