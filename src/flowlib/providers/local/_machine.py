"""What the local governor and the run monitor read: their settings and this machine now.

:class:`GovernorSettings` (the ``providers.local`` keys both obey), what a task asks
(:class:`Request`), and readings of this machine: its NVIDIA GPUs (``nvidia-smi``, through the
:class:`~flowlib.core.seams.CommandRunner` seam) and its RAM (``/proc/meminfo``). The governor
(:mod:`._governor`) decides before a task starts, the monitor (:mod:`._monitor`) while it runs;
both stand on this module, which imports neither.

Standard library only (plus flowlib's seams and errors): the waiter starts quickly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flowlib.core.seams import CommandRunner

__all__ = [
    "DEFAULT_MIN_FREE_RAM_MB",
    "QUERY",
    "GovernorSettings",
    "GpuReading",
    "Request",
    "free_ram_mb",
    "parse_readings",
    "read_gpus",
    "total_ram_mb",
]

QUERY = [
    "nvidia-smi",
    "--query-gpu=index,name,memory.total,memory.free,temperature.gpu,utilization.gpu",
    "--format=csv,noheader,nounits",
]
# Free RAM (MemAvailable) below which no local task starts: the machine is about to swap or
# OOM-kill, and a new task would make it worse. ``min_free_ram_mb`` changes it; 0 turns it off.
DEFAULT_MIN_FREE_RAM_MB = 256


@dataclass(frozen=True)
class GovernorSettings:
    """Thresholds, from the ``providers.local`` config section.

    ``max_parallel``: local tasks running at once (None: no bound). ``min_free_ram_mb``: free RAM
    (MemAvailable) every task needs to start (0: RAM is not checked). ``min_free_vram_mb`` and
    ``max_gpu_temp_c``: what a GPU must have to be given to a task that asks for GPUs.
    ``poll_s``: how often a waiting task looks again.
    ``meminfo``: where free and total RAM are read (the kernel's ``/proc/meminfo``; tests give
    a recorded one).

    ``governor``: ``start`` (the default: the machine is checked before a task starts) or
    ``pause`` (also while it runs: a task whose GPU runs hotter than ``max_gpu_temp_c`` or whose
    machine has less free RAM than ``min_free_ram_mb`` is stopped with SIGSTOP, and continued
    once the machine has been cool and free for ``resume_after_s``; see
    :mod:`flowlib.providers.local._monitor`). ``sample_s``: how often a running task's machine
    is sampled. ``max_pause_s``: a task paused longer fails (0: no bound).
    ``pause_counts_toward_limit``: whether paused time counts against ``max_run_time_hours``
    (by default it does not).
    """

    max_parallel: int | None = None
    min_free_ram_mb: int = DEFAULT_MIN_FREE_RAM_MB
    min_free_vram_mb: int = 2500
    max_gpu_temp_c: int = 85
    poll_s: float = 2.0
    meminfo: str = "/proc/meminfo"
    governor: str = "start"
    sample_s: float = 5.0
    resume_after_s: float = 30.0
    max_pause_s: float = 3600.0
    pause_counts_toward_limit: bool = False

    KEYS = (
        "max_parallel",
        "min_free_ram_mb",
        "min_free_vram_mb",
        "max_gpu_temp_c",
        "poll_s",
        "sample_s",
        "resume_after_s",
        "max_pause_s",
    )
    MODES = ("start", "pause")
    _SECONDS = ("poll_s", "sample_s", "resume_after_s", "max_pause_s")
    _ZERO_ALLOWED = ("min_free_ram_mb", "resume_after_s", "max_pause_s")

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> GovernorSettings:
        """Read the governor's keys of a provider section; a wrong value is a ConfigError."""
        from flowlib.errors import ConfigError

        values: dict[str, Any] = {}
        for key in cls.KEYS:
            value = settings.get(key)
            if value is None:
                continue
            number = _number(value)
            whole = key not in cls._SECONDS
            lowest = 0 if key in cls._ZERO_ALLOWED else 1e-9
            if number is None or number < lowest or (whole and not float(number).is_integer()):
                kind = "a whole number" if whole else "a number of seconds"
                floor = "0 or more" if lowest == 0 else "above 0"
                raise ConfigError(
                    f"providers.local.{key} must be {kind} {floor}, got {value!r}",
                    suggestions=[f"set providers.local.{key} in ~/.flow/config.yaml, e.g. 2"],
                )
            values[key] = int(number) if whole else float(number)
        meminfo = settings.get("meminfo")
        if meminfo is not None:
            values["meminfo"] = str(meminfo)
        mode = settings.get("governor")
        if mode is not None:
            if mode not in cls.MODES:
                raise ConfigError(
                    f"providers.local.governor must be one of {', '.join(cls.MODES)}, got {mode!r}",
                    suggestions=[
                        "governor: pause also pauses a running task when its machine runs "
                        "hot or short of memory; start (the default) checks only at start"
                    ],
                )
            values["governor"] = mode
        counts = settings.get("pause_counts_toward_limit")
        if counts is not None:
            if not isinstance(counts, bool):
                raise ConfigError(
                    f"providers.local.pause_counts_toward_limit must be true or false, "
                    f"got {counts!r}",
                    suggestions=["set providers.local.pause_counts_toward_limit: true"],
                )
            values["pause_counts_toward_limit"] = counts
        return cls(**values)

    @property
    def pauses(self) -> bool:
        """Whether running tasks are watched and paused (``governor: pause``)."""
        return self.governor == "pause"

    def active(self, request: Request, free_ram_mb: int | None = None) -> bool:
        """Whether a task must go through the governor (else it starts at once): a bound on
        parallel tasks, GPUs to choose, a run to watch (``governor: pause``), or less free RAM
        now (``free_ram_mb``; None: unknown, not checked) than ``min_free_ram_mb``."""
        if self.max_parallel or request.gpus or self.pauses:
            return True
        low = self.min_free_ram_mb
        return bool(low) and free_ram_mb is not None and free_ram_mb < low


