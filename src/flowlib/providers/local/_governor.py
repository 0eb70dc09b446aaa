"""The resource governor of the local provider: a task starts only when this machine can take it.

Before a local task's startup script runs, the governor checks free RAM (for every task: at
least ``min_free_ram_mb``, 256 MB unless configured; 0 switches the check off) and, for a task
that asks for GPUs, each NVIDIA GPU's free memory and temperature (``nvidia-smi``, through the
:class:`~flowlib.core.seams.CommandRunner` seam). It gives the task the GPUs with the most free
memory (``CUDA_VISIBLE_DEVICES``), or keeps it PENDING with the reason in its message. A request
that can never be met (more GPUs than the machine has, a threshold above the hardware) is refused
at submit with a :class:`~flowlib.errors.CapacityError`.

``max_parallel`` bounds how many local tasks run at once, first come first served, across every
process on the machine: each ``flow run`` is its own process, so the queue lives in
``FLOW_HOME/governor/``:

    queue/<ns>-<task_id>    a ticket per waiting task, named in submit order; its waiter holds
                            an exclusive ``flock`` on it (taken before the ticket is visible)
    slots/slot-<i>.lock     one per running task: held by its startup script and workload
    mutex.lock              serialises the look at the queue (held for milliseconds)

Every claim is an ``flock`` held by a live process, so a crash (kill -9, reboot) releases it by
itself: a ticket nobody holds is a dead waiter's and is removed; a slot nobody holds is free.
Only the oldest live ticket may start (strict FIFO). The waiter is a small Python process that
replaces itself with ``bash startup.sh`` (same pid, same session) once it may start, keeping the
slot's descriptor open across the ``exec``, so the slot is held exactly as long as the task runs.

With ``governor: pause`` the waiter also forks the run monitor (:mod:`._monitor`) just before
the ``exec``: it pauses the running task while its GPU runs hot or RAM runs short.

Standard library only (plus flowlib's seams and errors): the waiter starts quickly.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from flowlib.core.files import write_private
from flowlib.core.seams import CommandRunner
from flowlib.providers.local._machine import (
    GovernorSettings,
    GpuReading,
    Request,
    free_ram_mb,
    read_gpus,
    total_ram_mb,
)
from flowlib.providers.local._monitor import start_beside, write_file

__all__ = [
    "Decision",
    "Queue",
    "decide",
    "impossible",
    "request_of",
    "wait_then_exec",
    "write_spec",
]

QUEUED_FILE = "queued"  # in the task directory: why the task waits (deleted when it starts)
SPEC_FILE = "governor.json"
GPUS_FILE = "gpus"  # in the task directory: the GPUs the governor gave it ("0,2")


@dataclass(frozen=True)
class Decision:
    """Start now (on ``gpus``), or wait (``reason`` says why, shown in the task's message)."""

    start: bool
    gpus: tuple[int, ...] = ()
    reason: str | None = None


def impossible(
    request: Request,
    settings: GovernorSettings,
    gpus: Sequence[GpuReading],
    total_ram_mb: int | None,
) -> str | None:
    """Why ``request`` can never start on this machine, or None if it may one day."""
    if settings.min_free_ram_mb and total_ram_mb and settings.min_free_ram_mb > total_ram_mb:
        return (
            f"min_free_ram_mb is {settings.min_free_ram_mb} MB but this machine has "
            f"{total_ram_mb} MB of RAM in all"
        )
    if not request.gpus:
        return None
    if request.gpus > len(gpus):
        have = f"{len(gpus)} NVIDIA GPU{'s' if len(gpus) != 1 else ''}" if gpus else "no GPU"
        return f"the task asks for {request.gpus} GPU(s) and this machine has {have}"
    big_enough = [g for g in gpus if g.memory_total_mb >= settings.min_free_vram_mb]
    if len(big_enough) < request.gpus:
        largest = max(g.memory_total_mb for g in gpus)
        return (
            f"min_free_vram_mb is {settings.min_free_vram_mb} MB but the largest GPU here has "
            f"{largest} MB in all"
        )
    return None


def decide(
    request: Request,
    settings: GovernorSettings,
    gpus: Sequence[GpuReading],
    free_ram_mb: int | None,
) -> Decision:
    """May the task start now, and on which GPUs (those with the most free memory)?"""
    low = settings.min_free_ram_mb
    if low and free_ram_mb is not None and free_ram_mb < low:
        return Decision(
            False,
            reason=f"waiting for memory: {free_ram_mb} MB RAM free, the task needs "
            f"{low} MB (min_free_ram_mb)",
        )
    if not request.gpus:
        return Decision(True)
    usable, why = [], []
    for g in gpus:
        if g.memory_free_mb is not None and g.memory_free_mb < settings.min_free_vram_mb:
            why.append(
                f"GPU {g.index}: {g.memory_free_mb} MB free < {settings.min_free_vram_mb} MB"
            )
        elif g.temperature_c is not None and g.temperature_c > settings.max_gpu_temp_c:
            why.append(f"GPU {g.index}: {g.temperature_c} C > {settings.max_gpu_temp_c} C")
        else:
            usable.append(g)
    if len(usable) < request.gpus:
        wanted = f"{request.gpus} GPU{'s' if request.gpus > 1 else ''}"
        return Decision(False, reason=f"waiting for {wanted}: " + "; ".join(why))
    usable.sort(key=lambda g: (-(g.memory_free_mb or 0), g.index))
    return Decision(True, gpus=tuple(sorted(g.index for g in usable[: request.gpus])))


def request_of(config: Any) -> Request:
    """The GPUs a TaskConfig asks for: the count of ``instance_type`` (``2xa100`` -> 2), or 1
    for ``min_gpu_memory_gb``; none when it names no hardware."""
    if config.instance_type is None:
        count = getattr(config, "gpu_count", None)
        return Request(count or (1 if config.min_gpu_memory_gb is not None else 0))
    from flowlib.catalog import parse_instance_type

    wanted = parse_instance_type(config.instance_type)
    return Request(wanted.count or 1)


# -- the queue, shared by every process on this machine ------------------------------------
@dataclass
class Queue:
    """The FIFO queue and run slots under ``FLOW_HOME/governor`` (see the module docstring)."""

    root: Path
    tickets: Path = field(init=False)
    slots: Path = field(init=False)

    def __post_init__(self) -> None:
        self.tickets = self.root / "queue"
        self.slots = self.root / "slots"
        for d in (self.tickets, self.slots):
            d.mkdir(parents=True, exist_ok=True)

    def enqueue(self, task_id: str) -> tuple[str, int]:
        """Take a ticket for ``task_id``: its name and the descriptor that holds its lock (pass
        it to the waiter, then close it here). The lock is taken before the ticket is visible."""
        name = f"{time.time_ns():020d}-{task_id}"
        tmp = self.root / f".{name}.tmp"
        fd = os.open(tmp, os.O_CREAT | os.O_RDWR, 0o600)
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        os.rename(tmp, self.tickets / name)
        return name, fd

    @contextlib.contextmanager
    def _mutex(self) -> Any:
        fd = os.open(self.root / "mutex.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)  # closing drops the lock

    def waiting(self) -> list[str]:
        """Live tickets, oldest first; dead waiters' tickets are removed on the way."""
        alive = []
        for name in sorted(os.listdir(self.tickets)):
            path = self.tickets / name
            try:
                fd = os.open(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                alive.append(name)  # a live waiter holds it
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()  # nobody holds it: its waiter is gone
            finally:
                os.close(fd)
        return alive

    def running(self, max_parallel: int) -> int:
        """How many of the ``max_parallel`` slots are held now."""
        held = 0
        for i in range(max_parallel):
            fd = self._try_slot(i)
            if fd is None:
                held += 1
            else:
                os.close(fd)
        return held

    def _try_slot(self, i: int) -> int | None:
        fd = os.open(self.slots / f"slot-{i}.lock", os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        return fd

    def take_slot(self, max_parallel: int | None) -> int | None:
        """A free slot's locked descriptor (-1 with no bound), or None when all are held."""
        if not max_parallel:
            return -1
        for i in range(max_parallel):
            fd = self._try_slot(i)
            if fd is not None:
                return fd
        return None

    def turn(
        self,
        ticket: str,
        settings: GovernorSettings,
        check: Any,
    ) -> tuple[Decision, int | None]:
        """One look: may ``ticket`` start now? Returns the decision and, when it starts, the
        slot's descriptor (its ticket is then removed)."""
        with self._mutex():
            alive = self.waiting()
            if ticket not in alive:
                alive.append(ticket)  # ours, whatever happened to the file
            ahead = alive.index(ticket)
            if ahead:
                plural = "s" if ahead > 1 else ""
                return Decision(False, reason=f"queued: {ahead} task{plural} ahead (FIFO)"), None
            slot = self.take_slot(settings.max_parallel)
            if slot is None:
                return Decision(
                    False,
                    reason=f"queued: {settings.max_parallel} local task(s) already running "
                    "(max_parallel)",
                ), None
            decision: Decision = check()
            if not decision.start:
                if slot >= 0:
                    os.close(slot)
                return decision, None
            with contextlib.suppress(FileNotFoundError):
                (self.tickets / ticket).unlink()
            return decision, slot


# -- the waiter process ---------------------------------------------------------------------
def write_spec(
    task_dir: Path,
    *,
    home: Path,
    ticket: str,
    ticket_fd: int,
    request: Request,
    settings: GovernorSettings,
    script: Path,
    limit_s: float | None = None,
) -> Path:
    """The waiter's instructions; ``limit_s``: the time limit the run monitor keeps (paused time
    not counted), when the startup script has none of its own."""
    spec = {
        "home": str(home),
        "ticket": ticket,
        "ticket_fd": ticket_fd,
        "request": asdict(request),
        "settings": asdict(settings),
        "script": str(script),
        "limit_s": limit_s,
    }
    path = task_dir / SPEC_FILE
    write_private(path, json.dumps(spec))
    return path


def wait_then_exec(spec_path: Path, runner: CommandRunner | None = None) -> None:
    """The waiter: look until the task may start, then ``exec`` its startup script."""
    from flowlib.core.seams import SubprocessRunner

    spec = json.loads(spec_path.read_text(encoding="utf-8"))
    task_dir = spec_path.parent
    settings = GovernorSettings(**spec["settings"])
    request = Request(**spec["request"])
    queue = Queue(Path(spec["home"]) / "governor")
    runner = runner or SubprocessRunner()
    shown: str | None = None
    meminfo = Path(settings.meminfo)
    total_ram = total_ram_mb(meminfo)  # fixed: read once, not on every look

    def check() -> Decision:
        gpus = read_gpus(runner) if request.gpus else []
        never = impossible(request, settings, gpus, total_ram)
        if never is not None:
            _fail(task_dir, f"the local resource governor cannot start this task: {never}")
        return decide(request, settings, gpus, free_ram_mb(meminfo))

    while True:
        decision, slot = queue.turn(spec["ticket"], settings, check)
        if decision.start:
            break
        if decision.reason != shown:
            shown = decision.reason
            write_file(task_dir / QUEUED_FILE, shown or "queued")
            print(f"[flow] {shown}", flush=True)
        time.sleep(settings.poll_s)
    env = dict(os.environ)
    if decision.gpus:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(str(i) for i in decision.gpus)
        write_file(task_dir / GPUS_FILE, env["CUDA_VISIBLE_DEVICES"])
        print(f"[flow] starting on GPU {env['CUDA_VISIBLE_DEVICES']}", flush=True)
    with contextlib.suppress(FileNotFoundError):
        (task_dir / QUEUED_FILE).unlink()
    with contextlib.suppress(OSError):
        os.close(int(spec["ticket_fd"]))
    if settings.pauses:  # watched while it runs: a monitor beside the script (same session)
        start_beside(
            task_dir,
            gpus=decision.gpus if request.gpus else None,
            settings=settings,
            limit_s=spec.get("limit_s"),
            close=(slot,) if slot is not None and slot >= 0 else (),
        )
    if slot is not None and slot >= 0:
        os.set_inheritable(slot, True)  # the script and workload hold the slot until they end
    os.execvpe("bash", ["bash", spec["script"]], env)


def _fail(task_dir: Path, message: str) -> None:
    run = task_dir / "root/var/run/flow"
    run.mkdir(parents=True, exist_ok=True)
    write_file(run / "message", message)
    write_file(run / "exit_code", "1")
    with contextlib.suppress(FileNotFoundError):
        (task_dir / QUEUED_FILE).unlink()
    print(f"[flow] error: {message}", flush=True)
    sys.exit(1)


if __name__ == "__main__":  # python -m flowlib.providers.local._governor TASK_DIR/governor.json
    wait_then_exec(Path(sys.argv[1]))
