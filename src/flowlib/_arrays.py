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

from flowlib.describe import check_and_prepare, to_task_config
from flowlib.errors import ValidationError
from flowlib.telemetry import annotate, span

if TYPE_CHECKING:
    from flowlib.describe import TaskLike
    from flowlib.flow import Flow
    from flowlib.models import Task, TaskConfig

__all__ = ["cancel_array", "run_array"]


def run_array(
    flow: Flow,
    configs: Sequence[TaskLike],
    *,
    throttle: int | None,
    indices: Sequence[int] | None,
    provider: str | None,
) -> list[Task]:
    name = provider or flow.config.provider
    chosen = flow.provider(name)
    prepared = [check_and_prepare(chosen, to_task_config(c)) for c in configs]
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
    native = getattr(chosen, "submit_array", None)
    if native is None:
        return _run_throttled(flow, prepared, list(indices), throttle, name)
    store = flow.store
    records = [flow._record(config, name) for config in prepared]
    group = records[0].task_id
    for index, record in zip(indices, records, strict=True):
        record.provider_data["array"] = {"id": group, "index": index}
        if record.task_id == group:
            record.provider_data["array_tasks"] = [r.task_id for r in records]
        store.update(record.task_id, provider_data=record.provider_data)
    annotate(task_id=group, provider=name, tasks=len(records))
    try:
        with span("provider.submit_array", task_id=group, provider=name):
            data: Mapping[str, Mapping[str, Any]] = native(
                records, throttle=throttle, indices=list(indices)
            )
    except BaseException as exc:
        flow._submit_failed(records, exc)
        raise
    for record in records:
        store.update(
            record.task_id,
            provider_data={**record.provider_data, **data[record.task_id]},
            provider_state="submitted",
        )
    return [flow._to_task(store.get(r.task_id)) for r in records]


def _run_throttled(
    flow: Flow, configs: list[TaskConfig], indices: list[int], throttle: int | None, name: str
) -> list[Task]:
    """One task at a time (already prepared); only the unfinished ones are polled, and only
    while ``throttle`` of them are. The first task names the group; a :func:`cancel_array`
    from any process marks it cancelled, and no further task is submitted."""
    store = flow.store
    limit = throttle or len(configs)
    interval = getattr(flow.provider(name), "poll_interval_s", 1.0)
    submitted: list[Task] = []
    live: list[str] = []
    group: str | None = None
    for index, config in zip(indices, configs, strict=True):
        while len(live) >= limit and not _cancelled(flow, group):
            fresh = flow._refresh([store.get(task_id) for task_id in live])
            live = [r.task_id for r in fresh if not r.status.is_terminal]
            if len(live) >= limit:
                flow.clock.sleep(interval)
        if _cancelled(flow, group):
            break
        record = flow._record(config, name)
        record.provider_data["array"] = {"id": group or record.task_id, "index": index}
        if group is None:
            group = record.task_id
            record.provider_data["array_tasks"] = [group]
        else:  # only this process writes the member list
            head = store.get(group).provider_data
            members = [*head["array_tasks"], record.task_id]
            store.update(group, provider_data={**head, "array_tasks": members})
        store.update(record.task_id, provider_data=record.provider_data)
        task = flow._submit_record(record)
        if _cancelled(flow, group) and not task.status.is_terminal:
            task = flow.cancel(task.task_id)  # cancelled while it was being submitted
        submitted.append(task)
        live.append(task.task_id)
    return submitted


def _cancelled(flow: Flow, group: str | None) -> bool:
    return group is not None and flow.store.get(group).cancel_requested


def cancel_array(flow: Flow, ref: str) -> list[Task]:
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
    live = [r for r in flow._refresh(members) if not r.status.is_terminal]
    live = [store.update(r.task_id, cancel_requested=True) for r in live]
    chosen = flow.provider(record.provider)
    with span("provider.cancel_array", task_id=group, provider=record.provider):
        whole = getattr(chosen, "cancel_array", None)
        if whole is not None and live:
            whole(live)
        else:
            for r in live:
                chosen.cancel(r)
    flow._settle_cancelled(live)
    return [flow._to_task(store.get(r.task_id)) for r in members]
