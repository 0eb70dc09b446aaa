"""Billed seconds per machine, and how many of them came after the workload's exit: what
benchmarks/chaos.py measures a late release with (docs/emulators.md)."""

from __future__ import annotations

import os
from pathlib import Path

from flowlib.testing.emulators._base import WORKLOAD_EXIT, billed_between
from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock, Timing
from flowlib.testing.emulators.hyperstack import HyperstackEmulator
from flowlib.testing.emulators.hyperstack import Timing as HsTiming


def exit_marker(root: Path, code: int, at: float) -> None:
    path = root / WORKLOAD_EXIT
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{code}\n")
    os.utime(path, (at, at))


def test_billed_between_counts_only_billed_spans_after_since() -> None:
    changes = [(10.0, True), (20.0, False), (30.0, True)]
    assert billed_between(changes, None, 35.0) == 15.0
    assert billed_between(changes, 15.0, 35.0) == 10.0
    assert billed_between(changes, 40.0, 35.0) == 0.0
    assert billed_between([], None, 5.0) == 0.0


def test_fcp_instance_billed_after_its_workload_exit(tmp_path: Path) -> None:
    clock = ManualClock(1_000.0)
    with FcpEmulator(clock=clock, timing=Timing.instant(), workdir=tmp_path) as emu, \
            emu.client() as client:  # fmt: skip
        bid = client.post("/v2/spot/bids", json={
            "project": emu.project, "region": "us-central1-a",
            "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
            "limit_price": "$2.50", "instance_quantity": 1, "name": "t",
            "launch_specification": {"volumes": [], "ssh_keys": []},
        }).json()["fid"]  # fmt: skip
        emu.tick()
        inst = emu.bid(bid).instances[0]
        assert emu.workload_exit(inst) is None and emu.billed_after_exit(inst) is None
        emu.advance(60)
        exit_marker(emu.instance_root(inst), 3, clock.time())
        emu.advance(45)
        assert emu.workload_exit(inst) == (3, 1_060.0)
        assert emu.billed_seconds(inst) == 105.0
        assert emu.billed_after_exit(inst) == 45.0
        client.delete(f"/v2/spot/bids/{bid}")
        emu.advance(100)  # terminated: the bill stopped at the delete
        assert emu.billed_after_exit(inst) == 45.0


def test_hyperstack_vm_billed_after_its_workload_exit(tmp_path: Path) -> None:
    clock = ManualClock(1_000.0)
    with HyperstackEmulator(clock=clock, timing=HsTiming.instant(), workdir=tmp_path) as emu, \
            emu.client() as api:  # fmt: skip
        api.post("/core/environments", json={"name": "env", "region": "CANADA-1"})
        key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"
        api.post("/core/keypairs", json={"name": "k", "environment_name": "env", "public_key": key})
        vm = api.post("/core/virtual-machines", json={
            "name": "t", "environment_name": "env", "flavor_name": "n3-RTX-A6000x1",
            "key_name": "k", "count": 1, "assign_floating_ip": True,
        }).json()["instances"][0]["id"]  # fmt: skip
        emu.advance(10)
        exit_marker(emu.instance_root(vm), 0, clock.time())
        emu.advance(20)
        assert emu.billed_after_exit(vm) == 20.0
        api.delete(f"/core/virtual-machines/{vm}")
        emu.advance(100)
        assert emu.vm(vm).gone
        assert emu.billed_after_exit(vm) == 20.0
        assert emu.billed_seconds(vm) == 30.0
