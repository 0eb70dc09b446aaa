"""From a Hyperstack VM's status (and what its workload left) to a TaskState.

Pure functions: the provider gathers the facts (the VM as listed, what the store says of the
task, the exit code read on the VM or kept home before the VM went), these decide what they
mean. Hyperstack has no notion of a job: a VM is just ``ACTIVE`` until it is deleted, so
completed and failed come from the exit code the startup script wrote on the VM.

What the provider reads depends on the VM's status alone (:func:`to_read`)::

    no VM, DELETING       the exit code kept home (or in the results location), if any
    ACTIVE with an IP     the VM's exit code and start marker, over the remote-host seam
    anything else         nothing: the status says it all

A persistent instance's tasks are decided by :func:`decide_queued` from one look at the
instance's queue (:mod:`._persistent`).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from flowlib.models import TaskStatus
from flowlib.providers.base import TaskState
from flowlib.providers.hyperstack._names import epoch

__all__ = [
    "ASLEEP",
    "BOOTING",
    "GOING_TO_SLEEP",
    "SUBMIT_LOST_S",
    "WAKING",
    "Exited",
    "Facts",
    "QueuedFacts",
    "Verdict",
    "decide",
    "decide_queued",
    "finished",
    "to_read",
]

BOOTING = frozenset({"CREATING", "BUILD"})
WAKING = BOOTING | {"RESTORING", "STARTING", "REBOOTING"}
ASLEEP = frozenset({"HIBERNATED", "SHUTOFF"})
GOING_TO_SLEEP = frozenset({"HIBERNATING", "STOPPING"})
# A task with no VM this long after it was created: its submit died before the create.
SUBMIT_LOST_S = 600.0


@dataclass(frozen=True)
class Exited:
    """The workload ended: its exit code, whether a stop (cancel) had reached it, and the
    message it left (read on the VM; None when it left none)."""

    code: int
    stopped: bool = True
    message: str | None = None


@dataclass(frozen=True)
class Facts:
    """What is known about one one-VM task now."""

    now: datetime
    vm_status: str | None  # the VM's ``status``; None: no VM has the task's id or name
    has_ip: bool = False  # the VM has its floating IP
    reachable: bool = True  # the VM answered over the remote-host seam (when it was asked)
    exited: Exited | None = None  # read on the VM now
    kept: Exited | None = None  # kept home (or in the results location) before the VM went
    started: bool = False  # the start marker is on the VM
    started_at: datetime | None = None  # what the marker says, when it holds a time
    volumes_waiting: str | None = None  # why the task's volumes are not ready yet
    cancel_requested: bool = False
    vm_recorded: bool = False  # the store holds the VM's id: its create was answered
    submit_abandoned: bool = False  # the submit gave up before creating the VM
    age_s: float = 0.0  # since the task was created
    auto_terminate: bool = True


@dataclass
class Verdict:
    state: TaskState
    release: bool = False  # the provider should delete the VM now (its result is home)


def to_read(vm_status: str | None, has_ip: bool) -> Literal["kept", "vm", "nothing"]:
    """Where the provider looks for the workload's result before it calls :func:`decide`."""
    if vm_status is None or vm_status == "DELETING":
        return "kept"
    if vm_status == "ACTIVE" and has_ip:
        return "vm"
    return "nothing"


def finished(
    code: int, provider_state: str, now: datetime, *, cancel_requested: bool, stopped: bool = True
) -> TaskState:
    """A task whose workload exited with ``code``: cancelled when a cancel was asked and the
    stop reached it (``stopped``), else the workload's own result."""
    if cancel_requested and stopped:
        return TaskState(TaskStatus.CANCELLED, code, provider_state, "cancelled by user")
    status = TaskStatus.COMPLETED if code == 0 else TaskStatus.FAILED
    return TaskState(status, code, provider_state, None, completed_at=now)


def _released(facts: Facts, kept: Exited) -> Verdict:
    state = finished(
        kept.code,
        "released",
        facts.now,
        cancel_requested=facts.cancel_requested,
        stopped=kept.stopped,
    )
    state.provider_data = {"exit_code": kept.code, "released": True}
    return Verdict(state)


def _failed(provider_state: str, message: str, now: datetime) -> Verdict:
    return Verdict(TaskState(TaskStatus.FAILED, None, provider_state, message, completed_at=now))


