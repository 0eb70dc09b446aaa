"""A task's cost: the price kept on the task times its billed time; `flow cost` totals."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib._cost import price_of, task_cost
from flowlib.cli import main
from flowlib.cli._cost import parse_since
from flowlib.core.store import TaskRecord, TaskStore
from flowlib.errors import ValidationError
from flowlib.models import TaskConfig, TaskStatus

T0 = datetime(2026, 3, 1, 10, tzinfo=timezone.utc)


def record(task_id: str = "task-000000000001", **kw: object) -> TaskRecord:
    base: dict[str, object] = {
        "task_id": task_id,
        "name": "train",
        "provider": "fcp",
        "config": TaskConfig(command="echo", num_instances=2),
        "created_at": T0,
    }
    return TaskRecord(**{**base, **kw})  # type: ignore[arg-type]


def test_the_provider_reported_price_wins_over_the_planned_one() -> None:
    assert price_of({"plan": {"price_per_hour": 2.0}}) == 2.0
    assert price_of({"price_per_hour": 1.6, "plan": {"price_per_hour": 2.0}}) == 1.6
    assert price_of({"price_per_hour": "1.6"}) is None and price_of({}) is None


def test_cost_so_far_then_final_from_start_and_end() -> None:
    plan = {"price_per_hour": 3.0, "nodes": 2, "spot": True}
    running = record(status=TaskStatus.RUNNING, started_at=T0, provider_data={"plan": plan})
    cost = task_cost(running, now=T0 + timedelta(minutes=30))
    assert cost is not None and not cost.final and cost.source == "plan"
    assert (cost.hours, cost.amount, cost.spot) == (0.5, 3.0, True)
    assert str(cost) == "$3.00 so far"
    done = record(
        status=TaskStatus.COMPLETED,
        started_at=T0,
        completed_at=T0 + timedelta(hours=2),
        provider_data={"plan": plan},
    )
    cost = task_cost(done, now=T0 + timedelta(days=9))
    assert cost is not None and cost.final and cost.amount == 12.0 and str(cost) == "$12.00"


def test_billed_hours_from_the_provider_are_used_when_reported() -> None:
    reported = {"price_per_hour": 2.0, "billed_hours": 1.5}
    r = record(status=TaskStatus.COMPLETED, provider_data=reported)
    cost = task_cost(r)
    assert cost is not None and cost.source == "provider" and cost.amount == 2.0 * 2 * 1.5


def test_no_price_no_cost_and_a_task_never_started_costs_nothing() -> None:
    assert task_cost(record()) is None
    cost = task_cost(record(provider_data={"plan": {"price_per_hour": 1.0}}))
    assert cost is not None and cost.amount == 0


def test_since_takes_a_date_or_an_age() -> None:
    now = T0
    assert parse_since("7d", now) == T0 - timedelta(days=7)
    assert parse_since("2026-02-01", now) == datetime(2026, 2, 1, tzinfo=timezone.utc)
    with pytest.raises(ValidationError, match="neither a date nor an age"):
        parse_since("last week", now)


def test_flow_cost_totals_by_provider_and_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FLOW_HOME", str(home))
    end = T0 + timedelta(hours=1)
    ended: dict[str, object] = {
        "status": TaskStatus.COMPLETED,
        "started_at": T0,
        "completed_at": end,
    }
    planned = {"plan": {"price_per_hour": 2.0, "nodes": 1}}
    with TaskStore.at_home(home) as store:
        store.add(record("task-00000000000a", provider_data=planned, **ended))
        store.add(
            record(
                "task-00000000000b",
                name="eval",
                provider="hyperstack",
                provider_data={"price_per_hour": 1.0},
                **ended,
            )
        )
        store.add(record("task-00000000000c", provider="local", **ended))
    assert main(["cost"]) == 0
    out = capsys.readouterr().out
    assert "fcp" in out and "$2.00" in out and "hyperstack" in out
    assert "total: $4.00" in out and "1 task(s) without a price" in out
    assert main(["cost", "--by", "name", "--json"]) == 0
    data = __import__("json").loads(capsys.readouterr().out)
    assert {g["name"]: g["cost"] for g in data["groups"]} == {"train": 2.0, "eval": 2.0}
    assert main(["cost", "--since", "2030-01-01"]) == 0
    assert "no tasks since" in capsys.readouterr().out
    assert main(["status", "task-00000000000b"]) == 0
    assert "cost:" in capsys.readouterr().out
    with Flow(home=home) as flow:
        task = flow.get_task("task-00000000000a")
    assert task.cost is not None and task.total_cost == "$2.00"
