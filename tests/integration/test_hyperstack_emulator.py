"""The Hyperstack emulator over real loopback HTTP: VMs run their user_data for real in a
sandbox, services survive hibernation, and the command line serves it for demos."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from flowlib.testing.emulators.hyperstack import (
    BOOT_SERVICES_DIR,
    HyperstackEmulator,
    Options,
    Timing,
)

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    options = Options(stop_grace_s=0.5)
    with HyperstackEmulator(timing=Timing.instant(), workdir=tmp_path, options=options) as e:
        e.start()
        yield e


def create(emu: HyperstackEmulator, user_data: str) -> int:
    headers = {"api_key": emu.api_key}
    with httpx.Client(base_url=emu.url, headers=headers) as api:
        api.post("/core/environments", json={"name": "env", "region": "CANADA-1"})
        key = {"name": "key", "environment_name": "env", "public_key": PUBLIC_KEY}
        api.post("/core/keypairs", json=key)
        body = {
            "name": "vm",
            "environment_name": "env",
            "flavor_name": "n3-RTX-A6000x1",
            "key_name": "key",
            "count": 1,
            "assign_floating_ip": True,
            "user_data": user_data,
        }
        return int(api.post("/core/virtual-machines", json=body).json()["instances"][0]["id"])


def test_user_data_runs_once_with_flow_root_at_the_vms_disk(emu: HyperstackEmulator) -> None:
    vm_id = create(emu, "#!/bin/bash\necho booted in $FLOW_ROOT as $USER\nexit 3\n")
    assert emu.wait_for_scripts(timeout=10)
    root = emu.instance_root(vm_id)
    assert emu.startup_log(vm_id) == f"booted in {root} as ubuntu\n"
    assert emu.vm(vm_id).script_exit_code == 3
    assert emu.vm(vm_id).status == "ACTIVE"  # a script that ends does not end its VM
    assert (root / "var/lib/cloud/instance/user-data.txt").read_text().startswith("#!/bin/bash")


def test_stopping_a_vm_stops_its_script_and_services_run_again_after_restore(
    emu: HyperstackEmulator,
) -> None:
    script = (
        "#!/bin/bash\n"
        f'mkdir -p "$FLOW_ROOT/{BOOT_SERVICES_DIR}"\n'
        f"printf 'echo service up >> \"$FLOW_ROOT/service.log\"\\n' > "
        f'"$FLOW_ROOT/{BOOT_SERVICES_DIR}/agent.sh"\n'
        "sleep 600\n"
    )
    vm_id = create(emu, script)
    root = emu.instance_root(vm_id)
    assert emu.wait_until(lambda: (root / BOOT_SERVICES_DIR / "agent.sh").exists(), timeout=10)
    with emu.client() as api:
        api.get(f"/core/virtual-machines/{vm_id}/hibernate", params={"retain_ip": "true"})
        assert emu.wait_for_scripts(timeout=10)  # the sleep was stopped with the VM
        assert emu.vm(vm_id).status == "HIBERNATED"
        api.get(f"/core/virtual-machines/{vm_id}/hibernate-restore")
    assert emu.wait_until(lambda: (root / "service.log").exists(), timeout=10)
    assert (root / "service.log").read_text() == "service up\n"


def test_the_command_line_serves_the_emulator_on_loopback(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "flowlib.testing.emulators",
            "hyperstack",
            "--port",
            "0",
            "--api-key",
            "demo-key",
            "--workdir",
            str(tmp_path),
            "--timing",
            "instant",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().strip()
        assert first.startswith("Hyperstack emulator: http://127.0.0.1:")
        url = first.split(": ", 1)[1]
        assert url.endswith("/v1")
        assert proc.stdout.readline().strip() == "API key: demo-key"
        deadline = time.monotonic() + 10
        response = httpx.get(f"{url}/core/regions", headers={"api_key": "demo-key"})
        while response.status_code != 200 and time.monotonic() < deadline:
            response = httpx.get(f"{url}/core/regions", headers={"api_key": "demo-key"})
        assert [r["name"] for r in response.json()["regions"]] == ["CANADA-1", "NORWAY-1", "US-1"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
