"""The hyperstack provider against the in-process emulator (VMs do not boot here): offers and
prices, set-up on first use, helpful errors, and no duplicate or leftover VM under faults."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from flowlib.core.hosts import HostAddress, RemoteHost
from flowlib.core.ssh import OpenSSHHost
from flowlib.core.store import TaskRecord, new_task_id
from flowlib.errors import AuthenticationError, CapacityError, ValidationError
from flowlib.models import TaskConfig
from flowlib.providers.hyperstack._provider import HyperstackProvider, vm_name
from flowlib.providers.hyperstack._settings import load_settings
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, ManualClock, Timing

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def hs(clock: ManualClock) -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(clock=clock, timing=Timing(), boot=False) as emulator:
        yield emulator


@pytest.fixture
def key_path(tmp_path: Path) -> Path:
    private = tmp_path / "id_test"
    private.write_text("not used: VMs do not boot in these tests\n")
    private.with_name("id_test.pub").write_text(PUBLIC_KEY + "\n")
    return private


def make_provider(
    hs: HyperstackEmulator, clock: ManualClock, tmp_path: Path, key_path: Path, **settings: object
) -> HyperstackProvider:
    section = {"api_key": hs.api_key, "api_url": hs.url, "ssh_key_path": str(key_path)}
    return HyperstackProvider(
        load_settings({**section, **settings}),
        home=tmp_path / "home",
        transport=hs.transport(),
        clock=clock,
    )


@pytest.fixture
def provider(
    hs: HyperstackEmulator, clock: ManualClock, tmp_path: Path, key_path: Path
) -> HyperstackProvider:
    return make_provider(hs, clock, tmp_path, key_path)


def record(**fields: object) -> TaskRecord:
    config = TaskConfig(command=["true"], upload_code=False, **fields)  # type: ignore[arg-type]
    return TaskRecord(task_id=new_task_id(), name="t", provider="hyperstack", config=config)


def calls(hs: HyperstackEmulator, method: str, path: str) -> int:
    return sum(1 for c in hs.calls if c.method == method and c.path == "/v1" + path)


def test_offers_price_is_the_pricebook_rate_times_the_gpu_count(
    provider: HyperstackProvider,
) -> None:
    offers = provider.offers(TaskConfig(command=["true"], instance_type="2xa6000"))
    assert {(o.provider_type_id, o.region, o.price_per_hour) for o in offers} == {
        ("n3-RTX-A6000x2", "CANADA-1", 1.0),
        ("n3-RTX-A6000x2", "NORWAY-1", 1.0),
    }
    assert offers[0].instance_type.name == "a6000-48gb.pcie.2x"
    h100 = provider.offers(TaskConfig(command=["true"], instance_type="8xh100"))
    assert [o.price_per_hour for o in h100] == sorted(o.price_per_hour or 0 for o in h100)


def test_a_rejected_key_names_the_api_key_header_and_the_variable(
    hs: HyperstackEmulator, clock: ManualClock, tmp_path: Path, key_path: Path
) -> None:
    wrong = make_provider(hs, clock, tmp_path, key_path, api_key="not-the-key")
    with pytest.raises(AuthenticationError) as info:
        wrong.offers(TaskConfig(command=["true"]))
    assert "`api_key` header" in info.value.message
    assert any("FLOW_API_KEY" in s for s in info.value.suggestions)
    assert "not-the-key" not in str(info.value)


def test_an_unknown_flavor_lists_the_flavors_of_that_region(
    provider: HyperstackProvider,
) -> None:
    with pytest.raises(ValidationError) as info:
        provider.prepare(TaskConfig(command=["true"], instance_type="n3-A100x1", region="NORWAY-1"))
    tips = " ".join(info.value.suggestions)
    assert "n3-RTX-A6000x1" in tips and "CANADA-1" in tips  # where n3-A100x1 does exist


def test_out_of_stock_lists_the_regions_that_have_stock(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    hs.set_stock("CANADA-1", "RTX-A6000", 0)
    with pytest.raises(CapacityError) as info:
        provider.prepare(TaskConfig(command=["true"], instance_type="a6000", region="CANADA-1"))
    assert "out of stock" in info.value.message
    assert info.value.suggestions == ["regions with stock: NORWAY-1 (n3-RTX-A6000x1)"]
    assert hs.vm_count() == 0


def test_a_price_cap_below_every_offer_names_the_cheapest_price(
    provider: HyperstackProvider,
) -> None:
    with pytest.raises(CapacityError, match=r"at least \$1\.90/hour"):
        provider.prepare(TaskConfig(command=["true"], instance_type="h100", max_price_per_hour=1))


def test_environment_and_keypair_are_created_once_and_reused(
    hs: HyperstackEmulator, clock: ManualClock, tmp_path: Path, key_path: Path
) -> None:
    first = make_provider(hs, clock, tmp_path, key_path)
    first.submit(record(region="NORWAY-1"))
    first.submit(record(region="NORWAY-1"))
    make_provider(hs, clock, tmp_path, key_path).submit(record(region="NORWAY-1"))
    assert calls(hs, "POST", "/core/environments") == 1
    assert calls(hs, "POST", "/core/keypairs") == 1
    assert hs.vm_count() == 3
    vm = hs.live_vms()[0]
    assert vm.environment.name == "flowlib-norway-1"
    assert any(r.port_range_min == 22 and r.direction == "ingress" for r in vm.security_rules)
    assert vm.user_data is not None and vm.user_data.startswith("#!/bin/bash")


def test_server_errors_and_a_lost_answer_never_make_a_second_vm(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    task = record()
    hs.faults.server_errors(method="POST", path="/v1/core/virtual-machines", times=1)
    hs.faults.drop_connection("POST", "/v1/core/virtual-machines", after_processing=True)
    data = provider.submit(task)
    assert [vm.id for vm in hs.vms_named(vm_name(task.task_id))] == [data["vm_id"]]
    assert calls(hs, "POST", "/core/virtual-machines") == 2  # a 503, then the lost answer


def test_a_resumed_submit_adopts_the_vm_it_created_before(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    task = record()
    first = provider.submit(task)
    again = provider.submit(task)  # a process that crashed after the create, run again
    assert again["vm_id"] == first["vm_id"] and hs.vm_count() == 1


def test_cancel_under_rate_limits_and_errors_leaves_no_vm(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    task = record()
    data = provider.submit(task)
    task.provider_data.update(data)
    hs.faults.rate_limit(times=2)
    hs.faults.server_errors(every=3, times=3)
    provider.cancel(task)
    assert hs.vm_count() == 0 and hs.vm(data["vm_id"]).gone
    provider.cancel(task)  # idempotent


def test_status_of_many_tasks_is_one_list_call(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    tasks = [record() for _ in range(5)]
    for task in tasks:
        task.provider_data.update(provider.submit(task))
    before = calls(hs, "GET", "/core/virtual-machines")
    states = provider.status(tasks)
    assert calls(hs, "GET", "/core/virtual-machines") == before + 1
    assert {s.provider_state for s in states.values()} == {"CREATING"}


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])  # closed again when this returns: nothing listens


def test_a_vm_whose_sshd_does_not_answer_yet_gets_one_look_not_a_wait_for_its_boot(
    hs: HyperstackEmulator, clock: ManualClock, tmp_path: Path, key_path: Path
) -> None:
    port = closed_port()  # the VM is ACTIVE with an IP, its sshd not started yet

    def hosts(address: HostAddress) -> RemoteHost:
        at = replace(address, host="127.0.0.1", port=port)
        return OpenSSHHost(at, home=tmp_path, clock=clock, boot_timeout=300.0)

    section = {"api_key": hs.api_key, "api_url": hs.url, "ssh_key_path": str(key_path)}
    provider = HyperstackProvider(
        load_settings(section), tmp_path / "home", transport=hs.transport(),
        host_factory=hosts, clock=clock,
    )  # fmt: skip
    task = record()
    task.provider_data.update(provider.submit(task))
    hs.advance(10)
    (vm,) = hs.state.vms.values()
    assert (vm.status, vm.floating_ip is not None) == ("ACTIVE", True)
    before = clock.monotonic()
    state = provider.status([task])[task.task_id]
    # A status (and the keeper's batch behind it) never waits out a boot: 300 s here.
    assert clock.monotonic() - before < 10
    assert not state.status.is_terminal
