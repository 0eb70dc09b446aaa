"""The dashboard's views, built from the same calls as the CLI (no server, no browser)."""

from __future__ import annotations

from pathlib import Path

from flowlib.errors import AuthenticationError
from flowlib.testing import FakeProvider, ManualClock, fake_flow
from flowlib.ui._views import tasks_view


def test_the_tasks_page_says_which_provider_could_not_be_asked(tmp_path: Path) -> None:
    cloud = FakeProvider("cloud", clock=ManualClock(start=0.0))
    with fake_flow(cloud, home=tmp_path, keeper=False) as flow:
        task = flow.run("true")
        assert tasks_view(flow)["unanswered"] == {}
        cloud.status_error = AuthenticationError("cloud rejected the API key (401)")
        page = tasks_view(flow)
        assert page["unanswered"] == {"cloud": "cloud rejected the API key (401)"}
        assert [row["task_id"] for row in page["tasks"]] == [task.task_id]  # still listed
