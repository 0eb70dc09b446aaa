"""The governor during a run (``governor: pause``): a task pauses while its machine runs hot.

Who samples: a small **monitor process** beside the workload. The governor's waiter (the
process that becomes ``bash startup.sh``) forks it just before the ``exec``, so it lives in the
task's session (a cancel reaches it, and it can see every process of the task) but in a process
group of its own; it needs no ``flow`` process watching, and exits when the task ends. Standard
library only, plus flowlib's seams.

Every ``sample_s`` it reads the task's GPUs (``nvidia-smi``, through the
:class:`~flowlib.core.seams.CommandRunner` seam; a task that asked for no GPU sees all of them,
so all are watched) and the host's free RAM (``MemAvailable``), and :func:`step` decides:

- **pause** when a watched GPU is hotter than ``max_gpu_temp_c``, or free RAM is below
  ``min_free_ram_mb``: every process of the task's session (the monitor aside) gets SIGSTOP,
  again on each sample while paused, so a process born meanwhile is stopped too;
- **resume** (SIGCONT) once every watched GPU has been at least :data:`COOL_MARGIN_C` below the
  limit and RAM above the floor for ``resume_after_s`` in a row;
- **fail** a task paused for longer than ``max_pause_s``: its workload is stopped (SIGTERM,
  then SIGKILL) and the task fails with the reason.

Free GPU memory is sampled and shown (``flow governor``), but never pauses a task: a stopped
process keeps its GPU memory, so pausing would not free any. A GPU that ``nvidia-smi`` stops
reporting (it fell off the bus, or the driver broke) is unknown: it neither pauses a running
task nor counts as cool for a paused one, and the log says so once.

What the user sees: ``TASK_DIR/paused`` (JSON: reason, since, the monitor's pid) while paused,
read by the provider's status (``provider_state: paused`` and a message saying why and since
when); a ``[flow HH:MM:SS] paused ...`` / ``resumed ...`` line in the task's log
(``flow logs -f``). A stale ``paused`` file whose monitor died is healed by the next status
(SIGCONT, file removed), so a crash never leaves a task stopped forever.

Time limit: unless ``pause_counts_toward_limit``, the startup script runs the workload without
``timeout`` and the monitor keeps ``max_run_time_hours`` on running time only; when it is
reached it stops the workload and leaves ``var/run/flow/time_limit``, which the provider reports
as exit code 124 (``stopped by its time limit``), as ``timeout`` would.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Any

from flowlib.core import procs
from flowlib.providers.local._machine import GovernorSettings, GpuReading, free_ram_mb, read_gpus

if TYPE_CHECKING:
    from flowlib.core.seams import CommandRunner

__all__ = [
    "COOL_MARGIN_C",
    "PAUSED_FILE",
    "TIME_LIMIT_FILE",
    "Action",
    "Monitor",
    "Pause",
    "Sample",
    "Watch",
    "read_pause",
    "running_s",
    "start_beside",
    "step",
    "write_file",
]

# A paused task resumes only once its GPUs are this much below max_gpu_temp_c: a GPU hovering
# at the limit would otherwise pause and resume it on every sample.
COOL_MARGIN_C = 5
PAUSED_FILE = "paused"  # in the task directory, while the task is paused
TIME_LIMIT_FILE = "time_limit"  # in var/run/flow: the monitor stopped the workload at its limit
KILL_GRACE_S = 30.0  # as the startup script's `timeout --kill-after`
END_CHECK_S = 0.1  # how often, between samples, the monitor looks whether the task ended


@dataclass(frozen=True)
class Sample:
    """One look at the machine: ``gpus`` as nvidia-smi reported them (None: it gave no answer),
    and free RAM in MB (None: unknown)."""

    gpus: Sequence[GpuReading] | None
    free_ram_mb: int | None


class Action(str, Enum):
    NONE = "none"
    PAUSE = "pause"
    RESUME = "resume"
    FAIL = "fail"


@dataclass(frozen=True)
class Watch:
    """What the monitor knows between samples (times are epoch seconds).

    ``gpus``: the GPU indices watched (None: not known yet; a task without a GPU request
    watches every GPU of its first sample). ``unknown``: the GPUs the last sample did not
    report, as a sentence (None: all reported).
    """

    gpus: tuple[int, ...] | None = None
    paused_since: float | None = None
    reason: str | None = None
    cool_since: float | None = None
    paused_total_s: float = 0.0
    unknown: str | None = None

    @property
    def paused(self) -> bool:
        return self.paused_since is not None


def step(
    watch: Watch, sample: Sample, now: float, settings: GovernorSettings
) -> tuple[Watch, Action]:
    """The monitor's decision for one sample: the new watch and what to do now."""
    if watch.gpus is None:
        seen = tuple(sorted(g.index for g in sample.gpus or ()))
        watch = replace(watch, gpus=seen)
    hot, cool, unknown = _judge(watch.gpus or (), sample, settings)
    watch = replace(watch, unknown=unknown)
    if not watch.paused:
        if hot:
            return replace(watch, paused_since=now, reason="; ".join(hot), cool_since=None), (
                Action.PAUSE
            )
        return watch, Action.NONE
    assert watch.paused_since is not None
    if settings.max_pause_s and now - watch.paused_since > settings.max_pause_s:
        return watch, Action.FAIL
    if hot:
        return replace(watch, reason="; ".join(hot), cool_since=None), Action.NONE
    if not cool:
        return replace(watch, cool_since=None), Action.NONE
    cool_since = watch.cool_since if watch.cool_since is not None else now
    if now - cool_since >= settings.resume_after_s:
        total = watch.paused_total_s + (now - watch.paused_since)
        resumed = Watch(gpus=watch.gpus, paused_total_s=total, unknown=unknown)
        return resumed, Action.RESUME
    return replace(watch, cool_since=cool_since), Action.NONE


