"""The provider conformance suite: what every flowlib provider must do, as pytest tests.

A provider's test file is mostly a subclass that says how to reach it::

    import pytest
    from flowlib import Flow
    from flowlib.testing.conformance import ProviderConformance

    class TestMyProvider(ProviderConformance):
        @pytest.fixture
        def flow(self, tmp_path, monkeypatch) -> Flow:
            monkeypatch.chdir(make_project(tmp_path))
            return Flow(provider="mycloud", home=tmp_path / "home")

The fixture returns a :class:`flowlib.Flow` whose default provider is the one under test, with the
current directory set to a small project (the suite writes ``conformance_probe.py`` into it).
Class attributes tune the suite for slower backends (``wait_timeout``) and say what the provider
cannot do (``supports_time_limit``). Every test runs a real task end to end.

:class:`CapabilityConformance` (part of :class:`ProviderConformance`, and usable alone, as the
tests of :class:`flowlib.testing.FakeProvider` do) checks the optional capabilities a provider
claims: that its declared features match the Protocols it implements, and that each one it
implements (volumes, task files, arrays) works. A capability it does not implement is skipped.
Its :meth:`~CapabilityConformance.run_writing` hook says how a task writes a file; override it
for a provider whose tasks do not run shell commands.
"""

from __future__ import annotations

import json
import shlex
import sys
import uuid
from pathlib import Path
from typing import ClassVar

import pytest

from flowlib.errors import TaskNotFoundError, UnsupportedError, ValidationError
from flowlib.flow import Flow
from flowlib.models import Task, TaskStatus
from flowlib.providers.base import (
    FEATURE_CAPABILITIES,
    Arrays,
    Provider,
    ScriptPreview,
    TaskFiles,
    Volumes,
    close_provider,
    poll_interval,
)

__all__ = ["CapabilityConformance", "ProviderConformance"]

TRICKY_ENV = {
    "QUOTES": 'it\'s "quoted"',
    "SUBSHELL": "$(echo nope) `echo nope` ${HOME}",
    "NEWLINES": "one\ntwo\n",
    "UNICODE": "ünï ✓ 日本",
}


