"""A results location and self-release: the machine streams its log and metric lines to the
location while it runs, uploads its exit code and results at the end and releases itself; a
task nobody ever looks at again still ends with its true exit code, log and metrics, read from
the location (a real moto S3 server on loopback, or a file:// folder), on the local provider and
on the emulated clouds. The tasks are submitted by `flow run` in a process that exits at once."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from clouds import submit_and_leave, write_config
from s3server import S3
from sshd import eventually

from flowlib import Flow
from flowlib.models import TaskStatus
from flowlib.testing.emulators.fcp import FcpEmulator
from flowlib.testing.emulators.hyperstack import HyperstackEmulator

METRIC = '{"__flow__": {"loss": 0.25, "step": 1}}'
WORKLOAD = f"echo started; echo '{METRIC}'; mkdir -p .flow-remote; echo r > .flow-remote/r.txt; "


def test_local_task_streams_to_s3_and_lists_its_artifacts(
    isolated_home: Path, project: Path, s3: S3, tmp_path: Path
) -> None:
    results = f"s3://{s3.bucket}/runs"
    with Flow(results=results) as flow:
        task = flow.run(shell=WORKLOAD + "exit 4", upload_code=False, wait=True)
        assert (task.status, task.exit_code) == (TaskStatus.FAILED, 4)
        prefix = f"runs/{task.task_id}/"
        assert eventually(lambda: f"{prefix}exit_code" in s3.keys(prefix), 20)
        assert s3.get(f"{prefix}exit_code") == b"4 0\n"
        assert s3.get(f"{prefix}task.log").decode().startswith("started\n")
        assert s3.get(f"{prefix}metrics.jsonl").decode().strip() == METRIC
        assert s3.get(f"{prefix}files/r.txt") == b"r\n"
        names = {a.name: a for a in task.artifacts()}
        assert {"task.log", "metrics.jsonl", "exit_code", "files/r.txt"} <= set(names)
        assert names["files/r.txt"].size == 2
        assert names["exit_code"].where == f"{results}/{task.task_id}/exit_code"
        assert names["task.log"].where.endswith("/var/log/flow/task.log")  # local: on disk
        written = task.download(target=tmp_path / "out")
        assert (tmp_path / "out" / "files" / "r.txt").read_bytes() == b"r\n"
        assert len(written) == len(names)
    # the credentials never show in the startup script or its log
    for path in (isolated_home / ".flow").rglob("startup*"):
        text = path.read_text(errors="replace")
        assert "flow-test-secret-never-printed" not in text


def test_a_preempted_task_keeps_its_log_up_to_the_preemption(
    isolated_home: Path, project: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The machine vanishes mid-run (its processes killed, as a preemption does): the log
    streamed so far is at the location."""
    monkeypatch.setenv("FLOW_RESULTS_EVERY", "0.2")
    where = tmp_path / "loc"
    with Flow(results=f"file://{where}") as flow:
        task = flow.run(
            shell="for i in 1 2 3 4 5 6 7 8 9; do echo line $i; sleep 0.2; done; sleep 60",
            upload_code=False,
            env={"FLOW_RESULTS_EVERY": "0.2"},
        )
        log = where / task.task_id / "task.log"
        assert eventually(lambda: log.is_file() and b"line 9" in log.read_bytes(), 30)
        flow.cancel(task.task_id)
    assert log.read_text().splitlines()[:9] == [f"line {i}" for i in range(1, 10)]


def test_hyperstack_vm_deletes_itself_when_no_client_ever_comes_back(
    isolated_home: Path, hyperstack: HyperstackEmulator, project: Path, s3: S3
) -> None:
    """Keeper off, the submitter gone: nobody looks. The VM uploads its results and deletes
    itself through the API with the key it holds; a later look finds the true exit code, log
    and metrics at the results location."""
    section = hyperstack.provider_settings(poll_interval_s=0.1, exit_grace_s=30)
    write_config(project, "hyperstack", section, f"s3://{s3.bucket}/hs")
    creds = ["-e", "AWS_ACCESS_KEY_ID", "-e", "AWS_SECRET_ACCESS_KEY"]  # the VM's own: task env
    task_id = submit_and_leave([*creds, WORKLOAD + "exit 5"], project)
    assert hyperstack.wait_until(lambda: len(hyperstack.state.vms) == 1, timeout=10)
    started = time.monotonic()
    assert hyperstack.wait_until(lambda: not hyperstack.live_vms(), timeout=30)
    assert time.monotonic() - started < 20  # at once, not after the 30 s grace: results are out
    deletes = [c for c in hyperstack.calls if c.method == "DELETE"]
    assert len(deletes) == 1 and deletes[0].status == 200  # the VM's own call
    assert hyperstack.api_key not in json.dumps([c.headers for c in hyperstack.calls])
    with Flow() as flow:
        task = flow.get_task(task_id)  # the first look since the submit
        assert (task.status, task.exit_code) == (TaskStatus.FAILED, 5)
        assert flow.logs(task_id) == "started"
        assert [(r.step, r.values) for r in flow.metrics(task_id)] == [(1, {"loss": 0.25})]
        assert {"task.log", "metrics.jsonl", "files/r.txt"} <= {a.name for a in task.artifacts()}


def test_hyperstack_without_results_deletes_itself_after_the_grace(
    isolated_home: Path, hyperstack: HyperstackEmulator, project: Path, tmp_path: Path
) -> None:
    section = hyperstack.provider_settings(poll_interval_s=0.1, exit_grace_s=1)
    write_config(project, "hyperstack", section)
    task_id = submit_and_leave(["echo alone"], project)
    assert hyperstack.wait_until(lambda: len(hyperstack.state.vms) == 1, timeout=10)
    (vm,) = hyperstack.state.vms.values()
    assert hyperstack.wait_until(lambda: not hyperstack.live_vms(), timeout=30)
    with hyperstack.state.lock:
        history = hyperstack.state.billing_history(vm.id)
    assert history[-1][1] is False  # billing stopped
    with Flow() as flow:  # nobody read it in time: honest about it
        task = flow.get_task(task_id)
        assert task.status == TaskStatus.FAILED
        assert "deleted before" in (task.message or "")


def test_fcp_releases_at_once_with_a_results_location(
    isolated_home: Path, fcp: FcpEmulator, project: Path, tmp_path: Path
) -> None:
    where = tmp_path / "fcp-results"
    write_config(project, "fcp", fcp.provider_settings(poll_interval_s=0.1), f"file://{where}")
    task_id = submit_and_leave(["-i", "a100", WORKLOAD + "exit 0"], project)
    assert fcp.wait_until(lambda: fcp.bid_count() == 1, timeout=10)
    started = time.monotonic()
    assert fcp.wait_until(lambda: not fcp.live_bids(), timeout=60)
    assert time.monotonic() - started < 30  # not the 120 s exit grace
    with Flow() as flow:
        task = flow.get_task(task_id)
        assert (task.status, task.exit_code) == (TaskStatus.COMPLETED, 0)
        assert flow.logs(task_id) == "started"
        assert (where / task_id / "files" / "r.txt").read_bytes() == b"r\n"
        names = {a.name for a in task.artifacts()}
        assert {"task.log", "files/r.txt"} <= names
