"""From Mithril's bid and instance states (and the workload's exit code) to a TaskState.

Pure functions: the provider gathers the facts (one bid, its instances, the exit codes it could
read), these decide what they mean. Mithril itself has no notion of success: a bid that ended is
just ``Terminated``. Completed and failed therefore come from the exit code the startup script
wrote on the instance, which flowlib reads over the remote-host seam.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowlib.models import TaskStatus

if TYPE_CHECKING:
    from flowlib.providers.fcp._shapes import BidJson, InstanceJson

__all__ = ["Facts", "Verdict", "combined_exit", "decide"]

PROVISIONING = frozenset(
    {"STATUS_NEW", "STATUS_CONFIRMED", "STATUS_INITIALIZING", "STATUS_STARTING"}
)
UP = frozenset({"STATUS_RUNNING", "STATUS_PREEMPTING", "STATUS_RELOCATING"})
ENDED = frozenset({"STATUS_TERMINATED", "STATUS_PREEMPTED", "STATUS_REPLACED", "STATUS_ERROR"})


@dataclass
class Facts:
    """What is known about one task now."""

    bid: BidJson | None
    current: Sequence[InstanceJson] = ()  # the bid's instances now, in node order
    preemptions: int = 0  # allocations lost to preemption so far
    exit_codes: Mapping[str, int] = field(default_factory=dict)  # instance FID -> exit code
    messages: Mapping[str, str] = field(default_factory=dict)
    cancel_requested: bool = False
    stopped: bool = False  # a stop signal reached a node's startup script before it ended
    retries: int = 0
    submitted: bool = True  # False: the submit has not (yet) recorded a bid


@dataclass
class Verdict:
    status: TaskStatus
    provider_state: str
    message: str | None = None
    exit_code: int | None = None
    release: bool = False  # the provider should cancel the bid now (it ended or gave up)


def combined_exit(codes: Sequence[int]) -> int:
    """A multi-node task's exit code: the first node that failed, else 0."""
    return next((c for c in codes if c != 0), 0)


def _exit(facts: Facts) -> int | None:
    if not facts.current:
        return None
    codes = [facts.exit_codes.get(str(i["fid"])) for i in facts.current]
    if any(c is None for c in codes):
        return None
    return combined_exit([c for c in codes if c is not None])


def _message(facts: Facts) -> str | None:
    found = (facts.messages[str(i["fid"])] for i in facts.current if i["fid"] in facts.messages)
    return next(found, None)


def _ended(code: int, facts: Facts, state: str) -> Verdict:
    # A workload that ended on its own before the cancel reached it keeps its own result.
    if facts.cancel_requested and facts.stopped:
        return Verdict(TaskStatus.CANCELLED, state, "cancelled by user", code)
    if facts.stopped and state == "Preempting":  # it stopped on the preemption notice
        why = f"preempted: outbid; the workload stopped on the notice (exit {code})"
        return Verdict(TaskStatus.FAILED, "preempted", why, code, release=True)
    status = TaskStatus.COMPLETED if code == 0 else TaskStatus.FAILED
    return Verdict(status, state, _message(facts), code, release=True)


def decide(facts: Facts) -> Verdict:
    """The task's status from the facts (see the module docstring)."""
    bid = facts.bid
    if bid is None:
        if facts.cancel_requested:
            return Verdict(TaskStatus.CANCELLED, "no-bid", "cancelled before a bid was placed")
        if facts.submitted:
            return Verdict(
                TaskStatus.FAILED, "bid-missing", "the task's bid no longer exists on FCP"
            )
        return Verdict(TaskStatus.PENDING, "submitting")
    state = str(bid.get("status"))
    code = _exit(facts)
    if state == "Terminated":
        if code is not None:
            verdict = _ended(code, facts, "Terminated")
            verdict.release = False
            return verdict
        if facts.cancel_requested:
            return Verdict(TaskStatus.CANCELLED, "Terminated", "cancelled by user")
        return Verdict(
            TaskStatus.FAILED,
            "Terminated",
            "the bid ended before flowlib could read the workload's exit code "
            "(cancelled outside flowlib, or the instance was gone)",
        )
    if code is not None:
        return _ended(code, facts, state)
    if any(i.get("status") == "STATUS_ERROR" for i in facts.current):
        return Verdict(
            TaskStatus.FAILED, "STATUS_ERROR", "an instance failed (STATUS_ERROR)", release=True
        )
    if facts.preemptions > facts.retries:  # even if it already won again: that is a retry
        return Verdict(
            TaskStatus.FAILED,
            "preempted",
            f"preempted: outbid on the spot market ({facts.preemptions} time(s), "
            f"retries={facts.retries})",
            release=True,
        )
    if state in ("Open", "Paused") and facts.preemptions:
        return Verdict(
            TaskStatus.PENDING,
            "preempted",
            f"preempted {facts.preemptions} time(s); waiting to win again "
            f"(retry {facts.preemptions} of {facts.retries})",
        )
    if state == "Open":
        return Verdict(
            TaskStatus.PENDING, "Open", f"bid open at {bid.get('limit_price')}/hour: waiting"
        )
    if state == "Paused":
        return Verdict(TaskStatus.PENDING, "Paused", "bid paused")
    statuses = [str(i.get("status")) for i in facts.current]
    if state == "Preempting" or "STATUS_PREEMPTING" in statuses:
        return Verdict(
            TaskStatus.RUNNING, "Preempting", "outbid: the instances stop within 5 minutes"
        )
    if statuses and all(s in UP for s in statuses):
        return Verdict(TaskStatus.RUNNING, "STATUS_RUNNING")
    if any(s in UP for s in statuses):
        return Verdict(TaskStatus.RUNNING, "STATUS_RUNNING", "some nodes are still starting")
    first = next((s for s in statuses if s in PROVISIONING), "Allocated")
    return Verdict(TaskStatus.PENDING, first, "instances starting")
