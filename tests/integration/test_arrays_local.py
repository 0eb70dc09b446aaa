"""Arrays on a provider without native arrays (local): flowlib throttles them itself, one task per
index, and cancels them as a group from any process, the submitter then submitting no more."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from flowlib import Flow
from flowlib.models import TaskStatus


def test_a_throttled_array_runs_every_index_and_records_its_members(project: Path) -> None:
    with Flow(provider="local") as flow:
        tasks = flow.run_array([f"echo index {i}" for i in range(3)], throttle=2, indices=[5, 6, 7])
        for task in tasks:
            assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
        head = flow.store.get(tasks[0].task_id).provider_data
        assert head["array_tasks"] == [t.task_id for t in tasks]
        indices = [flow.store.get(t.task_id).provider_data["array"]["index"] for t in tasks]
        assert indices == [5, 6, 7]
        assert [flow.logs(t.task_id) for t in tasks] == ["index 0", "index 1", "index 2"]


def test_cancelling_a_throttled_array_stops_its_tasks_and_the_ones_not_yet_submitted(
    project: Path,
) -> None:
    submitted: list[str] = []

    def submit() -> None:
        with Flow(provider="local") as submitter:
            tasks = submitter.run_array(["sleep 60"] * 5, throttle=2)
            submitted.extend(t.task_id for t in tasks)

    thread = threading.Thread(target=submit)
    thread.start()
    with Flow(provider="local") as flow:
        deadline = time.monotonic() + 30
        while len(flow.list_tasks(status=TaskStatus.RUNNING)) < 2:
            assert time.monotonic() < deadline, "the first two tasks never ran"
            time.sleep(0.05)
        first = flow.list_tasks()[-1]
        ended = flow.cancel_array(first.task_id)
        assert [t.status for t in ended] == [TaskStatus.CANCELLED] * 2
        thread.join(timeout=30)
        assert not thread.is_alive()
        # The submitter saw the cancel and submitted nothing more: two tasks in all.
        assert len(submitted) == 2
        assert {t.status for t in flow.list_tasks()} == {TaskStatus.CANCELLED}
