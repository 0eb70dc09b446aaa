"""Directive values as SLURM reads them: times, memory sizes, arrays, GPU requests, node ranges.

Each reader takes the text of one option's value and returns a typed value, or raises
``ValueError`` with a short reason; the directive parser turns that into a
:class:`~flowlib.errors.ValidationError` naming the line.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = [
    "UNLIMITED",
    "ArraySpec",
    "GpuRequest",
    "NodeRange",
    "parse_array",
    "parse_gpu_count",
    "parse_gres",
    "parse_memory_mb",
    "parse_nodes",
    "parse_time_minutes",
]

UNLIMITED = -1
"""``TimeLimit=UNLIMITED``: no time limit (``--time=UNLIMITED``, ``INFINITE``, ``-1`` or ``0``)."""

_A = re.ASCII
_TIME_WORDS = {"unlimited", "infinite", "-1"}


def parse_time_minutes(text: str) -> int:
    """A SLURM time limit in whole minutes (seconds round up), or :data:`UNLIMITED`.

    ``MM``, ``MM:SS``, ``HH:MM:SS``, ``D-HH``, ``D-HH:MM``, ``D-HH:MM:SS``; ``0`` means no limit.
    """
    value = text.strip()
    if value.lower() in _TIME_WORDS:
        return UNLIMITED
    days = 0
    rest = value
    if "-" in value:
        day_text, _, rest = value.partition("-")
        if not re.fullmatch(r"[0-9]+", day_text, _A) or not rest:
            raise ValueError(f"invalid time {text!r}")
        days = int(day_text)
    parts = rest.split(":")
    if not all(re.fullmatch(r"[0-9]+", p, _A) for p in parts) or len(parts) > 3:
        raise ValueError(f"invalid time {text!r}")
    numbers = [int(p) for p in parts]
    if days or "-" in value:  # D-HH, D-HH:MM, D-HH:MM:SS
        hours, minutes, seconds = [*numbers, 0, 0][:3]
    elif len(numbers) == 1:  # MM
        hours, minutes, seconds = 0, numbers[0], 0
    elif len(numbers) == 2:  # MM:SS
        hours, (minutes, seconds) = 0, numbers
    else:  # HH:MM:SS
        hours, minutes, seconds = numbers
    total_seconds = ((days * 24 + hours) * 60 + minutes) * 60 + seconds
    minutes_total = -(-total_seconds // 60)
    return UNLIMITED if minutes_total == 0 else minutes_total


_MEMORY = re.compile(r"([0-9]+)([KMGTkmgt]?)", _A)
_MEMORY_FACTOR = {"": 1.0, "k": 1 / 1024, "m": 1.0, "g": 1024.0, "t": 1024.0 * 1024}


def parse_memory_mb(text: str, *, pbs: bool = False) -> int:
    """A memory size in MB: a bare number is MB; ``K``/``M``/``G``/``T`` suffixes (``512K``
    rounds up to 1 MB). ``pbs=True`` also takes PBS spellings (``2gb``, ``500mb``)."""
    value = text.strip()
    if pbs and value.lower().endswith("b") and len(value) > 1 and not value[-2].isdigit():
        value = value[:-1]
    match = _MEMORY.fullmatch(value)
    if not match:
        raise ValueError(f"invalid memory size {text!r} (whole numbers, suffix K, M, G or T)")
    number, unit = int(match.group(1)), match.group(2).lower()
    mb = number * _MEMORY_FACTOR[unit]
    return int(-(-mb // 1))


@dataclass(frozen=True)
class NodeRange:
    """``--nodes=N`` (``minimum == maximum``) or ``--nodes=MIN-MAX``."""

    minimum: int
    maximum: int

    def __str__(self) -> str:
        return f"{self.minimum}-{self.maximum}"


def parse_nodes(text: str) -> NodeRange:
    match = re.fullmatch(r"([0-9]+)(?:-([0-9]+))?", text.strip(), _A)
    if not match:
        raise ValueError(f"invalid node count {text!r} (N or MIN-MAX)")
    low = int(match.group(1))
    high = int(match.group(2)) if match.group(2) else low
    if low < 1 or high < low:
        raise ValueError(f"invalid node count {text!r}")
    return NodeRange(low, high)


@dataclass(frozen=True)
class ArraySpec:
    """``--array``: the task indices (sorted, unique) and the ``%`` throttle (None: no limit)."""

    indices: tuple[int, ...]
    throttle: int | None = None
    text: str = ""


def parse_array(text: str) -> ArraySpec:
    """``0-15``, ``1,3,5-7``, ``0-15:4``, ``0-15%4``, ``1,3,5-7:2%2``."""
    spec, _, throttle_text = text.strip().partition("%")
    throttle: int | None = None
    if throttle_text:
        if not re.fullmatch(r"[0-9]+", throttle_text, _A):
            raise ValueError(f"invalid array throttle in {text!r}")
        throttle = int(throttle_text)
    indices: set[int] = set()
    for part in spec.split(","):
        match = re.fullmatch(r"([0-9]+)(?:-([0-9]+)(?::([0-9]+))?)?", part, _A)
        if not match:
            raise ValueError(f"invalid array specification {text!r}")
        low = int(match.group(1))
        high = int(match.group(2)) if match.group(2) else low
        step = int(match.group(3)) if match.group(3) else 1
        if high < low or step < 1:
            raise ValueError(f"invalid array range {part!r} in {text!r}")
        if high - low > 1_000_000:
            raise ValueError(f"array range {part!r} is too large")
        indices.update(range(low, high + 1, step))
    return ArraySpec(tuple(sorted(indices)), throttle, text.strip())


@dataclass(frozen=True)
class GpuRequest:
    """GPUs asked for in one option: ``count`` of ``gpu_type`` (None: any type)."""

    count: int
    gpu_type: str | None = None

    def __str__(self) -> str:
        return f"{self.gpu_type}:{self.count}" if self.gpu_type else str(self.count)


_GPU_COUNT = re.compile(r"(?:([A-Za-z0-9_.-]*[A-Za-z_.-][A-Za-z0-9_.-]*):)?([0-9]+)", _A)


def parse_gpu_count(text: str) -> GpuRequest:
    """``--gpus``/``--gpus-per-node``/``--gpus-per-task``: ``N`` or ``TYPE:N``."""
    match = _GPU_COUNT.fullmatch(text.strip())
    if not match:
        raise ValueError(f"invalid GPU count {text!r} (N or TYPE:N)")
    return GpuRequest(int(match.group(2)), match.group(1) or None)


def parse_gres(text: str) -> tuple[tuple[str, str], ...]:
    """``--gres``: a comma list of ``name[:type][:count]``; returns ``(name, rest)`` pairs with
    the ``gres:`` prefix removed. ``none`` clears it."""
    items: list[tuple[str, str]] = []
    for raw in text.strip().split(","):
        item = raw.strip()
        if item.startswith("gres:"):
            item = item[len("gres:") :]
        if not item or item.lower() == "none":
            continue
        name, _, rest = item.partition(":")
        if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", name, _A):
            raise ValueError(f"invalid generic resource {raw!r} in {text!r}")
        items.append((name, rest))
    return tuple(items)


def gres_gpu_request(name_rest: tuple[str, str]) -> GpuRequest | None:
    """The GPU request in one ``--gres`` item (``gpu``, ``gpu:2``, ``gpu:a100:2``), else None."""
    name, rest = name_rest
    if name != "gpu":
        return None
    if not rest:
        return GpuRequest(1)
    type_part, _, count_part = rest.rpartition(":")
    if re.fullmatch(r"[0-9]+", count_part, _A):
        return GpuRequest(int(count_part), type_part or None)
    return GpuRequest(1, rest)  # gpu:TYPE
