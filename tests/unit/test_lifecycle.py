"""The lifecycle service's rules on a store, with a small scripted provider whose calls can be
interleaved exactly (the races the integration tests provoke with real emulators)."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from flowlib._lifecycle import Lifecycle
from flowlib.core.seams import SYSTEM_CLOCK
from flowlib.core.store import TaskRecord, TaskStore
from flowlib.errors import ProviderError
from flowlib.models import TaskConfig, TaskStatus
from flowlib.providers.base import Capabilities, TaskState


class Scripted:
    """A provider whose answers the test sets; it records what it was asked."""

    name = "scripted"

    def __init__(self) -> None:
        self.states: dict[str, TaskState] = {}
        self.during_submit: Callable[[TaskRecord], None] = lambda record: None
        self.submit_data: dict[str, Any] = {"machine": "m-1"}
        self.fail_status = False
        self.cancelled: list[str] = []

    capabilities = Capabilities()

    def offers(self, config: TaskConfig) -> list[Any]:
        return []

    def prepare(self, config: TaskConfig) -> TaskConfig:
        return config

    def submit(self, record: TaskRecord) -> dict[str, Any]:
        self.during_submit(record)
        return dict(self.submit_data)

    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        if self.fail_status:
            raise ProviderError("the API is down", provider=self.name)
        return {r.task_id: self.states[r.task_id] for r in records if r.task_id in self.states}

    def logs(
        self, record: TaskRecord, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        return iter(())

    def cancel(self, record: TaskRecord) -> None:
        self.cancelled.append(record.task_id)
        self.states[record.task_id] = TaskState(TaskStatus.CANCELLED, provider_state="gone")

    def instances(self, record: TaskRecord) -> list[Any]:
        return []


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TaskStore]:
    with TaskStore(tmp_path / "tasks.db") as s:
        yield s


@pytest.fixture
def provider() -> Scripted:
    return Scripted()


@pytest.fixture
def lifecycle(store: TaskStore, provider: Scripted) -> Lifecycle:
    return Lifecycle(store, lambda name: provider, clock=SYSTEM_CLOCK, settle_s=0)


CONFIG = TaskConfig(command=["true"], upload_code=False)


def test_a_status_racing_the_submit_keeps_both_their_keys(
    lifecycle: Lifecycle, provider: Scripted, store: TaskStore
) -> None:
    record, _ = lifecycle.record(CONFIG, "scripted")

    def status_meanwhile(submitting: TaskRecord) -> None:
        # Another process refreshes the task from a snapshot taken before the submit's answer.
        provider.states[submitting.task_id] = TaskState(
            TaskStatus.PENDING, provider_state="queued", provider_data={"queue": "q-7"}
        )
        lifecycle.refresh([store.get(submitting.task_id)])

    provider.during_submit = status_meanwhile
    lifecycle.submit(record)
    data = store.get(record.task_id).provider_data
    assert (data["machine"], data["queue"]) == ("m-1", "q-7")
    assert "created_by" in data and "submitter" in data


def test_an_end_is_never_undone_by_a_stale_refresh(
    lifecycle: Lifecycle, provider: Scripted, store: TaskStore
) -> None:
    record = lifecycle.submit(lifecycle.record(CONFIG, "scripted")[0])
    stale = store.get(record.task_id)
    provider.states[record.task_id] = TaskState(TaskStatus.COMPLETED, exit_code=0)
    lifecycle.refresh([stale])
    provider.states[record.task_id] = TaskState(TaskStatus.PENDING, provider_state="starting")
    (again,) = lifecycle.refresh([stale])  # a process that still thinks it pending
    assert (again.status, again.exit_code) == (TaskStatus.COMPLETED, 0)


def test_a_failing_status_leaves_the_tasks_as_stored(
    lifecycle: Lifecycle, provider: Scripted, store: TaskStore
) -> None:
    record = lifecycle.submit(lifecycle.record(CONFIG, "scripted")[0])
    provider.fail_status = True
    assert lifecycle.refresh([record]) == [record]


def test_a_cancel_during_the_submit_is_honoured_by_the_submitter(
    lifecycle: Lifecycle, provider: Scripted, store: TaskStore
) -> None:
    record, _ = lifecycle.record(CONFIG, "scripted")
    answers: list[TaskRecord] = []

    def cancel_meanwhile(submitting: TaskRecord) -> None:
        # The canceller sees a live submitter (this process, in flight) and leaves it to it;
        # bounded: it returns the task as it is when its short wait ends.
        answers.extend(
            Lifecycle(store, lambda n: provider, clock=_NoWait(), settle_s=0).cancel(
                [store.get(submitting.task_id)]
            )
        )

    provider.during_submit = cancel_meanwhile
    done = lifecycle.submit(record)
    assert answers[0].cancel_requested and not answers[0].status.is_terminal
    assert provider.cancelled == [record.task_id]  # released by the submitter, once
    assert done.status == TaskStatus.CANCELLED


def test_a_refused_submit_fails_the_task_and_releases_by_name(
    lifecycle: Lifecycle, provider: Scripted, store: TaskStore
) -> None:
    record, _ = lifecycle.record(CONFIG, "scripted")

    def refuse(_: TaskRecord) -> None:
        raise ProviderError("no capacity", provider="scripted")

    provider.during_submit = refuse
    with pytest.raises(ProviderError):
        lifecycle.submit(record)
    assert store.get(record.task_id).status == TaskStatus.FAILED
    assert provider.cancelled == [record.task_id]


def test_one_idempotency_key_records_one_task(lifecycle: Lifecycle, store: TaskStore) -> None:
    first, new = lifecycle.record(CONFIG, "scripted", idempotency_key="k")
    again, again_new = lifecycle.record(CONFIG, "scripted", idempotency_key="k")
    assert (new, again_new) == (True, False)
    assert again.task_id == first.task_id and store.count() == 1


class _NoWait:
    """A clock whose deadline has always passed: the canceller does not wait here."""

    def monotonic(self) -> float:
        self._t = getattr(self, "_t", 0.0) + 1000.0
        return self._t

    def sleep(self, seconds: float) -> None:
        pass
