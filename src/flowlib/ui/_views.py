"""What each dashboard page shows, as JSON-ready data: no web framework here.

Every view is built from the same calls the CLI makes (``Flow.list_tasks``, ``Flow.get_task``,
``Flow.metrics``, ``Flow.checkpoints``, the catalog, persistent instances), so the dashboard asks a
provider nothing that ``flow status`` would not. Nothing here hands out a secret: a task's config
goes through :func:`flowlib.cli._output.config_view` (env values masked) and ``provider_data`` is
never shown raw (it may hold a provider's release key), only the few keys named below.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING

from flowlib.cli._output import config_view, duration
from flowlib.errors import ValidationError
from flowlib.models import TaskStatus

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord
    from flowlib.flow import Flow
    from flowlib.metrics import Checkpoint
    from flowlib.models import Task
    from flowlib.ui._shapes import (
        ArtifactRow,
        CatalogView,
        CompareView,
        ConfigDifference,
        InstanceRow,
        InstancesView,
        Money,
        TaskBrief,
        TaskDetails,
        TaskPage,
        TaskRow,
        TasksPage,
    )

__all__ = [
    "MAX_COMPARE",
    "PER_PAGE",
    "catalog_view",
    "compare_view",
    "instances_view",
    "json_ready",
    "money",
    "task_brief_view",
    "task_page_view",
    "task_row",
    "tasks_view",
]

PER_PAGE = 50
MAX_COMPARE = 10
LOG_TAIL = 500  # lines the task page starts with; the live stream follows from there


def json_ready(data: object) -> object:
    """``data`` with every NaN and infinity as None: JSON has no such numbers (a diverged loss
    logs ``nan``), and the browser's JSON.parse refuses them."""
    if isinstance(data, float):
        return data if math.isfinite(data) else None
    if isinstance(data, dict):
        return {k: json_ready(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [json_ready(v) for v in data]
    return data


def money(task: Task, record: TaskRecord | None = None) -> Money:
    """The price and cost of a task as far as its record knows them (``—`` where it does not):
    the one place the dashboard reads them, so that the planner's price and the metered cost can
    be shown by changing this function only."""
    data: Mapping[str, object] = record.provider_data if record is not None else {}
    kept = task.cost  # the price kept on the task times its billed time (flowlib._cost)
    if kept is not None:
        return {"price_per_hour": f"${kept.price_per_hour:,.2f}", "cost": f"${kept.amount:,.2f}"}
    price = task.cost_per_hour or _dollars(data.get("price")) or "—"
    return {"price_per_hour": price, "cost": "—"}


def _dollars(value: object) -> str | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return f"${value:,.2f}"
    return str(value) if isinstance(value, str) and value else None


def _iso(when: datetime | None) -> str | None:
    return None if when is None else when.astimezone(timezone.utc).isoformat()


def task_row(task: Task, record: TaskRecord | None = None) -> TaskRow:
    """One line of the tasks table."""
    now = datetime.now(timezone.utc)
    ran = None
    if task.started_at is not None:
        ran = duration(((task.completed_at or now) - task.started_at).total_seconds())
    return {
        "task_id": task.task_id,
        "name": task.name,
        "status": task.status.value,
        "provider": task.provider,
        "instance_type": task.instance_type or "—",
        "created_at": _iso(task.created_at),
        "age": duration((now - task.created_at).total_seconds()),
        "duration": ran or "—",
        "exit_code": task.exit_code,
        "message": task.message,
        **money(task, record),
    }


def _statuses(text: str | None) -> list[TaskStatus] | None:
    from flowlib.cli._tasks import parse_statuses

    return parse_statuses([text]) if text else None


def tasks_view(
    flow: Flow,
    *,
    status: str | None = None,
    provider: str | None = None,
    name: str | None = None,
    page: int = 1,
    per_page: int = PER_PAGE,
) -> TasksPage:
    """One page of tasks, newest first, with the filters; only the page's unfinished tasks are
    refreshed (as ``flow status --limit N`` does), so a store of 100,000 tasks costs one page."""
    page = max(1, page)
    statuses = _statuses(status)
    provider = provider or None
    name = name or None
    offset = (page - 1) * per_page
    if name is None:
        tasks = flow.list_tasks(statuses, limit=per_page, offset=offset, provider=provider)
    else:  # Flow.list_tasks has no name filter: the store's, then the same refresh
        records = flow.store.list(
            status=statuses, provider=provider, name=name, limit=per_page, offset=offset
        )
        tasks = [flow.task_of(r) for r in flow.lifecycle.refresh(records)]
    unanswered = dict(flow.lifecycle.unanswered)
    total = flow.store.count(status=statuses, provider=provider, name=name)
    from flowlib.providers import get_registry

    return {
        "tasks": [task_row(t) for t in tasks],
        "page": page,
        "per_page": per_page,
        "total": total,
        "pages": max(1, math.ceil(total / per_page)),
        "filters": {"status": status or "", "provider": provider or "", "name": name or ""},
        "statuses": [s.value for s in TaskStatus],
        "providers": get_registry().names(),
        "unanswered": unanswered,
    }


def _task_details(task: Task, record: TaskRecord) -> TaskDetails:
    return {
        **task_row(task, record),
        "provider_state": task.provider_state,
        "started_at": _iso(task.started_at),
        "completed_at": _iso(task.completed_at),
        "region": task.region,
        "num_instances": task.num_instances,
        "terminal": task.is_terminal,
        "workload": task.config.workload if task.config is not None else None,
        "resumed_from": (task.config.env.get("FLOW_RESUMED_TASK") if task.config else None),
    }


def task_brief_view(flow: Flow, ref: str) -> TaskBrief:
    """The task alone (its status, times and price), for the task page's poll."""
    task = flow.get_task(ref)
    return {"task": _task_details(task, flow.store.get(task.task_id))}


def task_page_view(flow: Flow, ref: str) -> TaskPage:
    """Everything the task page starts with: the task, its config (env masked), the tail of
    its log, its metric rows, checkpoints, artifacts and plan where the record has them."""
    from flowlib.errors import FlowError
    from flowlib.metrics import collect

    task = flow.get_task(ref)
    record = flow.store.get(task.task_id)
    try:
        lines = flow.logs(task.task_id, tail=None, include_metrics=True).splitlines()
        log_error = None
    except FlowError as exc:
        lines, log_error = [], exc.message
    found = collect(lines)
    from flowlib.metrics import is_flow_line

    human = [line for line in lines if not is_flow_line(line)][-LOG_TAIL:]
    checkpoints = list(dict.fromkeys([*_stored_checkpoints(record), *found.checkpoints]))
    data = record.provider_data
    return {
        "task": _task_details(task, record),
        "config": config_view(task.config) if task.config is not None else None,
        "log": human,
        "log_lines": len(lines),
        "log_error": log_error,
        "metrics": [r.to_dict() for r in found.rows],
        "checkpoints": [c.to_dict() for c in checkpoints],
        "artifacts": _artifacts(flow, record),
        "plan": _plan(data.get("plan")),
        "can_resume": task.is_terminal and bool(checkpoints),
    }


def _stored_checkpoints(record: TaskRecord) -> list[Checkpoint]:
    from flowlib.metrics import Checkpoint

    stored = record.provider_data.get("checkpoints", [])
    return [Checkpoint.from_dict(c) for c in stored if isinstance(c, dict) and "path" in c]


def _artifacts(flow: Flow, record: TaskRecord) -> list[ArtifactRow]:
    """What the task left (``flow artifacts TASK``: kind, name, size, where); none when they
    cannot be listed now (the page says nothing rather than fail)."""
    from flowlib.errors import FlowError
    from flowlib.results import artifacts

    try:
        found = artifacts(flow, record)
    except (FlowError, OSError):
        return []
    return [{"name": a.name, "kind": a.kind, "size": a.size, "where": a.where} for a in found]


def _plan(value: object) -> list[list[str]] | None:
    """The plan a task's record carries, as key/value pairs (only plain values)."""
    if not isinstance(value, dict):
        return None
    plain = (str, int, float, bool)
    return [[str(k), str(v)] for k, v in value.items() if isinstance(v, plain)]


def compare_view(flow: Flow, refs: Sequence[str]) -> CompareView:
    """2-10 runs side by side: each metric's curve per run, last/min/max per run, and the
    config fields on which the runs differ (env by key only)."""
    from flowlib.metrics import Metrics, compare

    wanted = list(dict.fromkeys(r for r in refs if r))
    if not 2 <= len(wanted) <= MAX_COMPARE:
        raise ValidationError(
            f"compare takes 2 to {MAX_COMPARE} tasks, got {len(wanted)}",
            suggestions=["tick 2 to 10 tasks on the tasks page, then Compare"],
        )
    runs: dict[str, Metrics] = {}
    tasks: list[TaskRow] = []
    configs: dict[str, dict[str, str]] = {}
    for ref in wanted:
        task = flow.get_task(ref)
        if task.task_id in runs:
            continue
        runs[task.task_id] = Metrics(rows=flow.metrics(task.task_id))
        tasks.append(task_row(task))
        configs[task.task_id] = _flat(config_view(task.config)) if task.config else {}
    table = compare(runs)
    return {
        "tasks": tasks,
        "metrics": [
            {
                "name": name,
                "series": {run: m.series(name) for run, m in runs.items()},
                "summary": {run: s.to_dict() for run, s in per_run.items()},
            }
            for name, per_run in table.items()
        ],
        "config_differences": _differences(configs),
    }


def _flat(data: object, prefix: str = "") -> dict[str, str]:
    if isinstance(data, dict):
        out: dict[str, str] = {}
        for key, value in data.items():
            out.update(_flat(value, f"{prefix}{key}."))
        return out
    return {prefix.rstrip("."): "—" if data is None else str(data)}


def _differences(configs: dict[str, dict[str, str]]) -> list[ConfigDifference]:
    keys = sorted({k for c in configs.values() for k in c})
    out: list[ConfigDifference] = []
    for key in keys:
        values = {run: c.get(key, "(not set)") for run, c in configs.items()}
        if len(set(values.values())) > 1:
            out.append({"field": key, "values": values})
    return out


def instances_view(flow: Flow) -> InstancesView:
    """Persistent instances of every provider that has them (``flow instance list``)."""
    from flowlib.cli._instance import describe_state
    from flowlib.errors import FlowError

    found: list[InstanceRow] = []
    problems: list[str] = []
    for provider in _providers_with_instances(flow):
        try:
            views = flow.persistent_instances(provider).list_all()
        except FlowError as exc:
            problems.append(f"{provider}: {exc.message}")
            continue
        for view in views:
            queued = [*view.get("queue", []), *view.get("undelivered", [])]
            found.append(
                {
                    "provider": provider,
                    "name": str(view.get("name")),
                    "state": str(view.get("state")),
                    "described": describe_state(view),
                    "flavor": view.get("flavor") or "—",
                    "region": view.get("region") or "—",
                    "running": view.get("running"),
                    "queue": queued,
                    "sleeps_in_s": view.get("cooldown_left_s"),
                    "policy": view.get("policy"),
                }
            )
    return {"instances": found, "problems": problems}


def _providers_with_instances(flow: Flow) -> list[str]:
    """Providers that this store's tasks used with a persistent instance (asking only those:
    listing instances is a provider API call)."""
    rows = flow.store.list(limit=2000)
    return sorted({r.provider for r in rows if r.config.instance_name})


def catalog_view(
    *,
    min_gpu_memory_gb: float | None = None,
    max_price_per_hour: float | None = None,
    gpu: str | None = None,
    provider: str | None = None,
) -> CatalogView:
    """Offers of the catalog, cheapest first, filtered as ``flow catalog`` filters them."""
    from flowlib.catalog import get_catalog
    from flowlib.cli._catalog import offer_view

    memory = None if min_gpu_memory_gb is None else math.ceil(min_gpu_memory_gb)
    offers = get_catalog().find_instances(
        min_gpu_memory_gb=memory,
        max_price_per_hour=max_price_per_hour,
        gpu=gpu or None,
        provider=provider or None,
    )
    return {
        "offers": [offer_view(o) for o in offers],
        "filters": {  # "" for a filter not set
            "min_gpu_memory_gb": "" if memory is None else memory,
            "max_price_per_hour": "" if max_price_per_hour is None else max_price_per_hour,
            "gpu": gpu or "",
            "provider": provider or "",
        },
    }
