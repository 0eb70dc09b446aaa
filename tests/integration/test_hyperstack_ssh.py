"""The hyperstack provider over real OpenSSH into emulated VMs: each ACTIVE VM's own sshd at its
floating IP (a loopback address) on the emulator's SSH port, authorized by the environment's
keypair; logs, follow, ssh and volumes go through it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import require_sshd

from flowlib import Flow
from flowlib.core.ssh import OpenSSHHost
from flowlib.models import TaskStatus
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Options, Timing


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    require_sshd()
    options = Options(stop_grace_s=0.5)
    with HyperstackEmulator(
        timing=Timing.instant(), workdir=tmp_path / "hs", options=options, ssh=True
    ) as e:
        e.start()
        yield e
        assert e.errors == []


@pytest.fixture
def flow(emu: HyperstackEmulator, project: Path) -> Iterator[Flow]:
    section = emu.provider_settings(poll_interval_s=0.05, timeout_s=2)
    assert (section["remote_host"], section["ssh_port"]) == ("ssh", emu.state.ssh_port)
    with Flow(provider="hyperstack", providers={"hyperstack": section}) as f:
        yield f


def test_logs_follow_and_ssh_reach_the_vm_over_openssh(emu: HyperstackEmulator, flow: Flow) -> None:
    task = flow.run("echo up; sleep 0.5; echo done; sleep 600")
    assert emu.wait_until(lambda: flow.get_task(task.task_id).is_running, timeout=30)
    (vm,) = emu.state.vms.values()
    assert vm.floating_ip is not None and vm.floating_ip.startswith("127.")
    lines = flow.follow_logs(task.task_id)
    assert [next(lines), next(lines)] == ["up", "done"]
    lines.close()
    assert flow.ssh(task.task_id, command=f'[ "$FLOW_ROOT" = {emu.instance_root(vm.id)} ]') == 0
    provider = flow.provider()
    assert isinstance(provider._host(emu.state.vm_json(vm)), OpenSSHHost)  # type: ignore[attr-defined]
    flow.cancel(task.task_id)
    assert emu.wait_until(lambda: emu.vm_count() == 0, timeout=15)


def test_a_volume_keeps_data_from_one_task_to_the_next_over_ssh(
    emu: HyperstackEmulator, flow: Flow
) -> None:
    volume = {"name": "ckpt", "size_gb": 10, "mount_path": "/ckpt"}
    first = flow.run('echo v1 > "$FLOW_ROOT/ckpt/x"', volumes=[volume])
    assert flow.wait(first.task_id, timeout=30).status == TaskStatus.COMPLETED
    second = flow.run('cat "$FLOW_ROOT/ckpt/x"', volumes=[{"name": "ckpt", "mount_path": "/ckpt"}])
    assert flow.wait(second.task_id, timeout=30).status == TaskStatus.COMPLETED
    assert flow.logs(second.task_id) == "v1"