@dataclass(frozen=True)
class Request:
    """What a task asks of this machine: ``gpus`` GPUs (0: none asked for). A TaskConfig has no
    memory request (an instance type's RAM is a cloud VM's; an sbatch ``--mem`` is reported as
    ignored), so every task needs the same free RAM, ``min_free_ram_mb``."""

    gpus: int = 0


@dataclass(frozen=True)
class GpuReading:
    """One GPU as ``nvidia-smi`` sees it now (None: the driver does not report the value)."""

    index: int
    name: str
    memory_total_mb: int
    memory_free_mb: int | None
    temperature_c: int | None
    utilization_pct: int | None = None


def parse_readings(text: str) -> list[GpuReading]:
    """``nvidia-smi --query-gpu=...`` (see :data:`QUERY`) output as readings; rows it cannot read
    are skipped, and ``[N/A]`` / ``[Not Supported]`` values are None."""
    readings = []
    for line in text.splitlines():
        parts = [p.strip() for p in line.split(",")]
        if len(parts) < 5 or not parts[0].isdigit():
            continue
        total = _int(parts[2])
        if total is None:
            continue
        readings.append(
            GpuReading(
                index=int(parts[0]),
                name=parts[1],
                memory_total_mb=total,
                memory_free_mb=_int(parts[3]),
                temperature_c=_int(parts[4]),
                utilization_pct=_int(parts[5]) if len(parts) > 5 else None,
            )
        )
    return readings


def read_gpus(runner: CommandRunner) -> list[GpuReading]:
    """This machine's NVIDIA GPUs now; empty without ``nvidia-smi`` or when it fails."""
    try:
        result = runner.run(QUERY, timeout=20)
    except Exception:  # no nvidia-smi, or a broken driver: "no GPU", never a crash
        return []
    return parse_readings(result.stdout) if result.returncode == 0 else []


def free_ram_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    return _meminfo(meminfo, "MemAvailable:")


def total_ram_mb(meminfo: Path = Path("/proc/meminfo")) -> int | None:
    return _meminfo(meminfo, "MemTotal:")


def _meminfo(path: Path, key: str) -> int | None:
    try:
        for line in path.read_text().splitlines():
            if line.startswith(key):
                return int(line.split()[1]) // 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _int(text: str) -> int | None:
    try:
        return int(float(text))
    except ValueError:
        return None
