"""Reading squeue and sacct output (as the local SLURM 22.05 prints it) into task states."""

from __future__ import annotations

from flowlib.core.store import TaskRecord
from flowlib.models import TaskConfig, TaskStatus
from flowlib.providers.slurm._cluster import Markers
from flowlib.providers.slurm._provider import _slurm_message, _state_of
from flowlib.providers.slurm._state import (
    JobInfo,
    exit_code_of,
    parse_sacct,
    parse_squeue,
    status_of,
)

# squeue -h -t all -j 1436,1438,1450 -o '%A|%F|%K|%T|%r|%S|%e|%N'
SQUEUE = """\
1438|1438|2|COMPLETED|None|2026-11-24T20:01:40|2026-11-24T20:01:41|localhost
1440|1438|1|COMPLETED|None|2026-11-24T20:01:39|2026-11-24T20:01:40|localhost
1436|1436|N/A|FAILED|NonZeroExitCode|2026-11-24T20:01:38|2026-11-24T20:01:38|localhost
1450|1450|3-5%1|PENDING|JobArrayTaskLimit|N/A|N/A|
1451|1451|N/A|RUNNING|None|2026-11-24T20:02:00|Unknown|localhost
"""


def test_squeue_lines_are_keyed_by_job_id_and_array_task() -> None:
    jobs = parse_squeue(SQUEUE)
    assert jobs["1436"].state == "FAILED" and jobs["1436"].reason == "NonZeroExitCode"
    assert jobs["1438_2"].state == "COMPLETED" and jobs["1438_1"].nodes == "localhost"
    assert {k for k in jobs if k.startswith("1450_")} == {"1450_3", "1450_4", "1450_5"}
    assert jobs["1451"].started_at is not None and jobs["1451"].ended_at is None


def test_sacct_exit_codes_count_signals_as_128_plus() -> None:
    jobs = parse_sacct("1436|1436|FAILED|3:0\n1439|1438_0|CANCELLED by 0|0:15\n")
    assert jobs["1436"].exit_code == 3
    assert jobs["1438_0"].state == "CANCELLED" and jobs["1438_0"].exit_code == 143
    assert exit_code_of("0:0") == 0 and exit_code_of("garbage") is None


def test_every_slurm_state_has_a_status() -> None:
    assert status_of("PENDING") == TaskStatus.PENDING
    assert status_of("COMPLETING") == TaskStatus.RUNNING
    assert status_of("TIMEOUT") == TaskStatus.FAILED
    assert status_of("NODE_FAIL") == TaskStatus.FAILED
    assert status_of("CANCELLED") == TaskStatus.CANCELLED


def rec(cancelled: bool = False) -> TaskRecord:
    config = TaskConfig(command=["true"])
    return TaskRecord("task-1", "t", "slurm", config, cancel_requested=cancelled)


def test_the_marker_exit_code_wins_over_slurms_state() -> None:
    state = _state_of(rec(), JobInfo("1", "COMPLETING"), Markers(exit_code=7), None)
    assert (state.status, state.exit_code) == (TaskStatus.FAILED, 7)


def test_a_pending_job_says_why_it_waits() -> None:
    state = _state_of(rec(), JobInfo("1", "PENDING", "Resources"), Markers(), None)
    assert state.status == TaskStatus.PENDING and state.message == "waiting in the queue: Resources"


def test_a_job_killed_by_slurms_time_limit_is_failed_with_sacct_exit_code() -> None:
    state = _state_of(
        rec(),
        JobInfo("1", "TIMEOUT", "TimeLimit"),
        Markers(),
        JobInfo("1", "TIMEOUT", exit_code=143),
    )
    assert (state.status, state.exit_code) == (TaskStatus.FAILED, 143)
    assert state.message == "stopped by SLURM's time limit"


def test_a_job_slurm_forgot_without_a_marker_is_failed_as_vanished() -> None:
    state = _state_of(rec(), None, Markers(), None)
    assert (state.status, state.provider_state) == (TaskStatus.FAILED, "vanished")


def test_a_cancel_that_reached_the_workload_makes_the_end_cancelled() -> None:
    stopped = Markers(exit_code=143, stop_requested=True)
    state = _state_of(rec(cancelled=True), JobInfo("1", "CANCELLED"), stopped, None)
    assert state.status == TaskStatus.CANCELLED


def test_a_workload_that_ended_before_the_cancel_reached_it_keeps_its_result() -> None:
    state = _state_of(rec(cancelled=True), JobInfo("1", "COMPLETED"), Markers(exit_code=0), None)
    assert (state.status, state.exit_code) == (TaskStatus.COMPLETED, 0)


def test_slurm_error_lines_lose_their_prefixes() -> None:
    text = (
        "sbatch: error: invalid partition specified: nope\n"
        "sbatch: error: Batch job submission failed: Invalid partition name specified\n"
    )
    assert _slurm_message(text) == (
        "invalid partition specified: nope; "
        "Batch job submission failed: Invalid partition name specified"
    )
