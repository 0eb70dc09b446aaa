"""An instance boots for real: its startup script runs under bash with FLOW_ROOT set to the
instance's own sandbox directory. These tests wait on real processes (bounded), never sleep."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock, Options, Timing


@pytest.fixture
def boot_client(booting_emu: FcpEmulator) -> Iterator[httpx.Client]:
    with booting_emu.client() as client:
        yield client


def post(client: httpx.Client, emu: FcpEmulator, script: str, **extra: Any) -> str:
    body = {
        "project": emu.project,
        "region": "us-central1-a",
        "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
        "limit_price": "$2.50",
        "instance_quantity": 1,
        "name": extra.pop("name", "boot"),
        "launch_specification": {
            "volumes": [],
            "ssh_keys": [],
            "startup_script": "#!/bin/bash\n" + script,
        },
    }
    response = client.post("/v2/spot/bids", json=body)
    assert response.status_code == 201, response.text
    fid: str = response.json()["fid"]
    return fid


def only_instance(emu: FcpEmulator, bid_fid: str) -> str:
    emu.tick()
    (inst,) = emu.bid(bid_fid).instances
    return inst


def test_the_startup_script_runs_in_the_instance_sandbox(
    booting_emu: FcpEmulator, boot_client: httpx.Client
) -> None:
    bid = post(
        boot_client,
        booting_emu,
        'echo "booted as $USER"\nmkdir -p "$FLOW_ROOT/var/run"\necho 7 > "$FLOW_ROOT/var/run/x"\n',
    )
    inst = only_instance(booting_emu, bid)
    assert booting_emu.wait_for_scripts(timeout=10)
    root = booting_emu.instance_root(inst)
    assert (root / "var/run/x").read_text() == "7\n"
    assert booting_emu.startup_log(inst) == "booted as ubuntu\n"
    assert (root / "var/lib/foundry/startup_script.sh").read_text().startswith("#!/bin/bash")
    assert booting_emu.instance(inst).script_exit_code == 0


def test_a_script_that_ends_leaves_the_vm_running_and_billing(
    booting_emu: FcpEmulator, boot_client: httpx.Client
) -> None:
    bid = post(boot_client, booting_emu, "exit 3\n")
    inst = only_instance(booting_emu, bid)
    booting_emu.wait_for_scripts(timeout=10)
    assert booting_emu.instance(inst).script_exit_code == 3
    assert booting_emu.instance(inst).status == "STATUS_RUNNING"
    assert booting_emu.bid(bid).status == "Allocated"  # only a DELETE (self-release) ends it


def test_an_option_terminates_the_bid_when_its_script_ends(
    clock: ManualClock, tmp_path: Path
) -> None:
    options = Options(terminate_when_script_ends=True)
    with (
        FcpEmulator(clock=clock, timing=Timing.instant(), workdir=tmp_path, options=options) as emu,
        emu.client() as client,
    ):
        bid = post(client, emu, "true\n")
        inst = only_instance(emu, bid)
        emu.wait_for_scripts(timeout=10)
        assert emu.bid(bid).status == "Terminated"
        assert emu.instance(inst).status == "STATUS_TERMINATED"


def test_cancelling_a_bid_stops_its_running_script(
    booting_emu: FcpEmulator, boot_client: httpx.Client
) -> None:
    bid = post(boot_client, booting_emu, "echo started\nsleep 60\n")
    inst = only_instance(booting_emu, bid)
    assert booting_emu.wait_until(lambda: booting_emu.startup_log(inst) == "started\n", 10)
    assert boot_client.delete(f"/v2/spot/bids/{bid}").status_code == 204
    booting_emu.tick()
    assert booting_emu.instance(inst).status == "STATUS_TERMINATED"
    assert booting_emu.wait_for_scripts(timeout=10)  # SIGTERM reached the whole session
    assert booting_emu.instance(inst).script_exit_code is not None


def test_no_script_no_process(booting_emu: FcpEmulator, boot_client: httpx.Client) -> None:
    body = {
        "project": booting_emu.project,
        "region": "us-central1-a",
        "instance_type": booting_emu.instance_type_fid("a100-80gb.sxm.1x"),
        "limit_price": "$2.50",
        "instance_quantity": 1,
        "name": "bare",
        "launch_specification": {"volumes": [], "ssh_keys": []},
    }
    bid = boot_client.post("/v2/spot/bids", json=body).json()["fid"]
    inst = only_instance(booting_emu, bid)
    assert booting_emu.instance(inst).process is None
    assert booting_emu.instance_root(inst).is_dir()


def test_an_emulator_without_boot_has_no_sandboxes(emu: FcpEmulator) -> None:
    with pytest.raises(ValueError, match="boot=False"):
        emu.instance_root("inst_x")
