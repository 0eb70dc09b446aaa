"""What a task costs: the price it was started at, kept on the task, times its billed time.

The price comes from the task's own record, never from a catalog looked up later (instance
types retire, spot prices move): the price the provider reported at submit
(``provider_data["price_per_hour"]``), else the planned offer's (``provider_data["plan"]``).
The billed time is the provider's where it reports one (``provider_data["billed_hours"]``), else
the time from the task's start to its end (or to now, while it runs).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from flowlib.models import TaskCost, utcnow

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord

__all__ = ["price_of", "task_cost"]


def price_of(data: Mapping[str, object]) -> float | None:
    """The hourly price of one instance recorded for a task, in dollars (None: none known)."""
    reported = data.get("price_per_hour")
    if isinstance(reported, (int, float)) and _number(reported):
        return float(reported)
    plan = data.get("plan")
    planned = plan.get("price_per_hour") if isinstance(plan, Mapping) else None
    if isinstance(planned, (int, float)) and _number(planned):
        return float(planned)
    return None


def task_cost(record: TaskRecord, now: datetime | None = None) -> TaskCost | None:
    """The task's cost so far (final once it ended); None when no price was recorded."""
    data = record.provider_data
    price = price_of(data)
    if price is None:
        return None
    found = data.get("plan")
    plan: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    nodes = int(plan.get("nodes") or record.config.num_instances)
    billed = data.get("billed_hours")
    source: Literal["provider", "plan"] = "plan"
    if isinstance(billed, (int, float)) and _number(billed):
        hours, source = float(billed), "provider"
    else:
        hours = _ran_hours(record, now)
    spot = plan.get("spot")
    return TaskCost(
        price_per_hour=price,
        nodes=nodes,
        hours=hours,
        amount=price * nodes * hours,
        source=source,
        spot=spot if isinstance(spot, bool) else None,
        final=record.status.is_terminal,
    )


def _ran_hours(record: TaskRecord, now: datetime | None) -> float:
    start = record.started_at
    if start is None:
        return 0.0
    end = record.completed_at or (None if record.status.is_terminal else (now or utcnow()))
    if end is None:
        return 0.0
    return max(0.0, (end - start).total_seconds() / 3600)


def _number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0
