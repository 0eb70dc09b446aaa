"""A task's life on fcp, driven through Flow against the in-process emulator. The workload is
played by writing what the startup script leaves on the instance's disk (``finish``)."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.core.hosts import HostAddress, RemoteHost, SandboxHost
from flowlib.core.ssh import OpenSSHHost
from flowlib.core.store import TaskRecord
from flowlib.errors import ProviderError
from flowlib.models import TaskConfig, TaskStatus
from flowlib.providers.fcp._provider import FcpProvider, bid_name
from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock


def finish(disks: Path, instance_fid: str, code: int, output: str = "") -> None:
    root = disks / instance_fid
    (root / "var/run/flow").mkdir(parents=True, exist_ok=True)
    (root / "var/log/flow").mkdir(parents=True, exist_ok=True)
    (root / "var/log/flow/task.log").write_text(output)
    (root / "var/run/flow/exit_code").write_text(f"{code}\n")


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens


def only_instance(emu: FcpEmulator) -> str:
    (bid,) = emu.state.bids.values()
    emu.tick()
    return bid.instances[0]


def test_a_task_completes_with_its_real_exit_code_and_releases_everything(
    flow: Flow, emu: FcpEmulator, disks: Path
) -> None:
    task = flow.run("python train.py", instance_type="a100")
    assert flow.get_task(task.task_id).status == TaskStatus.RUNNING
    finish(disks, only_instance(emu), 0, "epoch 1\nepoch 2\n")
    done = flow.wait(task.task_id, timeout=60)
    assert (done.status, done.exit_code) == (TaskStatus.COMPLETED, 0)
    assert flow.logs(task.task_id, tail=1) == "epoch 2"
    assert emu.live_bids() == []  # released as soon as flowlib read the exit code
    keys = [
        k for k in emu.state.api_keys.values() if k.name == bid_name(flow.store.get(done.task_id))
    ]
    assert keys and keys[0].deactivated_at is not None  # the task's release key is revoked
    assert (disks / only_instance(emu) / "var/run/flow/exit_code.read").exists()


def test_a_failing_workload_is_failed_not_cancelled(
    flow: Flow, emu: FcpEmulator, disks: Path
) -> None:
    task = flow.run("python train.py", instance_type="a100")
    finish(disks, only_instance(emu), 3)
    done = flow.wait(task.task_id, timeout=60)
    assert (done.status, done.exit_code) == (TaskStatus.FAILED, 3)


def test_the_bid_asks_what_the_task_said(flow: Flow, emu: FcpEmulator) -> None:
    flow.run("python train.py", instance_type="a100", max_price_per_hour=2.345, num_instances=2)
    (call,) = [c for c in emu.calls if c.method == "POST" and c.path == "/v2/spot/bids"]
    body = call.request_body
    assert body["limit_price"] == "$2.34"
    assert body["instance_quantity"] == 2
    assert body["instance_type"] == emu.instance_type_fid("a100-80gb.sxm.1x")
    assert body["region"] == "us-central1-b"
    spec = body["launch_specification"]
    assert spec["startup_script"].startswith("#!/bin/bash")
    assert len(spec["startup_script"]) <= 10_000
    assert spec["ssh_keys"] and spec["ssh_keys"][0].startswith("sshkey_")
    assert emu.api_key not in spec["startup_script"]  # only a task-scoped key goes to the VM


def test_without_auto_terminate_the_instance_is_kept_after_the_workload(
    flow: Flow, emu: FcpEmulator, disks: Path
) -> None:
    task = flow.run("python train.py", instance_type="a100", auto_terminate=False)
    finish(disks, only_instance(emu), 0)
    assert flow.wait(task.task_id, timeout=60).status == TaskStatus.COMPLETED
    assert len(emu.live_bids()) == 1  # yours to ssh into; `flow cancel` is refused, it ended
    assert not any(c.path == "/v2/api-keys" and c.method == "POST" for c in emu.calls)


def test_many_tasks_are_refreshed_with_list_calls_not_one_per_task(
    flow: Flow, emu: FcpEmulator, provider: FcpProvider
) -> None:
    for _ in range(6):
        flow.run("python train.py", instance_type="a100", region="us-central1-a")
    emu.tick()
    before = len(emu.calls)
    tasks = flow.list_tasks()
    assert {t.status for t in tasks} == {TaskStatus.RUNNING}
    paths = [c.path for c in emu.calls[before:]]
    assert paths == ["/v2/spot/bids", "/v2/instances"]


def test_a_preempted_task_fails_as_preempted_and_its_bid_is_cancelled(
    flow: Flow, emu: FcpEmulator, clock: ManualClock
) -> None:
    task = flow.run("python train.py", instance_type="a100")
    (bid,) = emu.state.bids.values()
    emu.tick()
    emu.preempt(bid.fid)
    assert flow.get_task(task.task_id).provider_state == "Preempting"
    clock.advance(301)
    done = flow.get_task(task.task_id)
    assert (done.status, done.provider_state) == (TaskStatus.FAILED, "preempted")
    assert "preempted" in (done.message or "")
    assert emu.live_bids() == []


def test_retries_let_a_preempted_task_start_again(
    flow: Flow, emu: FcpEmulator, clock: ManualClock, disks: Path
) -> None:
    task = flow.run("python train.py", instance_type="a100", retries=1)
    (bid,) = emu.state.bids.values()
    emu.tick()
    first = bid.instances[0]
    emu.set_capacity("a100-80gb.sxm.1x", "us-central1-b", 0)  # no room to win again at once
    emu.preempt(bid.fid)
    clock.advance(301)
    waiting = flow.get_task(task.task_id)
    assert (waiting.status, waiting.provider_state) == (TaskStatus.PENDING, "preempted")
    emu.set_capacity("a100-80gb.sxm.1x", "us-central1-b", 4)
    assert flow.get_task(task.task_id).status == TaskStatus.RUNNING
    second = bid.instances[0]
    assert second != first  # a fresh machine: the script runs again from the start
    finish(disks, second, 0)
    assert flow.wait(task.task_id, timeout=60).status == TaskStatus.COMPLETED


def test_an_instance_error_fails_the_task(flow: Flow, emu: FcpEmulator) -> None:
    task = flow.run("python train.py", instance_type="a100")
    emu.fail_instance(only_instance(emu))
    done = flow.get_task(task.task_id)
    assert (done.status, done.provider_state) == (TaskStatus.FAILED, "STATUS_ERROR")
    assert emu.live_bids() == []


def test_cancel_deletes_the_bid_and_is_idempotent(
    flow: Flow, emu: FcpEmulator, provider: FcpProvider
) -> None:
    task = flow.run("sleep 600", instance_type="a100")
    assert flow.cancel(task.task_id).status == TaskStatus.CANCELLED
    assert emu.live_bids() == []
    provider.cancel(flow.store.get(task.task_id))  # again: nothing left, no error


def test_a_bid_from_a_submit_that_died_is_found_by_name_and_cancelled(
    flow: Flow, emu: FcpEmulator, provider: FcpProvider
) -> None:
    # What an interrupted submit leaves: the task in the store (recorded first), a bid, and no
    # bid FID in the store (the process died before the POST's answer came back).
    config = provider.prepare(TaskConfig(command=["sleep", "600"], instance_type="a100"))
    record = TaskRecord(
        task_id="task-0123456789ab", name=config.name, provider="fcp", config=config
    )
    flow.store.add(record)
    body = {
        "project": emu.project,
        "region": "us-central1-b",
        "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
        "limit_price": "$2.00",
        "instance_quantity": 1,
        "name": bid_name(record),
        "launch_specification": {"volumes": [], "ssh_keys": []},
    }
    provider.api.create_bid(body, idempotency_key="x")
    assert flow.get_task(record.task_id).status == TaskStatus.RUNNING
    assert flow.cancel(record.task_id).status == TaskStatus.CANCELLED
    assert emu.live_bids() == []


def test_ssh_on_a_task_without_a_running_instance_says_to_wait(
    flow: Flow, emu: FcpEmulator, provider: FcpProvider
) -> None:
    task = flow.run("true", instance_type="a100")
    (bid,) = emu.state.bids.values()
    with emu.client() as client:
        client.patch(f"/v2/spot/bids/{bid.fid}", json={"paused": True})
    with pytest.raises(ProviderError, match="no running instance to connect to"):
        flow.ssh(task.task_id, command="true")


class _GoesAwayOnceRead(SandboxHost):
    """An instance a cancel takes right after flowlib read its exit code: from then on it
    answers no ssh."""

    def __init__(self, address: HostAddress, root: Path, gone: set[str]) -> None:
        super().__init__(address, root)
        self.gone = gone

    def read_file(self, path: str) -> bytes | None:
        data = super().read_file(path)
        if path.endswith("/exit_code") and data is not None:
            self.gone.add(str(self.address.instance_id))
        return data


def test_a_machine_gone_right_after_its_exit_code_was_read_does_not_hold_up_the_status(
    emu: FcpEmulator,
    clock: ManualClock,
    disks: Path,
    tmp_path: Path,
    make: Callable[..., FcpProvider],
    flow_on: Callable[[FcpProvider], Flow],
) -> None:
    gone: set[str] = set()

    def hosts(address: HostAddress) -> RemoteHost:
        if address.instance_id in gone:  # nothing listens: what ssh meets once it is gone
            at = HostAddress("127.0.0.1", closed_port(), "ubuntu", None, address.instance_id)
            return OpenSSHHost(at, home=tmp_path, clock=clock, boot_timeout=300.0)
        return _GoesAwayOnceRead(address, disks / str(address.instance_id), gone)

    with flow_on(make(hosts=hosts)) as flow:
        task = flow.run("python train.py", instance_type="a100")
        finish(disks, only_instance(emu), 0, "done\n")
        before = clock.monotonic()
        done = flow.get_task(task.task_id)
        waited = clock.monotonic() - before
    assert (done.status, done.exit_code) == (TaskStatus.COMPLETED, 0)  # read and kept
    assert gone  # the machine did go away between the read and the mark
    assert waited < 10  # one try at the mark, not the 300 s a first ssh waits for a boot
