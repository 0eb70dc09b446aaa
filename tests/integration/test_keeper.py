"""Nobody watching: a detached cloud task that no flowlib process looks at still ends with its
true exit code and log, and its machine stops billing within seconds, because the keeper looks.
The task is submitted by `flow run` in a process that exits at once, as a user would."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from clouds import submit_and_leave, write_config

from flowlib import Flow
from flowlib.keeper import read_state
from flowlib.models import TaskStatus
from flowlib.testing.emulators.fcp import FcpEmulator
from flowlib.testing.emulators.hyperstack import HyperstackEmulator


@pytest.fixture
def keeper_on(monkeypatch: pytest.MonkeyPatch, isolated_home: Path) -> Iterator[Path]:
    monkeypatch.setenv("FLOW_KEEPER", "1")
    monkeypatch.setenv("FLOW_KEEPER_INTERVAL_S", "0.2")
    monkeypatch.setenv("FLOW_KEEPER_IDLE_S", "1")
    home = isolated_home / ".flow"
    yield home
    state = read_state(home)
    if state is not None and state["running"]:  # never leave one behind
        os.kill(int(state["pid"]), signal.SIGKILL)


def test_fcp_a_task_nobody_watches_is_kept_and_released(
    keeper_on: Path, fcp: FcpEmulator, project: Path
) -> None:
    section = fcp.provider_settings(poll_interval_s=0.1)
    write_config(project, "fcp", section)
    task_id = submit_and_leave(["-i", "a100", "echo unwatched; exit 3"], project)
    started = time.monotonic()
    assert fcp.wait_until(lambda: fcp.bid_count() == 1, timeout=10)
    assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=30)  # well before the 120 s
    released_after = time.monotonic() - started
    assert released_after < 20
    with Flow() as flow:
        ended = lambda: flow.store.get(task_id).status.is_terminal  # noqa: E731
        assert fcp.wait_until(ended, timeout=10)
        record = flow.store.get(task_id)  # the keeper recorded the end; no status call here
        assert (record.status, record.exit_code) == (TaskStatus.FAILED, 3)
        assert flow.logs(task_id) == "unwatched"
    state = read_state(keeper_on)
    assert state is not None and state["polls"] >= 1
    assert fcp.api_key not in (keeper_on / "keeper.log").read_text()  # settings came by pipe
    assert oct((keeper_on / "keeper.json").stat().st_mode & 0o777) == "0o600"
    deadline = time.monotonic() + 15
    while read_state(keeper_on)["running"] and time.monotonic() < deadline:  # type: ignore[index]
        time.sleep(0.1)
    assert not read_state(keeper_on)["running"]  # type: ignore[index]  # left once idle


def test_hyperstack_a_task_nobody_watches_has_its_vm_deleted(
    keeper_on: Path, hyperstack: HyperstackEmulator, project: Path
) -> None:
    write_config(project, "hyperstack", hyperstack.provider_settings(poll_interval_s=0.1))
    task_id = submit_and_leave(["echo unwatched"], project)
    assert hyperstack.wait_until(lambda: len(hyperstack.state.vms) == 1, timeout=10)
    assert hyperstack.wait_until(lambda: not hyperstack.live_vms(), timeout=30)
    with Flow() as flow:
        ended = lambda: flow.store.get(task_id).status.is_terminal  # noqa: E731
        assert hyperstack.wait_until(ended, timeout=10)  # the keeper writes it just after
        record = flow.store.get(task_id)
        assert (record.status, record.exit_code) == (TaskStatus.COMPLETED, 0)
        assert flow.logs(task_id) == "unwatched"


def test_no_keeper_starts_when_the_config_turns_it_off(
    monkeypatch: pytest.MonkeyPatch, fcp: FcpEmulator, project: Path, isolated_home: Path
) -> None:
    monkeypatch.setenv("FLOW_KEEPER", "0")
    section = fcp.provider_settings(poll_interval_s=0.1)
    write_config(project, "fcp", section)
    submit_and_leave(["-i", "a100", "echo hi"], project)
    assert read_state(isolated_home / ".flow") is None
    assert fcp.bid_count() == 1  # nobody looked: it waits for a reader
    with Flow() as flow:
        (task,) = flow.list_tasks()  # `flow status` is such a look
        flow.wait(task.task_id, timeout=20)
    assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=10)


def test_a_cloud_that_cannot_be_asked_is_said_by_status_and_by_the_keeper(
    keeper_on: Path, fcp: FcpEmulator, project: Path
) -> None:
    write_config(project, "fcp", fcp.provider_settings(poll_interval_s=0.1))
    task_id = submit_and_leave(["-i", "a100", "sleep 30"], project)
    fcp.faults.server_errors(status=401, method="GET", path="/v2/spot/bids*")  # the key is revoked

    def flow_cli(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "flowlib.cli", *args]
        return subprocess.run(command, cwd=project, capture_output=True, text=True, timeout=60)

    status = flow_cli("status")
    assert status.returncode == 0 and task_id in status.stdout  # the last known state, shown
    assert "note: fcp could not be asked (" in status.stderr
    assert "its tasks show their last known state" in status.stderr
    assert fcp.api_key not in status.stderr + status.stdout
    unanswered = lambda: (read_state(keeper_on) or {}).get("unanswered", {})  # noqa: E731
    assert fcp.wait_until(lambda: "fcp" in unanswered(), timeout=10)
    keeper = flow_cli("keeper")
    assert "its last look could not ask fcp (" in keeper.stdout, keeper.stdout
    fcp.faults.clear()  # the key works again: the next look answers, and says nothing more
    assert fcp.wait_until(lambda: unanswered() == {}, timeout=10)
    assert "could not be asked" not in flow_cli("status").stderr
    with Flow() as flow:
        flow.cancel(task_id)
    assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=20)