class CapabilityConformance:
    """The optional half of the contract: subclass and provide the ``flow`` fixture."""

    wait_timeout: ClassVar[float] = 60.0

    @pytest.fixture
    def flow(self) -> Flow:
        raise NotImplementedError("a conformance subclass provides the `flow` fixture")

    def run_writing(self, flow: Flow, name: str, content: str) -> Task:
        """Submit a task that writes ``content`` to ``name`` (a path relative to its working
        directory, in a directory that may not exist yet)."""
        quoted = shlex.quote(name)
        return flow.run(
            f"mkdir -p $(dirname {quoted}) && printf %s {shlex.quote(content)} > {quoted}"
        )

    def _provider(self, flow: Flow) -> Provider:
        return flow.provider()

    def test_declared_features_match_the_capabilities_implemented(self, flow: Flow) -> None:
        provider = self._provider(flow)
        for feature, kind in FEATURE_CAPABILITIES.items():
            declared = provider.capabilities.supports(feature)
            assert declared == isinstance(provider, kind), (
                f"{provider.name}: supports {feature} is {declared}, but it "
                f"{'does not implement' if declared else 'implements'} {kind.__name__}"
            )

    def test_poll_interval_is_a_positive_number_and_close_is_idempotent(self, flow: Flow) -> None:
        provider = self._provider(flow)
        assert poll_interval(provider) > 0
        close_provider(provider)
        close_provider(provider)

    def test_volumes_are_created_listed_and_deleted(self, flow: Flow) -> None:
        provider = self._provider(flow)
        if not isinstance(provider, Volumes):
            pytest.skip(f"{provider.name} has no volumes")
        name = f"conformance-{uuid.uuid4().hex[:8]}"
        volume = flow.create_volume(1, name)
        assert volume.name == name and volume.size_gb >= 1
        assert volume.volume_id in {v.volume_id for v in flow.list_volumes()}
        with pytest.raises(ValidationError, match="already exists"):
            flow.create_volume(1, name)
        flow.delete_volume(name)
        assert volume.volume_id not in {v.volume_id for v in flow.list_volumes()}

    def test_task_files_are_read_back_and_a_missing_one_is_none(self, flow: Flow) -> None:
        provider = self._provider(flow)
        if not isinstance(provider, TaskFiles):
            pytest.skip(f"{provider.name} cannot read its tasks' files")
        # Results of remote calls live in .flow-remote/: readable after the task ends, too.
        task = self.run_writing(flow, ".flow-remote/conformance-result.txt", "result: 42")
        done = flow.wait(task.task_id, timeout=self.wait_timeout)
        assert done.status == TaskStatus.COMPLETED, flow.logs(task.task_id)
        record = flow.store.get(task.task_id)
        where = f"{record.config.working_dir}/.flow-remote"
        assert provider.read_file(record, f"{where}/conformance-result.txt") == b"result: 42"
        assert provider.read_file(record, f"{where}/conformance-never-written.txt") is None

    def test_a_script_preview_creates_nothing(self, flow: Flow) -> None:
        provider = self._provider(flow)
        if not isinstance(provider, ScriptPreview):
            pytest.skip(f"{provider.name} renders no script preview")
        from flowlib.core.store import TaskRecord
        from flowlib.describe import check_and_prepare
        from flowlib.models import TaskConfig

        before = len(flow.store.list())
        config = check_and_prepare(provider, TaskConfig(command=["true"], upload_code=False))
        record = TaskRecord(task_id="task-preview", name="preview", provider=provider.name,
                            config=config)  # fmt: skip
        script = provider.preview_script(record, None)
        assert script.startswith("#!") and "task-preview" in script
        assert len(flow.store.list()) == before

    def test_an_array_runs_every_task_and_is_cancelled_as_one(self, flow: Flow) -> None:
        provider = self._provider(flow)
        if not isinstance(provider, Arrays):
            pytest.skip(f"{provider.name} takes arrays one task at a time")
        tasks = flow.run_array(["true", "true"], throttle=1)
        for task in tasks:
            done = flow.wait(task.task_id, timeout=self.wait_timeout)
            assert done.status == TaskStatus.COMPLETED, flow.logs(task.task_id)
        live = flow.run_array(["sleep 600", "sleep 600"])
        cancelled = flow.cancel_array(live[0].task_id)
        assert {t.status for t in cancelled} == {TaskStatus.CANCELLED}


