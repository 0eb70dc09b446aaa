"""The emulated VM state machine, stepped with a manual clock: create, floating IP, stop/start,
hibernate/restore (and the wrong-state errors), delete -> DELETING -> 404, billing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.hyperstack import HyperstackEmulator, ManualClock, Timing

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


@pytest.fixture
def hs() -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(clock=ManualClock(), timing=Timing(), boot=False) as emulator:
        yield emulator


@pytest.fixture
def api(hs: HyperstackEmulator) -> Iterator[httpx.Client]:
    with hs.client() as client:
        client.post("/core/environments", json={"name": "env", "region": "CANADA-1"})
        key = {"name": "key", "environment_name": "env", "public_key": PUBLIC_KEY}
        client.post("/core/keypairs", json=key)
        yield client


def create(api: httpx.Client, flavor: str = "n3-RTX-A6000x1") -> int:
    body = {
        "name": "vm",
        "environment_name": "env",
        "flavor_name": flavor,
        "key_name": "key",
        "count": 1,
        "assign_floating_ip": True,
    }
    vm = api.post("/core/virtual-machines", json=body).json()["instances"][0]
    assert (vm["status"], vm["floating_ip"]) == ("CREATING", None)
    return int(vm["id"])


def get(api: httpx.Client, vm_id: int) -> dict[str, Any]:
    found: dict[str, Any] = api.get(f"/core/virtual-machines/{vm_id}").json()["instance"]
    return found


def act(api: httpx.Client, vm_id: int, action: str, **params: str) -> httpx.Response:
    return api.get(f"/core/virtual-machines/{vm_id}/{action}", params=params)


def active(hs: HyperstackEmulator, api: httpx.Client) -> int:
    vm_id = create(api)
    hs.advance(10)
    return vm_id


def test_a_vm_goes_creating_build_active_and_its_ip_comes_after_active(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    vm_id = create(api)
    hs.advance(1)  # Timing(): create 1 s, build 2 s, IP 1 s after ACTIVE
    assert get(api, vm_id)["status"] == "BUILD"
    hs.advance(2)
    assert (get(api, vm_id)["status"], get(api, vm_id)["floating_ip"]) == ("ACTIVE", None)
    assert get(api, vm_id)["floating_ip_status"] == "ATTACHING"
    hs.advance(1)
    vm = get(api, vm_id)
    assert vm["floating_ip"] and vm["floating_ip_status"] == "ATTACHED"
    assert hs.vm(vm_id).history[0][1] == "CREATING"


def test_stop_and_start_are_gets_that_pass_through_their_transitional_states(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    vm_id = active(hs, api)
    assert act(api, vm_id, "stop").json()["status"] is True
    assert get(api, vm_id)["status"] == "STOPPING"
    hs.advance(1)
    assert get(api, vm_id)["status"] == "SHUTOFF"
    assert act(api, vm_id, "start").status_code == 200
    hs.advance(1)
    assert get(api, vm_id)["status"] == "ACTIVE"


def test_actions_in_the_wrong_state_are_400_bad_request(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    vm_id = create(api)
    for action in ("hibernate", "hibernate-restore", "start", "stop"):
        refused = act(api, vm_id, action)
        assert refused.status_code == 400, action
        assert refused.json()["error_reason"] == "bad_request"
        assert "CREATING" in refused.json()["message"]


def test_hibernation_without_retain_ip_may_bring_back_another_ip(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    vm_id = active(hs, api)
    before = get(api, vm_id)["floating_ip"]
    act(api, vm_id, "hibernate")
    assert get(api, vm_id)["status"] == "HIBERNATING"
    hs.advance(2)
    assert (get(api, vm_id)["status"], get(api, vm_id)["floating_ip"]) == ("HIBERNATED", None)
    act(api, vm_id, "hibernate-restore")
    assert get(api, vm_id)["status"] == "RESTORING"
    hs.advance(10)
    after = get(api, vm_id)
    assert after["status"] == "ACTIVE" and after["floating_ip"] not in (None, before)


def test_hibernation_with_retain_ip_keeps_the_address_and_stops_gpu_billing(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    vm_id = active(hs, api)
    ip = get(api, vm_id)["floating_ip"]
    act(api, vm_id, "hibernate", retain_ip="true")
    hs.advance(2)
    billed = hs.billed(vm_id)
    hs.advance(3600)  # an hour hibernated costs no GPU time
    assert hs.billed(vm_id) == pytest.approx(billed)
    act(api, vm_id, "hibernate-restore")
    hs.advance(3)
    assert get(api, vm_id)["floating_ip"] == ip
    hs.advance(3600)
    assert hs.billed(vm_id) == pytest.approx(billed + 0.50, abs=0.01)  # $0.50 per A6000-hour


def test_flavors_without_hibernation_refuse_it(hs: HyperstackEmulator, api: httpx.Client) -> None:
    vm_id = create(api, "n1-cpu-small")
    hs.advance(10)
    refused = act(api, vm_id, "hibernate")
    assert refused.status_code == 400 and "not supported" in refused.json()["message"]


def test_delete_goes_through_deleting_then_the_vm_is_404(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    vm_id = active(hs, api)
    assert api.delete(f"/core/virtual-machines/{vm_id}").json()["status"] is True
    assert get(api, vm_id)["status"] == "DELETING"
    assert api.delete(f"/core/virtual-machines/{vm_id}").status_code == 409
    hs.advance(1)
    gone = api.get(f"/core/virtual-machines/{vm_id}")
    assert gone.status_code == 404 and gone.json()["error_reason"] == "not_found"
    assert hs.vm(vm_id).gone and hs.vm_count() == 0
    assert api.get("/core/virtual-machines").json()["instances"] == []


def test_a_hard_reboot_and_a_failed_vm(hs: HyperstackEmulator, api: httpx.Client) -> None:
    vm_id = active(hs, api)
    assert act(api, vm_id, "hard-reboot").status_code == 200
    assert get(api, vm_id)["status"] == "REBOOTING"
    hs.fail_vm(vm_id)
    assert get(api, vm_id)["status"] == "ERROR"
    act(api, vm_id, "hard-reboot")
    hs.advance(1)
    assert get(api, vm_id)["status"] == "ACTIVE"
