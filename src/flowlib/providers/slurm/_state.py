"""What SLURM says about jobs (``squeue``, ``sacct``), read into flowlib task states.

One ``squeue`` call answers for every task of a poll (``-j ID,ID,...``); ``sacct`` is asked only
for jobs that ended without leaving the startup script's exit-code marker (killed before it could
write it: time limit, node failure, a job that never launched).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timezone

from flowlib.models import TaskStatus

__all__ = [
    "SACCT_ARGS",
    "SQUEUE_FORMAT",
    "JobInfo",
    "exit_code_of",
    "parse_sacct",
    "parse_squeue",
    "status_of",
]

SQUEUE_FORMAT = "%A|%F|%K|%T|%r|%S|%e|%N"
"""raw job id | array job id | array task id | state | reason | start | end | nodes"""

SACCT_ARGS = ("-X", "-n", "-P", "-o", "JobIDRaw,JobID,State,ExitCode")

PENDING_STATES = frozenset(
    {"PENDING", "CONFIGURING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD"}
)
RUNNING_STATES = frozenset(
    {"RUNNING", "COMPLETING", "SUSPENDED", "STOPPED", "SIGNALING", "STAGE_OUT", "RESIZING"}
)
"""Every other state (COMPLETED, FAILED, CANCELLED, TIMEOUT, NODE_FAIL, OUT_OF_MEMORY,
BOOT_FAIL, DEADLINE, PREEMPTED, SPECIAL_EXIT, REVOKED) is final."""


@dataclass(frozen=True)
class JobInfo:
    """One job (or array task) as ``squeue``/``sacct`` show it."""

    key: str  # "123", or "120_4" for an array task
    state: str
    reason: str = ""
    started_at: datetime | None = None
    ended_at: datetime | None = None
    nodes: str = ""
    exit_code: int | None = None


def _time(text: str) -> datetime | None:
    if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", text):
        return None  # N/A, Unknown, None
    return datetime.fromisoformat(text).astimezone(timezone.utc)


def _array_indices(text: str) -> list[str]:
    """``0-3``, ``1,3,5``, ``0-15:4``, ``0-3%2`` as index strings (a pending array's rest)."""
    out: list[str] = []
    for part in text.split("%")[0].split(","):
        match = re.fullmatch(r"(\d+)(?:-(\d+)(?::(\d+))?)?", part)
        if match:
            low = int(match.group(1))
            high = int(match.group(2) or low)
            out += [str(i) for i in range(low, high + 1, int(match.group(3) or 1))]
    return out


def parse_squeue(stdout: str) -> dict[str, JobInfo]:
    """``squeue -h -o SQUEUE_FORMAT`` output, keyed by job id (``"123"``) and, for array tasks,
    by ``"<array job id>_<index>"`` (a pending array's not-yet-started indices each get one)."""
    jobs: dict[str, JobInfo] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 8:
            continue
        raw, array_job, array_task, state, reason, start, end, nodes = fields[:8]
        state = state.split()[0].rstrip("+") if state.strip() else "UNKNOWN"
        info = JobInfo(raw, state, reason, _time(start), _time(end), nodes)
        if array_task in ("N/A", ""):
            jobs[raw] = info
            continue
        if array_task.isdigit():
            key = f"{array_job}_{array_task}"
            jobs[key] = JobInfo(key, state, reason, info.started_at, info.ended_at, nodes)
            continue
        for index in _array_indices(array_task):
            key = f"{array_job}_{index}"
            jobs.setdefault(key, JobInfo(key, state, reason))
    return jobs


def exit_code_of(text: str) -> int | None:
    """SLURM's ``CODE:SIGNAL`` as one exit status (a signal ``N`` is ``128 + N``)."""
    match = re.fullmatch(r"(\d+):(\d+)", text.strip())
    if not match:
        return None
    code, signal = int(match.group(1)), int(match.group(2))
    return 128 + signal if signal and not code else code


def parse_sacct(stdout: str) -> dict[str, JobInfo]:
    """``sacct SACCT_ARGS`` output, keyed like :func:`parse_squeue` (``123`` or ``120_4``)."""
    jobs: dict[str, JobInfo] = {}
    for line in stdout.splitlines():
        fields = line.strip().split("|")
        if len(fields) < 4:
            continue
        raw, job_id, state, code = fields[:4]
        final = state.split()[0] if state else "UNKNOWN"  # "CANCELLED by 0"
        info = JobInfo(job_id, final, exit_code=exit_code_of(code))
        jobs[job_id] = info
        jobs.setdefault(raw, info)
    return jobs


def status_of(state: str) -> TaskStatus:
    """A SLURM job state as a flowlib status (before the exit code decides final ones)."""
    if state in PENDING_STATES:
        return TaskStatus.PENDING
    if state in RUNNING_STATES:
        return TaskStatus.RUNNING
    if state == "CANCELLED":
        return TaskStatus.CANCELLED
    if state == "COMPLETED":
        return TaskStatus.COMPLETED
    return TaskStatus.FAILED
