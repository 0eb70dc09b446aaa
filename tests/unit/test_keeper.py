"""The keeper's pieces that need no process: the settings it is handed, its lock, and one
look at the live tasks."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pluggy

from flowlib import Flow, hookspecs
from flowlib.core.keeper_process import _revealed, read_state, try_lock
from flowlib.core.store import TaskRecord
from flowlib.errors import NetworkError
from flowlib.keeper import poll
from flowlib.models import FlowConfig, TaskStatus
from flowlib.providers import Registry
from flowlib.providers.base import ProviderSpec, TaskState
from flowlib.testing import FakeProvider, ManualClock, fake_flow


def test_the_settings_travel_whole_and_come_back_equal(tmp_path: Path) -> None:
    config = FlowConfig(
        provider="fcp",
        api_key="sk-secret",
        home=tmp_path,
        providers={"hyperstack": {"api_key": "hs-secret", "poll_interval_s": 1}},
    )
    sent = json.dumps(_revealed(config))
    assert "sk-secret" in sent and "hs-secret" in sent  # the keeper needs them (by pipe only)
    back = FlowConfig.model_validate(json.loads(sent))
    assert back.provider_settings("hyperstack")["api_key"].get_secret_value() == "hs-secret"
    assert back.api_key is not None and back.api_key.get_secret_value() == "sk-secret"
    assert back.home == tmp_path


def test_the_lock_is_held_by_one_and_state_says_whether_it_runs(tmp_path: Path) -> None:
    (tmp_path / "keeper.json").write_text(json.dumps({"pid": 1, "polls": 3}))
    with try_lock(tmp_path) as first:
        assert first is not None
        with try_lock(tmp_path) as second:
            assert second is None  # another holder: a keeper runs
        assert read_state(tmp_path) == {"pid": 1, "polls": 3, "running": True}
    assert read_state(tmp_path) == {"pid": 1, "polls": 3, "running": False}


class _Kept(FakeProvider):
    """A cloud-like fake: its tasks are the keeper's to watch."""

    needs_keeper = True


class _Broken(_Kept):
    """A provider plugin with a bug: every status look raises."""

    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        raise RuntimeError("a bug in a provider plugin")


def test_a_provider_that_raises_does_not_stop_the_keeper_watching_the_others(
    tmp_path: Path,
) -> None:
    clock = ManualClock(start=0.0)
    good, broken = _Kept("good", clock=clock), _Broken("broken", clock=clock)

    class Plugin:
        @hookspecs.hookimpl
        def flowlib_providers(self) -> list[ProviderSpec]:
            return [good.spec(), broken.spec()]

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(Plugin(), name="two-clouds")
    with Flow(home=tmp_path, registry=Registry(pm), clock=clock, keeper=False) as flow:
        first = flow.run("true", provider="broken")
        kept = flow.run("true", provider="good")
        last = flow.run("true", provider="broken")
        clock.advance(5)  # the good one's task has ended on its machine
        live, _ = poll(flow)
        assert flow.store.get(kept.task_id).status == TaskStatus.COMPLETED  # seen, released
        # The broken provider's tasks stay as stored, and live: the next look asks again.
        assert {flow.store.get(t.task_id).status for t in (first, last)} == {TaskStatus.PENDING}
        assert live == 3
        # And it is said, not only logged: `flow status` and `flow keeper` show this.
        bug = "RuntimeError in the broken provider (a bug)"
        assert flow.lifecycle.unanswered == {"broken": bug}


def test_a_cloud_that_cannot_be_asked_is_named_until_it_answers_again(tmp_path: Path) -> None:
    clock = ManualClock(start=0.0)
    cloud = _Kept("cloud", clock=clock)
    with fake_flow(cloud, home=tmp_path, keeper=False) as flow:
        task = flow.run("true")
        stored = flow.store.get(task.task_id).status
        cloud.status_error = NetworkError("cannot reach the API")
        clock.advance(5)  # it has ended on its machine, but nobody can ask
        assert flow.get_task(task.task_id).status == stored == TaskStatus.RUNNING
        assert flow.lifecycle.unanswered == {"cloud": "cannot reach the API"}
        cloud.status_error = None
        assert flow.get_task(task.task_id).status == TaskStatus.COMPLETED
        assert flow.lifecycle.unanswered == {}

