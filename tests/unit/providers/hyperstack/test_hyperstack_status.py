"""What a Hyperstack task's facts mean (``_status.decide`` / ``decide_queued``), one row a case.

Each row reads: given this VM status and what was read (or kept home), the task is in this
state, with this raw provider state and message. The provider's I/O is tested elsewhere
(against the emulator); these rows are the judgement alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timezone

import pytest

from flowlib.models import TaskStatus
from flowlib.providers.hyperstack._status import (
    Exited,
    Facts,
    QueuedFacts,
    decide,
    decide_queued,
    to_read,
)

NOW = datetime(2026, 12, 2, 6, 0, tzinfo=timezone.utc)
STARTED = datetime(2026, 12, 2, 5, 0, tzinfo=timezone.utc)
P, R, C, F, X = (
    TaskStatus.PENDING,
    TaskStatus.RUNNING,
    TaskStatus.COMPLETED,
    TaskStatus.FAILED,
    TaskStatus.CANCELLED,
)


def vm(status: str | None = "ACTIVE", **facts: object) -> Facts:
    """Facts of a task whose VM is ``status`` (None: no VM), its create answered."""
    base = Facts(now=NOW, vm_status=status, has_ip=True, vm_recorded=True)
    return replace(base, **facts)  # type: ignore[arg-type]


# (facts, status, provider_state, message)
ROWS = [
    # -- no VM of the task's id or name ----------------------------------------------------
    pytest.param(
        vm(None, vm_recorded=False), P, "submitting", None, id="no VM yet: the submit is on its way"
    ),
    pytest.param(
        vm(None, vm_recorded=False, age_s=601),
        F,
        "submit-lost",
        "the submit ended before a VM was created (no VM has the task's name)",
        id="no VM 10 minutes on: the submit died before the create",
    ),
    pytest.param(
        vm(None, vm_recorded=False, submit_abandoned=True),
        F,
        "submit-lost",
        "the submit ended before a VM was created (no VM has the task's name)",
        id="the submit said it gave up",
    ),
    pytest.param(
        vm(None),
        F,
        "deleted",
        "the VM was deleted before the task reported an exit code",
        id="VM gone, no result kept: failed",
    ),
    pytest.param(
        vm(None, cancel_requested=True),
        X,
        "deleted",
        "cancelled by user",
        id="VM gone after a cancel",
    ),
    pytest.param(
        vm(None, kept=Exited(0, stopped=False)), C, "released", None, id="VM gone, exit 0 kept"
    ),
    pytest.param(
        vm(None, kept=Exited(3, stopped=False)), F, "released", None, id="VM gone, exit 3 kept"
    ),
    pytest.param(
        vm(None, kept=Exited(143, stopped=True), cancel_requested=True),
        X,
        "released",
        "cancelled by user",
        id="cancelled, and the stop reached the workload",
    ),
    pytest.param(
        vm(None, kept=Exited(0, stopped=False), cancel_requested=True),
        C,
        "released",
        None,
        id="cancelled too late: the workload's own result stands",
    ),
    # -- the VM's status says it all -------------------------------------------------------
    pytest.param(vm("CREATING"), P, "CREATING", None, id="CREATING"),
    pytest.param(vm("BUILD"), P, "BUILD", None, id="BUILD"),
    pytest.param(vm("ERROR"), F, "ERROR", "the VM failed (status ERROR)", id="ERROR"),
    pytest.param(
        vm("HIBERNATED"), R, "HIBERNATED", "the VM is HIBERNATED", id="asleep: still held"
    ),
    pytest.param(vm("SHUTOFF"), R, "SHUTOFF", "the VM is SHUTOFF", id="stopped: still held"),
    pytest.param(
        vm("DELETING"), F, "DELETING", "the VM is being deleted", id="DELETING, nothing kept"
    ),
    pytest.param(
        vm("DELETING", cancel_requested=True),
        X,
        "DELETING",
        "the VM is being deleted",
        id="DELETING after a cancel",
    ),
    pytest.param(
        vm("DELETING", kept=Exited(0, stopped=False)),
        C,
        "released",
        None,
        id="DELETING itself once its result was out",
    ),
    # -- ACTIVE: what was read on the VM ---------------------------------------------------
    pytest.param(
        vm(has_ip=False), P, "ACTIVE, waiting for its IP", None, id="ACTIVE without its IP"
    ),
    pytest.param(
        vm(reachable=False), P, "booting (not reachable yet)", None, id="ACTIVE, sshd not up"
    ),
    pytest.param(vm(), P, "booting", None, id="reachable, the script has not started"),
    pytest.param(
        vm(volumes_waiting="waiting for volume data (in-use by VM 7)"),
        P,
        "waiting for volume data (in-use by VM 7)",
        None,
        id="reachable, waiting for its volumes",
    ),
    pytest.param(vm(started=True), R, "ACTIVE", None, id="the workload runs"),
    pytest.param(vm(exited=Exited(0, stopped=False)), C, "released", None, id="exit 0 read"),
    pytest.param(
        vm(exited=Exited(1, stopped=False, message="out of memory")),
        F,
        "released",
        "out of memory",
        id="exit 1 read, with the message it left",
    ),
    pytest.param(
        vm(exited=Exited(0, stopped=False), auto_terminate=False),
        C,
        "exited",
        None,
        id="exit 0 read, auto_terminate off: the VM stays",
    ),
    pytest.param(
        vm(exited=Exited(143, stopped=True), cancel_requested=True),
        X,
        "released",
        "cancelled by user",
        id="exit read after a cancel that reached it",
    ),
]


@pytest.mark.parametrize(("facts", "status", "provider_state", "message"), ROWS)
def test_decide(facts: Facts, status: TaskStatus, provider_state: str, message: str | None) -> None:
    state = decide(facts).state
    assert (state.status, state.provider_state, state.message) == (status, provider_state, message)


@pytest.mark.parametrize(
    ("facts", "release"),
    [
        pytest.param(vm(exited=Exited(0, stopped=False)), True, id="result read: delete the VM"),
        pytest.param(
            vm(exited=Exited(0, stopped=False), auto_terminate=False),
            False,
            id="auto_terminate off: keep it",
        ),
        pytest.param(vm(started=True), False, id="still running: keep it"),
        pytest.param(vm(None, kept=Exited(0)), False, id="already gone: nothing to delete"),
        pytest.param(vm("DELETING", kept=Exited(0)), False, id="already being deleted"),
    ],
)
def test_the_vm_is_deleted_once_its_result_was_read(facts: Facts, release: bool) -> None:
    assert decide(facts).release is release


def test_what_the_store_keeps_of_a_finished_task() -> None:
    read = decide(vm(exited=Exited(2, stopped=False))).state
    assert read.exit_code == 2
    assert read.completed_at == NOW
    assert read.provider_data == {"exit_code": 2, "released": True, "stopped": False}
    kept = decide(vm(None, kept=Exited(0, stopped=False))).state
    assert kept.provider_data == {"exit_code": 0, "released": True}


def test_a_cancelled_task_has_no_completion_time_of_its_own() -> None:
    # The engine stamps a cancel; a workload's result is stamped when it is read.
    state = decide(vm(None, kept=Exited(143), cancel_requested=True)).state
    assert state.completed_at is None
    assert state.exit_code == 143


def test_a_running_task_carries_its_start_time() -> None:
    assert decide(vm(started=True, started_at=STARTED)).state.started_at == STARTED


@pytest.mark.parametrize(
    ("status", "has_ip", "where"),
    [
        (None, False, "kept"),
        ("DELETING", False, "kept"),
        ("ACTIVE", True, "vm"),
        ("ACTIVE", False, "nothing"),
        ("BUILD", False, "nothing"),
        ("HIBERNATED", True, "nothing"),
        ("ERROR", False, "nothing"),
    ],
)
def test_where_the_result_is_looked_for(status: str | None, has_ip: bool, where: str) -> None:
    assert to_read(status, has_ip) == where


def queued(status: str | None = "ACTIVE", **facts: object) -> QueuedFacts:
    """Facts of a task delivered to instance ``box``, whose queue was read."""
    return replace(QueuedFacts("box", NOW, status, looked=True), **facts)  # type: ignore[arg-type]


QUEUED = [
    pytest.param(queued(stored_exit=0), C, "exited", None, id="the store has its exit code"),
    pytest.param(
        queued(None),
        F,
        "deleted",
        "instance box was deleted before the task reported an exit code",
        id="the instance is gone",
    ),
    pytest.param(
        queued(None, cancel_requested=True),
        X,
        "deleted",
        "cancelled by user",
        id="the instance is gone after a cancel",
    ),
    pytest.param(
        queued("HIBERNATED", looked=False),
        R,
        "HIBERNATED",
        "instance box is hibernated: the task's result is read when it wakes "
        "(`flow instance wake box`)",
        id="asleep: the result waits for the wake",
    ),
    pytest.param(
        queued("HIBERNATING", looked=False),
        R,
        "HIBERNATING",
        "instance box is hibernating: the task's result is read when it wakes "
        "(`flow instance wake box`)",
        id="going to sleep",
    ),
    pytest.param(
        queued("RESTORING", looked=False),
        P,
        "instance RESTORING",
        None,
        id="waking, not reachable yet",
    ),
    pytest.param(
        queued(position=2, queue_length=3),
        P,
        "queued on box",
        "position 2 of 3 in box's queue",
        id="waiting its turn",
    ),
    pytest.param(
        queued(known=True, started=1_700_000_000),
        R,
        "running on box",
        None,
        id="running",
    ),
    pytest.param(
        queued(known=True, exit_code=0, started=1_700_000_000),
        C,
        "exited",
        None,
        id="ran: exit 0",
    ),
    pytest.param(
        queued(known=True, exit_code=4, message="bad input"),
        F,
        "exited",
        "bad input",
        id="ran: exit 4 and its message",
    ),
    pytest.param(
        queued(known=True, exit_code=143, cancel_requested=True),
        X,
        "exited",
        "cancelled by user",
        id="stopped by a cancel",
    ),
    pytest.param(
        queued(cancel_requested=True),
        X,
        "dequeued",
        "cancelled by user",
        id="taken out of the queue by a cancel",
    ),
    pytest.param(
        queued(),
        F,
        "lost",
        "task is neither queued nor run on instance box",
        id="neither queued nor run",
    ),
]


@pytest.mark.parametrize(("facts", "status", "provider_state", "message"), QUEUED)
def test_decide_queued(
    facts: QueuedFacts, status: TaskStatus, provider_state: str, message: str | None
) -> None:
    state = decide_queued(facts)
    assert (state.status, state.provider_state, state.message) == (status, provider_state, message)


def test_a_queued_task_that_ran_has_its_start_time_and_exit_code() -> None:
    state = decide_queued(queued(known=True, exit_code=0, started=1_700_000_000))
    assert state.started_at == datetime.fromtimestamp(1_700_000_000, timezone.utc)
    assert state.provider_data == {"exit_code": 0}
