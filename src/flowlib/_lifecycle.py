"""The task lifecycle: one service that records, submits, refreshes, cancels and settles tasks.

:class:`~flowlib.flow.Flow`, arrays (:mod:`flowlib._arrays`) and batched remote calls
(:mod:`flowlib.remote._batch`) drive tasks through this service only; none of them writes a
task's status or ``provider_data`` itself. Its rules are the promises flowlib makes:

* **Intent first.** A task is in the store (``provider_state="submitting"``, with who submits it)
  before its provider creates anything, and every cloud resource is named after the task, so any
  process can find it again.
* **A cancel that races a submit wins.** :meth:`Lifecycle.cancel` of a task still being
  submitted records the request; the submitter reads it (in the same transaction that stores
  what it created) and releases what it made before :meth:`Lifecycle.submit` returns. A task is
  marked ``cancelled`` only when nothing of it is live or its submitter is gone; if the
  submitter died, the next refresh releases whatever carries the task's name.
* **Unknown is not failed.** A submit whose outcome is unknown (the provider could not confirm a
  create, even by looking the name up) leaves the task ``pending``; a later refresh resolves it by
  name: adopted when the resource exists, failed only after :attr:`settle_s` with no resource.
  A submitter that died (``kill -9``) is resolved the same way.
* **An end is final.** A refresh never moves a task out of a terminal status, and writes only
  what changed, merged key by key into the stored ``provider_data`` inside one transaction, so a
  refresh racing a submit (or another refresh) never loses the other's keys.
* **One failure stays one.** A provider that fails for a batch leaves those tasks as stored; the
  next refresh asks again. A failed submit releases what carries the task's name (task-scoped
  credentials included).
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from flowlib.core import procs
from flowlib.core.store import TaskRecord, new_task_id
from flowlib.errors import FlowError, ValidationError
from flowlib.models import TaskStatus
from flowlib.telemetry import annotate, span

if TYPE_CHECKING:
    from flowlib.core.seams import Clock
    from flowlib.core.store import TaskRecord, TaskStore
    from flowlib.models import TaskConfig
    from flowlib.providers.base import Provider, TaskState

__all__ = ["SUBMITTING", "Lifecycle", "ended_already", "submitting", "user"]

log = logging.getLogger(__name__)
SUBMITTING = "submitting"  # provider_state while the submitter is at work
UNCONFIRMED = "unconfirmed"  # the submitter gave up without knowing whether the create took
# A submitter on another machine cannot be asked whether it lives: trusted this long.
OTHER_HOST_SUBMIT_S = 600.0
_IN_FLIGHT: set[str] = set()  # tasks this process is submitting right now (any thread)


class Lifecycle:
    """Drives the tasks of one store through their providers (see the module docstring).

    ``provider`` returns the provider of a name (built once by the caller); ``settle_s`` is how
    long a submit that ended unconfirmed (or whose process died) is given before a refresh that
    finds nothing by the task's name calls it lost; ``on_live`` is told the name of a provider
    with live tasks after a submit or a refresh (the engine makes sure a keeper watches them).
    """

    def __init__(
        self,
        store: TaskStore,
        provider: Callable[[str], Provider],
        *,
        clock: Clock,
        settle_s: float = 60.0,
        on_live: Callable[[str], None] | None = None,
    ) -> None:
        self.store = store
        self.provider = provider
        self.clock = clock
        self.settle_s = settle_s
        self.on_live = on_live
        self.unanswered: dict[str, str] = {}
        """The providers the last look could not ask, and why: their tasks show what was stored
        (``flow status`` and ``flow keeper`` say so)."""

    # -- record and submit ----------------------------------------------------------------
    def record(
        self,
        config: TaskConfig,
        provider: str,
        *,
        data: Mapping[str, Any] | None = None,
        idempotency_key: str | None = None,
    ) -> tuple[TaskRecord, bool]:
        """Record a task about to be submitted; ``(record, True)``. With ``idempotency_key``, a
        task already recorded with that key is answered instead: ``(that record, False)``."""
        record = TaskRecord(
            task_id=new_task_id(),
            name=config.name,
            provider=provider,
            config=config,
            provider_state=SUBMITTING,
            instance_type=config.instance_type,
        )
        record.provider_data = {"created_by": user(), "submitter": _this_process(), **(data or {})}
        if idempotency_key is None:
            self.store.add(record)
            return record, True
        record.provider_data["idempotency_key"] = idempotency_key
        stored = self.store.add_once(record, "idempotency_key", idempotency_key)
        return stored, stored.task_id == record.task_id

    def submit(self, record: TaskRecord) -> TaskRecord:
        """Hand a recorded task to its provider and store what it created. A cancel that arrived
        meanwhile is honoured before this returns; a refusal marks the task failed (and
        releases what carries its name); an unknown outcome leaves it for a later refresh."""
        from flowlib.core.http import AmbiguousRequestError

        name = record.provider
        annotate(task_id=record.task_id, provider=name, instance_type=record.instance_type)
        with submitting([record]):
            try:
                with span("provider.submit", task_id=record.task_id, provider=name):
                    data = self.provider(name).submit(record)
            except AmbiguousRequestError as exc:
                self.unconfirmed([record], exc)
                raise
            except BaseException as exc:
                self.failed([record], exc)
                raise
            return self.submitted(record, data)

    def submitted(self, record: TaskRecord, data: Mapping[str, Any]) -> TaskRecord:
        """Store what the provider created for ``record``; honour a cancel that came first."""

        def store_created(current: TaskRecord) -> dict[str, Any]:
            changes: dict[str, Any] = {"data": dict(data)}
            if current.provider_state in (SUBMITTING, UNCONFIRMED):
                changes["provider_state"] = "submitted"
            return changes

        fresh = self.store.modify(record.task_id, store_created)
        if fresh.cancel_requested:  # a cancel arrived while the provider was creating
            fresh = self._release_cancelled(fresh)
        elif self.on_live is not None:
            self.on_live(fresh.provider)
        return fresh

    def unconfirmed(self, records: Sequence[TaskRecord], exc: FlowError) -> None:
        """The provider could not confirm the create: the tasks stay pending, and a later
        refresh finds what exists by their names."""
        for record in records:
            self.store.update(
                record.task_id,
                provider_state=UNCONFIRMED,
                message=f"the submit was not confirmed ({exc.message}); flowlib looks the task's "
                "resources up by name at the next status",
                data={"unconfirmed_at": _now().isoformat()},
            )
        exc.suggestions.append(
            f"`flow status {records[0].task_id}` finds what was created by the task's name; "
            "nothing is lost or left billing"
        )

    def failed(self, records: Sequence[TaskRecord], exc: BaseException) -> None:
        """The provider refused or failed: the tasks are failed, never left pending, and what
        their submit may have created (a task-scoped key, a resource) is released by name."""
        message = exc.message if isinstance(exc, FlowError) else f"submit failed: {exc!r}"

        def fail(current: TaskRecord) -> dict[str, Any]:
            if current.status.is_terminal:
                return {}
            return {
                "status": TaskStatus.FAILED,
                "message": message,
                "provider_state": "submit-failed",
                "completed_at": _now(),
            }

        for record in records:
            fresh = self.store.modify(record.task_id, fail)
            try:
                self.provider(fresh.provider).cancel(fresh)
            except Exception as cleanup:  # the submit's own error is the one to raise
                log.warning("after the failed submit of %s: %s", fresh.task_id, cleanup)

    # -- refresh ----------------------------------------------------------------------------
    def refresh(self, records: Sequence[TaskRecord]) -> list[TaskRecord]:
        """What each task is now: one status call per provider for the unfinished ones."""
        fresh = self._ask([self._with_hints(r) for r in records if not r.status.is_terminal])
        if self.on_live is not None:
            for name in {r.provider for r in fresh.values() if not r.status.is_terminal}:
                self.on_live(name)
        out = [fresh.get(r.task_id, r) for r in records]
        return [self._resolve_cancel(r) for r in out]

    def _ask(self, records: Sequence[TaskRecord]) -> dict[str, TaskRecord]:
        """Ask each provider once about its tasks among ``records`` and store the answers; a
        provider that fails, even with a bug, leaves its tasks as stored (the next refresh asks
        again) and the others' answers stand: the keeper watches every cloud through this."""
        by_provider: dict[str, list[TaskRecord]] = {}
        for r in records:
            by_provider.setdefault(r.provider, []).append(r)
        fresh: dict[str, TaskRecord] = {}
        unanswered: dict[str, str] = {}
        for name, group in by_provider.items():
            try:
                with span("provider.status", provider=name, tasks=len(group)):
                    states = self.provider(name).status(group)
            except FlowError as exc:
                log.info("status of %d %s task(s) failed: %s", len(group), name, exc)
                unanswered[name] = exc.message
                fresh.update((r.task_id, r) for r in group)
                continue
            except Exception as exc:  # a provider's bug must not blind the looks at the others
                log.warning("status of %d %s task(s) failed", len(group), name, exc_info=True)
                unanswered[name] = f"{type(exc).__name__} in the {name} provider (a bug)"
                fresh.update((r.task_id, r) for r in group)
                continue
            for r in group:
                state = states.get(r.task_id)
                fresh[r.task_id] = r if state is None else self._apply(r, state)
        self.unanswered = unanswered
        return fresh

    def _apply(self, record: TaskRecord, state: TaskState) -> TaskRecord:
        def change(current: TaskRecord) -> dict[str, Any]:
            return _changes(current, state)

        return self.store.modify(record.task_id, change)

    def _with_hints(self, record: TaskRecord) -> TaskRecord:
        """The record as the provider should see it: ``submit_abandoned`` set (in memory only)
        when its submit is over without a confirmed resource for longer than ``settle_s``."""
        if record.provider_state not in (SUBMITTING, UNCONFIRMED):
            return record
        if _mid_submit(record):
            return record
        quiet = (_now() - record.updated_at).total_seconds()
        if quiet < self.settle_s:
            return record
        return replace(record, provider_data={**record.provider_data, "submit_abandoned": True})

    def _resolve_cancel(self, record: TaskRecord) -> TaskRecord:
        """A cancelled task still live after its submitter is gone (it died after creating):
        release it now."""
        if record.status.is_terminal or not record.cancel_requested:
            return record
        if _mid_submit(record):
            return record  # its submitter honours the cancel
        return self._release_cancelled(record)

    # -- cancel -----------------------------------------------------------------------------
    def cancel(
        self,
        records: Sequence[TaskRecord],
        *,
        whole: Callable[[list[TaskRecord]], None] | None = None,
    ) -> list[TaskRecord]:
        """Stop these tasks (one provider) and release what they hold; ``whole`` cancels them
        in one call where the provider can. Tasks being submitted by a live process are left to
        it (it releases what it creates); ended tasks are released again, quietly (idempotent:
        nothing of a task is left live). Answers each task as now stored."""

        def request(current: TaskRecord) -> dict[str, Any]:
            if current.status.is_terminal or current.cancel_requested:
                return {}
            return {"cancel_requested": True}

        marked = [self.store.modify(r.task_id, request) for r in records]
        if not marked:
            return []
        provider = self.provider(marked[0].provider)
        mine = [r for r in marked if not _mid_submit(r)]
        with span("provider.cancel", task_id=marked[0].task_id, provider=marked[0].provider):
            if whole is not None and mine:
                whole(mine)
            else:
                for r in mine:
                    provider.cancel(r)
        settled = {r.task_id: r for r in self._settle(mine)}
        for r in marked:
            if r.task_id not in settled:  # its submitter releases what it creates: wait for it
                settled[r.task_id] = self._await_submitter(r)
        return [settled[r.task_id] for r in marked]

    def _await_submitter(self, record: TaskRecord, wait_s: float = 30.0) -> TaskRecord:
        deadline = self.clock.monotonic() + wait_s
        while True:
            current = self.store.get(record.task_id)
            if current.status.is_terminal:
                return current
            if not _mid_submit(current):  # submitted since, or its submitter died
                return self._release_cancelled(current)
            if self.clock.monotonic() >= deadline:
                return current  # still submitting: it cancels what it creates when done
            self.clock.sleep(0.05)

    def _release_cancelled(self, record: TaskRecord) -> TaskRecord:
        try:
            self.provider(record.provider).cancel(record)
        except FlowError as exc:
            log.warning(
                "cancel of %s: releasing failed, retried at the next status: %s",
                record.task_id,
                exc,
            )
            return self.store.get(record.task_id)
        return self._settle([record])[0]

    def _settle(self, records: list[TaskRecord]) -> list[TaskRecord]:
        """After the provider's cancel: what each task is now; those still unfinished are
        recorded as cancelled by the user."""
        if not records:
            return []

        def cancelled(current: TaskRecord) -> dict[str, Any]:
            if current.status.is_terminal:
                return {}
            return {
                "status": TaskStatus.CANCELLED,
                "message": "cancelled by user",
                "completed_at": _now(),
            }

        after = [self.store.get(r.task_id) for r in records]
        self._ask([r for r in after if not r.status.is_terminal])
        return [self.store.modify(r.task_id, cancelled) for r in after]


