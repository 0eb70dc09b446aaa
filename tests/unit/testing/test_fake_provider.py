"""flowlib.testing.FakeProvider: the conformance suite's optional half, and engine tests on it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.errors import UnsupportedError
from flowlib.models import Task, TaskStatus
from flowlib.providers.base import (
    Arrays,
    Feature,
    PersistentInstances,
    PortForwarding,
    Provider,
    ShellAccess,
    TaskFiles,
    Volumes,
)
from flowlib.testing import FakeArrayProvider, FakeProvider, Outcome, fake_flow
from flowlib.testing.conformance import CapabilityConformance


class TestFakeProviderCapabilities(CapabilityConformance):
    @pytest.fixture
    def flow(self, tmp_path: Path) -> Iterator[Flow]:
        with fake_flow(FakeProvider(), home=tmp_path) as flow:
            yield flow

    def run_writing(self, flow: Flow, name: str, content: str) -> Task:
        fake = flow.provider()
        assert isinstance(fake, FakeProvider)
        fake.script("write", Outcome(files={f"/workspace/{name}": content.encode()}))
        return flow.run("write", upload_code=False)


class TestFakeArrayProviderCapabilities(TestFakeProviderCapabilities):
    @pytest.fixture
    def flow(self, tmp_path: Path) -> Iterator[Flow]:
        with fake_flow(FakeArrayProvider(), home=tmp_path) as flow:
            yield flow


@pytest.fixture
def fake() -> FakeProvider:
    return FakeProvider()


@pytest.fixture
def flow(fake: FakeProvider, tmp_path: Path) -> Iterator[Flow]:
    with fake_flow(fake, home=tmp_path) as flow:
        yield flow


def test_the_fake_is_a_provider_with_volumes_and_task_files_only(fake: FakeProvider) -> None:
    assert isinstance(fake, Provider)
    assert isinstance(fake, Volumes) and isinstance(fake, TaskFiles)
    for kind in (Arrays, ShellAccess, PortForwarding, PersistentInstances):
        assert not isinstance(fake, kind)
    assert isinstance(FakeArrayProvider(), Arrays)


def test_a_task_follows_its_outcome_on_the_manual_clock(flow: Flow, fake: FakeProvider) -> None:
    fake.script("python train.py", Outcome(exit_code=3, output=["epoch 1", "boom"], run_s=60))
    task = flow.run("python train.py", upload_code=False)
    assert task.status == TaskStatus.RUNNING
    done = flow.wait(task.task_id)
    assert (done.status, done.exit_code) == (TaskStatus.FAILED, 3)
    assert 60 <= fake.clock.monotonic() < 61  # simulated seconds, polled every 0.5 at most
    assert flow.logs(task.task_id) == "epoch 1\nboom"
    assert flow.logs(task.task_id, tail=1) == "boom"


def test_a_pending_task_waits_for_the_clock(flow: Flow, fake: FakeProvider) -> None:
    fake.script("queued", Outcome(start_s=30, run_s=10))
    task = flow.run("queued", upload_code=False)
    assert flow.get_task(task.task_id).status == TaskStatus.PENDING
    fake.clock.advance(31)
    assert flow.get_task(task.task_id).status == TaskStatus.RUNNING
    fake.clock.advance(10)
    assert flow.get_task(task.task_id).status == TaskStatus.COMPLETED


def test_the_time_limit_fails_a_long_task_with_124(flow: Flow, fake: FakeProvider) -> None:
    fake.script("long", Outcome(run_s=7200))
    task = flow.run("long", upload_code=False, max_run_time_hours=0.01)  # 36 s
    done = flow.wait(task.task_id)
    assert (done.status, done.exit_code) == (TaskStatus.FAILED, 124)


def test_a_cancelled_task_stays_cancelled(flow: Flow, fake: FakeProvider) -> None:
    task = flow.run("sleep 600", upload_code=False)
    assert flow.cancel(task.task_id).status == TaskStatus.CANCELLED
    fake.clock.advance(3600)
    assert flow.get_task(task.task_id).status == TaskStatus.CANCELLED


# -- the engine, on the fake ---------------------------------------------------------------


def test_missing_features_are_refused_before_the_provider_is_asked_anything(
    tmp_path: Path,
) -> None:
    fake = FakeProvider(unsupported={Feature.GPU: "no GPUs", Feature.REGION: "one place"})
    with fake_flow(fake, home=tmp_path) as flow:
        with pytest.raises(UnsupportedError) as caught:
            flow.run("train", instance_type="h100", region="eu", upload_code=False)
        assert "no GPUs" in caught.value.message and "one place" in caught.value.message
        assert fake.calls == []  # no prepare, no submit
        assert flow.list_tasks() == []


def test_flow_close_closes_the_providers_it_built(tmp_path: Path) -> None:
    fake = FakeProvider()
    with fake_flow(fake, home=tmp_path) as flow:
        flow.run("true", upload_code=False)
        assert not fake.closed
    assert fake.closed


def test_ssh_on_a_provider_without_it_gives_its_reason(flow: Flow) -> None:
    task = flow.run("true", upload_code=False)
    with pytest.raises(UnsupportedError, match="has no machines to log in to"):
        flow.ssh(task.task_id)
    with pytest.raises(UnsupportedError, match="has no persistent instances"):
        flow.persistent_instances()


def test_an_array_goes_in_one_call_where_the_provider_can(tmp_path: Path) -> None:
    arrays = FakeArrayProvider()
    with fake_flow(arrays, home=tmp_path) as flow:
        tasks = flow.run_array(["true", "false"], throttle=2)
        assert arrays.arrays == [{"tasks": [t.task_id for t in tasks], "throttle": 2}]
        assert arrays.calls.count("submit_array") == 1
    plain = FakeProvider()
    with fake_flow(plain, home=tmp_path / "plain") as flow:
        tasks = flow.run_array(["true", "true", "true"], throttle=1)  # one at a time
        assert len(tasks) == 3 and plain.calls.count("submit") == 3
        assert plain.clock.monotonic() >= 2  # each waited for the one before to end


def test_volumes_through_the_engine(flow: Flow, fake: FakeProvider) -> None:
    created = flow.create_volume(5, "weights")
    assert [v.name for v in flow.list_volumes()] == ["weights"]
    assert flow.delete_volume("weights").volume_id == created.volume_id
    assert fake.volumes == {}
