"""Tables, times, and the exit status a finished task stands for."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from flowlib.cli._output import ago, duration, exit_status, table, task_view
from flowlib.models import Task, TaskConfig, TaskStatus

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)


def test_table_aligns_columns() -> None:
    text = table(["A", "LONG"], [["xyz", "1"], ["q", "22"]], right=[1])
    assert text.splitlines() == ["A    LONG", "xyz     1", "q      22"]


@pytest.mark.parametrize(
    ("seconds", "text"), [(3, "3s ago"), (125, "2m ago"), (7200, "2h ago"), (3 * 86400, "3d ago")]
)
def test_ago(seconds: int, text: str) -> None:
    assert ago(NOW - timedelta(seconds=seconds), NOW) == text


def test_ago_beyond_a_week_is_a_date() -> None:
    assert ago(NOW - timedelta(days=30), NOW) == "2024-04-01"
    assert ago(None) == "-"
    assert duration(59.9) == "59s"


@pytest.mark.parametrize(
    ("status", "code", "expected"),
    [
        (TaskStatus.COMPLETED, 0, 0),
        (TaskStatus.FAILED, 3, 3),
        (TaskStatus.FAILED, None, 1),
        (TaskStatus.CANCELLED, None, 130),
        (TaskStatus.CANCELLED, 143, 143),
        (TaskStatus.FAILED, -9, 137),
        (TaskStatus.FAILED, 300, 1),
    ],
)
def test_exit_status(status: TaskStatus, code: int | None, expected: int) -> None:
    assert exit_status(Task(task_id="t", name="t", status=status, exit_code=code)) == expected


def test_views_mask_env_values() -> None:
    config = TaskConfig(command="true", env={"WANDB_API_KEY": "s3cret"})
    view = task_view(Task(task_id="t", name="t", config=config))
    assert view["config"]["env"] == {"WANDB_API_KEY": "***"}
    assert "s3cret" not in str(view)
