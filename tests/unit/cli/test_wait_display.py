"""What `flow run --wait` and `flow wait` show while they wait, piped (one line per change)."""

from __future__ import annotations

import io
from pathlib import Path

from flowlib.cli._waiting import WaitDisplay
from flowlib.errors import NetworkError
from flowlib.testing import FakeProvider, ManualClock, fake_flow


def test_a_wait_says_when_the_state_shown_is_only_the_last_known_one(tmp_path: Path) -> None:
    cloud = FakeProvider("cloud", clock=ManualClock(start=0.0))
    with fake_flow(cloud, home=tmp_path, keeper=False) as flow:
        task = flow.run("true")
        shown = io.StringIO()
        with WaitDisplay(task, shown) as display:
            cloud.status_error = NetworkError("cannot reach the API")
            task = flow.get_task(task.task_id)
            display.update(task, flow.lifecycle.unanswered.get(task.provider))
        first, last = shown.getvalue().splitlines()
        assert "could not be asked" not in first
        assert last.endswith(
            f"{task.task_id} running; last known: cloud could not be asked (cannot reach the API)"
        )