def decide(facts: Facts) -> Verdict:
    """The task's status from the facts (see the module docstring)."""
    raw = facts.vm_status
    if raw is None:
        if facts.kept is not None:  # its result came home before its VM was deleted
            return _released(facts, facts.kept)
        if facts.cancel_requested:
            return Verdict(TaskState(TaskStatus.CANCELLED, None, "deleted", "cancelled by user"))
        if not facts.vm_recorded:
            if facts.submit_abandoned or facts.age_s > SUBMIT_LOST_S:
                return _failed(
                    "submit-lost",
                    "the submit ended before a VM was created (no VM has the task's name)",
                    facts.now,
                )
            return Verdict(TaskState(TaskStatus.PENDING, provider_state="submitting"))
        return _failed(
            "deleted", "the VM was deleted before the task reported an exit code", facts.now
        )
    if raw in BOOTING:
        return Verdict(TaskState(TaskStatus.PENDING, provider_state=raw))
    if raw == "ERROR":
        return _failed(raw, "the VM failed (status ERROR)", facts.now)
    if raw == "DELETING":
        if facts.kept is not None:  # it deleted itself once its result was out
            return _released(facts, facts.kept)
        status = TaskStatus.CANCELLED if facts.cancel_requested else TaskStatus.FAILED
        return Verdict(
            TaskState(status, None, raw, "the VM is being deleted", completed_at=facts.now)
        )
    if raw != "ACTIVE":  # stopped, hibernated, on their way: the machine is still held
        return Verdict(
            TaskState(TaskStatus.RUNNING, provider_state=raw, message=f"the VM is {raw}")
        )
    if not facts.has_ip:
        return Verdict(TaskState(TaskStatus.PENDING, provider_state="ACTIVE, waiting for its IP"))
    if not facts.reachable:
        return Verdict(TaskState(TaskStatus.PENDING, provider_state="booting (not reachable yet)"))
    exited = facts.exited
    if exited is None:
        if not facts.started:
            return Verdict(
                TaskState(TaskStatus.PENDING, provider_state=facts.volumes_waiting or "booting")
            )
        return Verdict(
            TaskState(TaskStatus.RUNNING, provider_state=raw, started_at=facts.started_at)
        )
    release = facts.auto_terminate
    state = finished(
        exited.code,
        "released" if release else "exited",
        facts.now,
        cancel_requested=facts.cancel_requested,
        stopped=exited.stopped,
    )
    if exited.message is not None:
        state.message = exited.message
    state.provider_data = {"exit_code": exited.code, "released": release, "stopped": exited.stopped}
    return Verdict(state, release=release)


@dataclass(frozen=True)
class QueuedFacts:
    """What is known about one task delivered to persistent instance ``instance``."""

    instance: str
    now: datetime
    vm_status: str | None  # the instance's VM; None: it has none
    stored_exit: int | None = None  # the exit code the store already holds
    looked: bool = False  # the instance answered and its queue was read
    exit_code: int | None = None  # in the queue's record of the task
    started: int | None = None  # the start marker (epoch seconds), when there is one
    known: bool = False  # the queue has a record of the task (run, running or ran)
    position: int | None = None  # 1-based, while it waits in the queue
    queue_length: int = 0
    message: str | None = None  # what the workload left, once it ended
    cancel_requested: bool = False


def decide_queued(facts: QueuedFacts) -> TaskState:
    """The status of a task delivered to a persistent instance, from one look at its queue."""
    name = facts.instance
    cancel = facts.cancel_requested
    if facts.stored_exit is not None:
        return finished(facts.stored_exit, "exited", facts.now, cancel_requested=cancel)
    if facts.vm_status is None:
        if cancel:
            return TaskState(TaskStatus.CANCELLED, None, "deleted", "cancelled by user")
        return _failed(
            "deleted",
            f"instance {name} was deleted before the task reported an exit code",
            facts.now,
        ).state
    raw = facts.vm_status
    if not facts.looked:
        if raw in ASLEEP or raw in GOING_TO_SLEEP:
            return TaskState(
                TaskStatus.RUNNING,
                provider_state=raw,
                message=f"instance {name} is {raw.lower()}: the task's result is read when "
                f"it wakes (`flow instance wake {name}`)",
            )
        return TaskState(TaskStatus.PENDING, provider_state=f"instance {raw}")
    began = epoch(str(facts.started)) if facts.started else None
    if facts.exit_code is not None:
        state = finished(facts.exit_code, "exited", facts.now, cancel_requested=cancel)
        state.started_at = began
        state.message = facts.message or state.message
        state.provider_data = {"exit_code": facts.exit_code}
        return state
    if facts.position is not None:
        return TaskState(
            TaskStatus.PENDING,
            provider_state=f"queued on {name}",
            message=f"position {facts.position} of {facts.queue_length} in {name}'s queue",
        )
    if facts.started is not None or facts.known:
        return TaskState(TaskStatus.RUNNING, provider_state=f"running on {name}", started_at=began)
    if cancel:
        return TaskState(TaskStatus.CANCELLED, None, "dequeued", "cancelled by user")
    return _failed("lost", f"task is neither queued nor run on instance {name}", facts.now).state