def _judge(
    watched: Sequence[int], sample: Sample, settings: GovernorSettings
) -> tuple[list[str], bool, str | None]:
    """Why the machine is too hot or short now (empty: it is not), whether it is cool enough to
    resume, and which watched GPUs went unreported."""
    hot: list[str] = []
    cool = True
    floor = settings.min_free_ram_mb
    if floor and sample.free_ram_mb is not None and sample.free_ram_mb < floor:
        hot.append(f"{sample.free_ram_mb} MB RAM free < {floor} MB (min_free_ram_mb)")
        cool = False
    by_index = {g.index: g for g in sample.gpus or ()}
    missing = []
    limit = settings.max_gpu_temp_c
    for index in watched:
        gpu = by_index.get(index)
        if gpu is None:
            missing.append(index)
            cool = False
        elif gpu.temperature_c is None:
            continue  # this GPU does not report its temperature: nothing to judge
        elif gpu.temperature_c > limit:
            hot.append(f"GPU {index}: {gpu.temperature_c} C > {limit} C (max_gpu_temp_c)")
            cool = False
        elif gpu.temperature_c > limit - COOL_MARGIN_C:
            cool = False
    unknown = None
    if missing:
        names = ", ".join(str(i) for i in missing)
        unknown = f"GPU {names} not reported by nvidia-smi"
    return hot, cool, unknown


def running_s(watch: Watch, now: float, started: float) -> float:
    """Seconds the workload has run since ``started``, paused time not counted."""
    paused = watch.paused_total_s
    if watch.paused_since is not None:
        paused += now - watch.paused_since
    return max(0.0, now - started - paused)


