"""Hyperstack volumes against the in-process emulator (VMs do not boot here): created once under
faults, placed in the volume's region, names checked, refused on persistent instances, and the
startup script told to mount them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib.core.store import TaskRecord, new_task_id
from flowlib.errors import FlowError, UnsupportedError, ValidationError
from flowlib.models import TaskConfig, VolumeSpec
from flowlib.providers.hyperstack._provider import HyperstackProvider
from flowlib.providers.hyperstack._settings import load_settings
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, ManualClock, Timing

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


@pytest.fixture
def hs() -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(clock=ManualClock(), timing=Timing.instant(), boot=False) as emu:
        yield emu


@pytest.fixture
def provider(hs: HyperstackEmulator, tmp_path: Path) -> HyperstackProvider:
    private = tmp_path / "id_test"
    private.write_text("not used\n")
    private.with_name("id_test.pub").write_text(PUBLIC_KEY + "\n")
    settings = {"api_key": hs.api_key, "api_url": hs.url, "ssh_key_path": str(private)}
    return HyperstackProvider(load_settings(settings), home=tmp_path / "home",
                              transport=hs.transport())  # fmt: skip


def record(**fields: object) -> TaskRecord:
    config = TaskConfig(command=["true"], upload_code=False, **fields)  # type: ignore[arg-type]
    return TaskRecord(task_id=new_task_id(), name="t", provider="hyperstack", config=config)


def posts(hs: HyperstackEmulator, path: str) -> int:
    return sum(1 for c in hs.calls if c.method == "POST" and c.path == "/v1" + path)


def test_a_lost_answer_never_makes_a_second_volume(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    hs.faults.drop_connection("POST", "/v1/core/volumes", after_processing=True)
    created = provider.create_volume(10, "data")
    assert [v.name for v in hs.state.volumes.values()] == ["data"]
    assert created.volume_id == str(next(iter(hs.state.volumes)))
    assert posts(hs, "/core/volumes") == 1  # found by name after the lost answer


def test_a_volume_named_by_a_task_is_created_once_and_found_again(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    spec = VolumeSpec(name="ckpt", size_gb=3, mount_path="/ckpt")
    first = provider.submit(record(volumes=[spec]))
    second = provider.submit(record(volumes=[spec]))
    assert len(hs.state.volumes) == 1 and posts(hs, "/core/volumes") == 1
    assert first["volumes"] == second["volumes"]
    [entry] = first["volumes"]
    assert (entry["name"], entry["mount_path"]) == ("ckpt", "/ckpt")
    assert hs.state.volumes[entry["id"]].environment.name == first["environment"]


def test_the_startup_script_waits_for_each_volume_and_mounts_it(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    spec = VolumeSpec(name="ckpt", size_gb=3, mount_path="/ckpt")
    provider.submit(record(volumes=[spec]))
    [vm] = hs.live_vms()
    assert "flow_volume 0 ckpt /ckpt\n" in (vm.user_data or "")
    assert "volumes.devices" in (vm.user_data or "")


def test_an_existing_volume_puts_the_task_in_its_region(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    provider.volumes.ensure("far", 1, provider.environment("US-1"))
    spec = VolumeSpec(name="far", mount_path="/far")
    assert provider.prepare(TaskConfig(command=["true"], volumes=[spec])).region == "US-1"
    with pytest.raises(ValidationError) as err:
        provider.prepare(TaskConfig(command=["true"], volumes=[spec], region="CANADA-1"))
    assert "volume far is in US-1; the task asks for CANADA-1" in err.value.message
    assert "region='US-1'" in err.value.suggestions[0]


def test_volume_names_follow_hyperstacks_rules(provider: HyperstackProvider) -> None:
    spec = VolumeSpec(name="my data!", size_gb=1, mount_path="/d")
    with pytest.raises(ValidationError) as err:
        provider.prepare(TaskConfig(command=["true"], volumes=[spec]))
    assert err.value.suggestions == ["e.g. volume://my-data"]


def test_persistent_instances_refuse_volumes_before_anything_exists(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    spec = VolumeSpec(name="ckpt", size_gb=1, mount_path="/ckpt")
    with pytest.raises(UnsupportedError, match="persistent instances"):
        provider.prepare(TaskConfig(command=["true"], volumes=[spec], instance_name="box"))
    assert hs.state.volumes == {} and hs.live_vms() == []


def test_an_unknown_volume_type_setting_lists_the_types(
    hs: HyperstackEmulator, tmp_path: Path
) -> None:
    settings = {"api_key": hs.api_key, "api_url": hs.url, "volume_type": "Turbo"}
    provider = HyperstackProvider(load_settings(settings), home=tmp_path, transport=hs.transport())
    with pytest.raises(ValidationError) as err:
        provider.volumes.ensure("x", 1, provider.environment("CANADA-1"))
    assert "Cloud-SSD" in err.value.suggestions[0]


def test_no_stock_where_the_volume_is_says_why_the_task_goes_there(
    hs: HyperstackEmulator, provider: HyperstackProvider
) -> None:
    provider.volumes.ensure("far", 1, provider.environment("US-1"))
    spec = VolumeSpec(name="far", mount_path="/far")  # and A6000s are in CANADA-1, NORWAY-1
    with pytest.raises(FlowError) as err:
        provider.prepare(TaskConfig(command=["true"], volumes=[spec], instance_type="a6000"))
    assert "because its volumes are there" in err.value.suggestions[-1]


def test_volumes_of_a_submit_that_stopped_half_way_are_found_by_their_stored_names(
    hs: HyperstackEmulator, provider: HyperstackProvider, tmp_path: Path
) -> None:
    from flowlib.core.hosts import HostAddress, SandboxHost

    task = record(volumes=[VolumeSpec(name="ckpt", size_gb=1, mount_path="/ckpt")])
    data = provider.submit(task)
    planned = provider.volumes.planned(task)  # what the store held before the volume existed
    task.provider_data = {**data, "volumes": planned}
    [vm] = hs.live_vms()
    with hs.state.lock:
        listed = hs.state.vm_json(vm)
    disk = tmp_path / "vm"
    disk.mkdir()
    host = SandboxHost(HostAddress(host="203.0.113.9", user="ubuntu"), disk)
    updates, waiting = provider.volumes.attach(task, listed, host)
    assert waiting is None and updates["volumes_ready"] is True
    assert [(v["name"], v["device"]) for v in updates["volumes"]] == [("ckpt", "/dev/vdb")]
    assert (disk / "var/lib/flow/volumes.devices").read_text() == "0 /dev/vdb\n"
