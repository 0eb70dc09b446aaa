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
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import ClassVar

import pytest

from flowlib.errors import TaskNotFoundError, UnsupportedError, ValidationError
from flowlib.flow import Flow
from flowlib.models import TaskStatus

__all__ = ["ProviderConformance"]

TRICKY_ENV = {
    "QUOTES": 'it\'s "quoted"',
    "SUBSHELL": "$(echo nope) `echo nope` ${HOME}",
    "NEWLINES": "one\ntwo\n",
    "UNICODE": "ünï ✓ 日本",
}


class ProviderConformance:
    """Subclass and provide the ``flow`` fixture; every test here must pass."""

    wait_timeout: ClassVar[float] = 60.0
    supports_time_limit: ClassVar[bool] = True

    @pytest.fixture
    def flow(self) -> Flow:
        raise NotImplementedError("a conformance subclass provides the `flow` fixture")

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