# -- the monitor process ----------------------------------------------------------------
@dataclass
class Monitor:
    """Watches one task from inside its session (see the module docstring)."""

    task_dir: Path
    session: int  # the startup script's pid, which leads the task's session
    settings: GovernorSettings
    gpus: tuple[int, ...] | None = None
    limit_s: float | None = None
    runner: CommandRunner | None = None
    clock: Callable[[], float] = time.time
    sleep: Callable[[float], None] = time.sleep
    watch: Watch = field(init=False)

    def __post_init__(self) -> None:
        self.watch = Watch(gpus=self.gpus)
        self.run_dir = self.task_dir / "root/var/run/flow"
        self.log = self.task_dir / "root/var/log/flow/task.log"
        self._stopped = False  # the workload was stopped (time limit, paused too long)

    def run(self) -> None:
        """Sample until the task ends; always leaves the task continued."""
        try:
            while not self._task_ended():
                self.once()
                self._wait(self.settings.sample_s)
        finally:
            self._continue()

    def _wait(self, seconds: float) -> None:
        """Until the next sample, looking in between whether the task ended (then the monitor
        leaves at once rather than a whole interval later)."""
        end = self.clock() + seconds
        while not self._task_ended() and (left := end - self.clock()) > 0:
            self.sleep(min(left, END_CHECK_S))

    def once(self) -> Action:
        """One sample and what follows from it."""
        if self._stopped:
            return Action.NONE  # the workload was stopped: let the script end, never pause it

        watching_gpus = self.watch.gpus is None or bool(self.watch.gpus)
        gpus = None
        if watching_gpus and self.runner is not None:
            gpus = read_gpus(self.runner) or None
        sample = Sample(gpus, free_ram_mb(Path(self.settings.meminfo)))
        before = self.watch
        now = self.clock()
        self.watch, action = step(before, sample, now, self.settings)
        if self.watch.unknown and self.watch.unknown != before.unknown:
            self._notice(f"governor: {self.watch.unknown}; not judged until it is back")
        if action is Action.PAUSE:
            self._signal(signal.SIGSTOP)
            self._write_pause()  # once stopped: a status that says paused is true
            self._notice(f"paused by the governor: {self.watch.reason}{self._resume_hint()}")
        elif action is Action.RESUME:
            assert before.paused_since is not None
            self._notice(f"resumed by the governor after {_seconds(now - before.paused_since)}")
            with contextlib.suppress(FileNotFoundError):
                (self.task_dir / PAUSED_FILE).unlink()
            self._signal(signal.SIGCONT)  # after the notice: the log reads in order
        elif action is Action.FAIL:
            assert before.paused_since is not None
            self._stop_workload(
                f"paused by the governor for longer than max_pause_s={self.settings.max_pause_s:g}"
                f" s ({before.reason}); stopped",
                marker=None,
            )
        elif self.watch.paused:
            if self.watch.reason != before.reason:
                self._write_pause()
            self._signal(signal.SIGSTOP)  # again: a process born since is stopped too
        self._keep_time_limit(now)
        return action

    def _keep_time_limit(self, now: float) -> None:
        if self.limit_s is None or self.watch.paused or self._stopped:
            return
        try:
            started = float((self.run_dir / "started").read_text().strip())
        except (OSError, ValueError):
            return  # the workload has not started yet
        if running_s(self.watch, now, started) >= self.limit_s:
            hours = self.limit_s / 3600
            paused = self.watch.paused_total_s
            self._stop_workload(
                f"stopped: max_run_time_hours={hours:g} reached"
                + (f" (paused time, {paused:.0f} s, not counted)" if paused else ""),
                marker=TIME_LIMIT_FILE,
            )

    def _stop_workload(self, message: str, *, marker: str | None) -> None:
        """Stop the workload (SIGTERM, SIGKILL after a grace) and leave why; the startup script
        then ends as after any workload."""
        self._stopped = True
        write_file(self.run_dir / "message", message)
        if marker:
            write_file(self.run_dir / marker, message)
        self._notice(message)
        with contextlib.suppress(FileNotFoundError):
            (self.task_dir / PAUSED_FILE).unlink()
        self.watch = Watch(gpus=self.watch.gpus, paused_total_s=self.watch.paused_total_s)
        workload = [p for p in self._members() if p != self.session]
        for pid in workload:
            _kill(pid, signal.SIGCONT)
            _kill(pid, signal.SIGTERM)
        _kill(self.session, signal.SIGCONT)
        deadline = time.monotonic() + KILL_GRACE_S
        while time.monotonic() < deadline and any(procs.alive(p) for p in workload):
            time.sleep(0.02)
        for pid in workload:
            _kill(pid, signal.SIGKILL)

    def _members(self) -> list[int]:
        me = os.getpid()
        return [p for p in procs.session_members(self.session) if p != me]

    def _signal(self, sig: signal.Signals) -> None:
        for pid in self._members():
            _kill(pid, sig)

    def _continue(self) -> None:
        if self.watch.paused:
            self._signal(signal.SIGCONT)
        with contextlib.suppress(FileNotFoundError):
            (self.task_dir / PAUSED_FILE).unlink()

    def _task_ended(self) -> bool:
        return (self.run_dir / "exit_code").exists() or not procs.alive(self.session)

    def _write_pause(self) -> None:
        me = os.getpid()
        pause = {
            "reason": self.watch.reason,
            "since": self.watch.paused_since,
            "monitor_pid": me,
            "monitor_ticks": procs.start_ticks(me),
            "resume_after_s": self.settings.resume_after_s,
        }
        write_file(self.task_dir / PAUSED_FILE, json.dumps(pause))

    def _resume_hint(self) -> str:
        after = self.settings.resume_after_s
        return f"; resumes after {after:g} s cool" if after else "; resumes when cool"

    def _notice(self, text: str) -> None:
        """A line in the task's log (``flow logs -f`` shows it where it happened)."""
        stamp = time.strftime("%H:%M:%S", time.gmtime(self.clock()))
        line = f"[flow {stamp}] {text}\n".encode()
        with contextlib.suppress(OSError):
            fd = os.open(self.log, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # the workload stopped in the middle of a line
                os.write(fd, line)
            finally:
                os.close(fd)


def start_beside(
    task_dir: Path,
    *,
    gpus: tuple[int, ...] | None,
    settings: GovernorSettings,
    limit_s: float | None,
    close: Sequence[int] = (),
) -> int:
    """Fork the monitor of the task whose session this process leads (the waiter, just before it
    becomes the startup script); returns its pid. ``close``: descriptors the monitor must not
    keep (a run slot: it is held by the script and workload)."""
    session = os.getsid(0)
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:  # the child: never returns into the waiter
        os.setpgid(0, 0)  # out of the process group, so a stop of the task's groups spares it
        for fd in close:
            with contextlib.suppress(OSError):
                os.close(fd)
        from flowlib.core.seams import SubprocessRunner

        monitor = Monitor(
            task_dir, session, settings, gpus=gpus, limit_s=limit_s, runner=SubprocessRunner()
        )

        def on_stop(signum: int, frame: FrameType | None) -> None:
            monitor._continue()  # a cancel: let the stopped task see its SIGTERM
            os._exit(0)

        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(sig, on_stop)
        monitor.run()
    except BaseException as exc:  # report it; the task is left running
        print(f"[flow] governor monitor stopped: {exc!r}", file=sys.stderr, flush=True)
        code = 1
    finally:
        os._exit(code)


# -- what the provider's status reads --------------------------------------------------
@dataclass(frozen=True)
class Pause:
    """A task the monitor holds paused: why, and since when (epoch seconds)."""

    reason: str
    since: float
    resume_after_s: float | None = None

    def message(self) -> str:
        when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(self.since))
        hint = ""
        if self.resume_after_s is not None:
            hint = f"; resumes after {self.resume_after_s:g} s cool"
        return f"paused by the governor since {when}: {self.reason}{hint}"


def read_pause(task_dir: Path, session: int | None) -> Pause | None:
    """The task's pause, or None when it runs. A pause whose monitor died is healed here: the
    task's session gets SIGCONT and the file is removed."""
    path = task_dir / PAUSED_FILE
    try:
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return None
    except (OSError, ValueError):
        return None  # being written: the next look reads it
    pid, ticks = data.get("monitor_pid"), data.get("monitor_ticks")
    if pid is None or not procs.alive(int(pid), ticks):
        if session is not None:
            procs.signal_session(session, signal.SIGCONT)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return None
    return Pause(str(data.get("reason")), float(data.get("since") or 0), data.get("resume_after_s"))


def _seconds(s: float) -> str:
    return f"{s:.1f} s paused" if s < 10 else f"{s:.0f} s paused"


def _kill(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def write_file(path: Path, text: str) -> None:
    """Write ``text`` and a newline to ``path`` whole (a reader never sees half of it)."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text + "\n", encoding="utf-8")
    os.replace(tmp, path)