class ProviderConformance(CapabilityConformance):
    """Subclass and provide the ``flow`` fixture; every test here must pass."""

    supports_time_limit: ClassVar[bool] = True

    # -- lifecycle -----------------------------------------------------------------------
    def test_a_task_runs_to_completion_and_its_output_comes_back(self, flow: Flow) -> None:
        task = flow.run("echo conformance-hello", wait=False)
        done = flow.wait(task.task_id, timeout=self.wait_timeout)
        assert done.status == TaskStatus.COMPLETED
        assert done.exit_code == 0
        assert "conformance-hello" in flow.logs(task.task_id).splitlines()

    def test_the_real_exit_code_is_reported(self, flow: Flow) -> None:
        task = flow.run("echo failing; exit 7")
        done = flow.wait(task.task_id, timeout=self.wait_timeout)
        assert done.status == TaskStatus.FAILED
        assert done.exit_code == 7

    def test_the_code_directory_is_the_working_directory(self, flow: Flow) -> None:
        Path("conformance_probe.py").write_text("print('probe ran from the upload')\n")
        task = flow.run([sys.executable, "conformance_probe.py"])
        done = flow.wait(task.task_id, timeout=self.wait_timeout)
        assert done.exit_code == 0, flow.logs(task.task_id)
        assert flow.logs(task.task_id) == "probe ran from the upload"

    def test_env_values_arrive_byte_for_byte(self, flow: Flow) -> None:
        keys = sorted(TRICKY_ENV)
        show = f"import os, json; print(json.dumps({{k: os.environ[k] for k in {keys!r}}}))"
        task = flow.run([sys.executable, "-c", show], env=TRICKY_ENV)
        flow.wait(task.task_id, timeout=self.wait_timeout)
        assert json.loads(flow.logs(task.task_id)) == TRICKY_ENV

    # -- logs ----------------------------------------------------------------------------
    def test_logs_tail_returns_the_last_lines(self, flow: Flow) -> None:
        task = flow.run("for i in 1 2 3 4 5; do echo line$i; done")
        flow.wait(task.task_id, timeout=self.wait_timeout)
        assert flow.logs(task.task_id, tail=2) == "line4\nline5"

    def test_following_logs_ends_when_the_task_does(self, flow: Flow) -> None:
        task = flow.run("echo first; sleep 0.2; echo second")
        assert list(flow.follow_logs(task.task_id)) == ["first", "second"]
        assert flow.get_task(task.task_id).status == TaskStatus.COMPLETED

    # -- control -------------------------------------------------------------------------
    def test_cancel_stops_a_running_task(self, flow: Flow) -> None:
        task = flow.run("sleep 600")
        cancelled = flow.cancel(task.task_id)
        assert cancelled.status == TaskStatus.CANCELLED
        assert flow.get_task(task.task_id).status == TaskStatus.CANCELLED

    def test_cancelling_a_finished_task_is_a_clear_error(self, flow: Flow) -> None:
        task = flow.run("true")
        flow.wait(task.task_id, timeout=self.wait_timeout)
        with pytest.raises(ValidationError, match="already ended"):
            flow.cancel(task.task_id)

    def test_time_limit_stops_the_workload(self, flow: Flow) -> None:
        if not self.supports_time_limit:
            pytest.skip("this provider does not enforce max_run_time_hours itself")
        task = flow.run("sleep 600", max_run_time_hours=0.0003)  # about one second
        done = flow.wait(task.task_id, timeout=self.wait_timeout)
        assert done.status == TaskStatus.FAILED
        assert done.exit_code == 124

    # -- inspection ----------------------------------------------------------------------
    def test_many_tasks_are_listed_with_their_states(self, flow: Flow) -> None:
        ok = flow.run("true")
        bad = flow.run("false")
        for task in (ok, bad):
            flow.wait(task.task_id, timeout=self.wait_timeout)
        states = {t.task_id: t.status for t in flow.list_tasks()}
        assert states[ok.task_id] == TaskStatus.COMPLETED
        assert states[bad.task_id] == TaskStatus.FAILED

    def test_an_unknown_task_is_not_found(self, flow: Flow) -> None:
        with pytest.raises(TaskNotFoundError):
            flow.get_task("task-000000000000")

    def test_capabilities_are_checked_before_anything_is_created(self, flow: Flow) -> None:
        provider = flow.provider()
        missing = provider.capabilities.unsupported
        if not missing:
            pytest.skip("this provider supports every feature")
        before = len(flow.list_tasks())
        fields = {
            "multi_node": {"num_instances": 2},
            "data_mounts": {"data_mounts": [{"source": "s3://b/d", "target": "/data"}]},
            "volumes": {"volumes": [{"size_gb": 1}]},
            "volume_mounts": {"data_mounts": [{"source": "volume://conformance", "target": "/v"}]},
            "container_image": {"image": "ubuntu:22.04"},
        }
        feature = next((f for f in fields if f in missing), None)
        if feature is None:
            pytest.skip("no unsupported feature that a TaskConfig field asks for")
        with pytest.raises(UnsupportedError, match=feature):
            flow.run("true", **fields[feature])  # type: ignore[arg-type]
        assert len(flow.list_tasks()) == before