def ended_already(record: TaskRecord) -> ValidationError:
    return ValidationError(
        f"task {record.task_id} ({record.name}) already ended: {record.status.value}",
        suggestions=["`flow status` lists the tasks still running"],
        task_id=record.task_id,
    )


def _changes(record: TaskRecord, state: TaskState) -> dict[str, Any]:
    """What ``state`` changes in ``record`` (as stored now). An ended task keeps its end."""
    new: dict[str, Any] = {}
    if state.provider_data:
        stored = record.provider_data
        delta = {k: v for k, v in state.provider_data.items() if stored.get(k, _MISSING) != v}
        if delta:
            new["data"] = delta
    if record.status.is_terminal:
        return new
    fields = {
        "status": state.status,
        "exit_code": state.exit_code,
        "provider_state": state.provider_state,
        "message": state.message,
        "started_at": state.started_at or record.started_at,
        "completed_at": state.completed_at or record.completed_at,
    }
    new.update({k: v for k, v in fields.items() if getattr(record, k) != v})
    return new


_MISSING = object()


def _this_process() -> dict[str, Any]:
    pid = os.getpid()
    return {"host": socket.gethostname(), "pid": pid, "start_ticks": procs.start_ticks(pid)}


@contextmanager
def submitting(records: Sequence[TaskRecord]) -> Iterator[None]:
    """Mark ``records`` as being submitted by this process (a cancel from another thread then
    leaves them to it)."""
    ids = {r.task_id for r in records}
    _IN_FLIGHT.update(ids)
    try:
        yield
    finally:
        _IN_FLIGHT.difference_update(ids)


def _mid_submit(record: TaskRecord) -> bool:
    """Whether ``record`` is being submitted by a process that may still be at it."""
    if record.provider_state != SUBMITTING:
        return False
    who = record.provider_data.get("submitter")
    if not isinstance(who, Mapping):
        return False  # recorded by an older flowlib: nobody to wait for
    if who.get("host") != socket.gethostname():
        return (_now() - record.updated_at).total_seconds() < OTHER_HOST_SUBMIT_S
    pid = who.get("pid")
    if pid == os.getpid():
        return record.task_id in _IN_FLIGHT
    return isinstance(pid, int) and procs.alive(pid, who.get("start_ticks"))


def _now() -> datetime:
    return datetime.now(timezone.utc)


def user() -> str:
    """The name of the user running flowlib here."""
    import getpass

    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
