"""Task arrays (a SLURM ``--array``, a sweep): tasks of one shape submitted together, at most
``throttle`` running at once, cancelled as a group. Reached through :meth:`Flow.run_array` and
:meth:`Flow.cancel_array`.

A provider with ``submit_array(records, throttle=, indices=)`` gets the whole array in one call
(SLURM: one real array job, whose throttle SLURM enforces) and may stop it in one call with
``cancel_array(records)``. Any other provider gets one task at a time, the next only once fewer
than ``throttle`` are unfinished.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from flowlib._lifecycle import submitting
from flowlib._planning import has_offers, make_plan, pinned
from flowlib.describe import check_and_prepare, to_task_config
from flowlib.errors import ValidationError
from flowlib.providers.base import Arrays, poll_interval
from flowlib.results import prepare_results
from flowlib.telemetry import annotate, span

if TYPE_CHECKING:
    from flowlib._engine import Engine
    from flowlib.core.store import TaskRecord
    from flowlib.describe import TaskLike
    from flowlib.models import Task, TaskConfig

__all__ = ["cancel_array", "run_array"]


def run_array(
    flow: Engine,
    configs: Sequence[TaskLike],
    *,
    throttle: int | None,
    indices: Sequence[int] | None,
    provider: str | None,
    idempotency_key: str | None = None,
) -> list[Task]:
    name = provider or flow.config.provider
    shaped = [to_task_config(c) for c in configs]
    if shaped and has_offers(flow, name):  # one plan for the array: its tasks share a shape
        plan = make_plan(flow, shaped[0], name)
        if plan.offer is not None:
            name = plan.offer.provider
            shaped = [pinned(plan, c, plan.offer) for c in shaped]
    chosen = flow.provider(name)
    specs = flow.registry.specs()
    prepared = [
        check_and_prepare(chosen, prepare_results(c, flow.config.results), specs) for c in shaped
    ]
    if indices is None:
        indices = list(range(len(prepared)))
    if len(indices) != len(prepared) or len(set(indices)) != len(indices):
        raise ValidationError(
            f"an array of {len(prepared)} tasks needs as many distinct indices, "
            f"got {list(indices)}",
            suggestions=["leave indices out to number the tasks 0, 1, 2, ..."],
        )
    if not prepared:
        return []
    if idempotency_key is not None:
        head = flow.store.find("idempotency_key", f"{idempotency_key}:{indices[0]}")
        if head is not None:  # submitted already: that array, as it is now
            group = head.provider_data.get("array", {}).get("id", head.task_id)
            members = flow.store.get(group).provider_data.get("array_tasks", [head.task_id])
            fresh = flow.lifecycle.refresh([flow.store.get(t) for t in members])
            return [flow.task_of(r) for r in fresh]
    keys = {i: f"{idempotency_key}:{i}" for i in indices} if idempotency_key else {}
    if not isinstance(chosen, Arrays):
        return _run_throttled(flow, prepared, list(indices), throttle, name, keys)
    store, lifecycle = flow.store, flow.lifecycle
    records = [
        lifecycle.record(config, name, idempotency_key=keys.get(i))[0]
        for i, config in zip(indices, prepared, strict=True)
    ]
    group = records[0].task_id
    for index, record in zip(indices, records, strict=True):
        extra: dict[str, Any] = {"array": {"id": group, "index": index}}
        if record.task_id == group:
            extra["array_tasks"] = [r.task_id for r in records]
        record.provider_data.update(extra)
        store.update(record.task_id, data=extra)
    annotate(task_id=group, provider=name, tasks=len(records))
    with submitting(records):
        try:
            with span("provider.submit_array", task_id=group, provider=name):
                data: Mapping[str, Mapping[str, Any]] = chosen.submit_array(
                    records, throttle=throttle, indices=list(indices)
                )
        except BaseException as exc:
            lifecycle.failed(records, exc)
            raise
        done = [lifecycle.submitted(r, data[r.task_id]) for r in records]
    return [flow.task_of(r) for r in done]


def _run_throttled(
    flow: Engine,
    configs: list[TaskConfig],
    indices: list[int],
    throttle: int | None,
    name: str,
    keys: Mapping[int, str],
) -> list[Task]:
    """One task at a time (already prepared); only the unfinished ones are polled, and only
    while ``throttle`` of them are. The first task names the group; a :func:`cancel_array`
    from any process marks it cancelled, and no further task is submitted."""
    store, lifecycle = flow.store, flow.lifecycle
    limit = throttle or len(configs)
    interval = poll_interval(flow.provider(name))
    submitted: list[Task] = []
    live: list[str] = []
    group: str | None = None
    for index, config in zip(indices, configs, strict=True):
        while len(live) >= limit and not _cancelled(flow, group):
            fresh = lifecycle.refresh([store.get(task_id) for task_id in live])
            live = [r.task_id for r in fresh if not r.status.is_terminal]
            if len(live) >= limit:
                flow.clock.sleep(interval)
        if _cancelled(flow, group):
            break
        record, _ = lifecycle.record(config, name, idempotency_key=keys.get(index))
        extra: dict[str, Any] = {"array": {"id": group or record.task_id, "index": index}}
        if group is None:
            group = record.task_id
            extra["array_tasks"] = [group]
        else:  # only this process writes the member list

            def add_member(head: TaskRecord, task_id: str = record.task_id) -> dict[str, Any]:
                return {"data": {"array_tasks": [*head.provider_data["array_tasks"], task_id]}}

            store.modify(group, add_member)
        record.provider_data.update(extra)
        store.update(record.task_id, data=extra)
        done = lifecycle.submit(record)
        if _cancelled(flow, group) and not done.status.is_terminal:
            done = lifecycle.cancel([done])[0]  # cancelled while it was being submitted
        submitted.append(flow.task_of(done))
        live.append(done.task_id)
    return submitted


def _cancelled(flow: Engine, group: str | None) -> bool:
    return group is not None and flow.store.get(group).cancel_requested


def cancel_array(flow: Engine, ref: str) -> list[Task]:
    store = flow.store
    record = store.resolve(ref)
    group = record.provider_data.get("array", {}).get("id")
    if group is None:
        raise ValidationError(
            f"task {record.task_id} ({record.name}) is not part of an array",
            suggestions=[f"cancel it alone: flow cancel {record.task_id}"],
            task_id=record.task_id,
        )
    store.update(group, cancel_requested=True)  # a throttled submitter stops submitting
    members = [store.get(t) for t in store.get(group).provider_data["array_tasks"]]
    live = [r for r in flow.lifecycle.refresh(members) if not r.status.is_terminal]
    chosen = flow.provider(record.provider)
    with span("provider.cancel_array", task_id=group, provider=record.provider):
        whole = chosen.cancel_array if isinstance(chosen, Arrays) else None
        flow.lifecycle.cancel(live, whole=whole)
    return [flow.task_of(store.get(r.task_id)) for r in members]
