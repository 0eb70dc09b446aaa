"""The dashboard's Instances page against the Hyperstack emulator over loopback HTTP: a persistent
instance's state and queue, and the hibernate / wake buttons (POSTs) reaching the cloud."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

# The emulator with a FLOW_HOME config that reaches it: the persistent-instance CLI tests' fixture.
import test_hyperstack_persistent_cli

from flowlib.cli import main
from flowlib.testing.emulators.hyperstack import HyperstackEmulator
from flowlib.testing.ui import dashboard

pytest.importorskip("starlette")
emulator = test_hyperstack_persistent_cli.emulator


def test_instances_page_shows_the_instance_and_its_buttons_reach_the_cloud(
    emulator: HyperstackEmulator,
) -> None:
    assert main(["run", "--on", "box", "--no-upload", "--wait", "echo hi"]) == 0
    (vm,) = emulator.vms_named("flowlib-box")
    home = Path(os.environ["FLOW_HOME"])
    with dashboard(home) as ui, httpx.Client(base_url=ui.base, timeout=30) as client:
        token = {"X-Flow-Token": ui.token}
        (box,) = client.get("/api/instances", headers=token).json()["instances"]
        assert (box["provider"], box["name"]) == ("hyperstack", "box")
        assert box["state"] in ("cooldown", "idle", "running"), box
        page = client.get("/instances", headers=token).text
        assert '"name": "box"' in page
        for answer in (page, client.get("/api/instances", headers=token).text):
            assert emulator.api_key not in answer  # the provider's key stays in the config

        assert client.post("/api/instances/hyperstack/box/hibernate").status_code == 403
        done = client.post("/api/instances/hyperstack/box/hibernate", headers=token)
        assert done.status_code == 200, done.text
        assert emulator.wait_until(lambda: emulator.vm(vm.id).status == "HIBERNATED", timeout=10)
        (box,) = client.get("/api/instances", headers=token).json()["instances"]
        assert box["state"] == "hibernated"
        assert client.post("/api/instances/hyperstack/box/wake", headers=token).status_code == 200
        assert emulator.vm(vm.id).status == "ACTIVE"
        assert (
            client.post("/api/instances/hyperstack/box/explode", headers=token).status_code == 400
        )
    assert main(["instance", "delete", "box"]) == 0
