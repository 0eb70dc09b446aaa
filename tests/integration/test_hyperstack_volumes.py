"""Hyperstack volumes against the emulator over loopback HTTP: created in flowlib's environment,
attached once the VM runs, formatted when blank and mounted by the real startup script (the
emulator's disks are directories, see docs/emulators.md), kept when the VM goes."""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.errors import ValidationError, VolumeNotFoundError
from flowlib.models import TaskStatus, VolumeSpec
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Options, Timing

WAIT = 60


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    options = Options(stop_grace_s=0.5)
    with HyperstackEmulator(
        timing=Timing.instant(), workdir=tmp_path / "cloud", options=options
    ) as emulator:
        emulator.start()
        yield emulator
        assert emulator.errors == []


@pytest.fixture
def flow(emu: HyperstackEmulator, isolated_home: Path, project: Path) -> Iterator[Flow]:
    section = emu.provider_settings(poll_interval_s=0.1)
    with Flow(provider="hyperstack", providers={"hyperstack": section}) as f:
        yield f


def volume_named(emu: HyperstackEmulator, name: str) -> int:
    with emu.state.lock:
        (found,) = [v.id for v in emu.state.volumes.values() if v.name == name]
    return found


def test_create_list_and_delete_a_volume(flow: Flow, emu: HyperstackEmulator) -> None:
    created = flow.create_volume(20, "scratch")
    assert (created.name, created.size_gb) == ("scratch", 20)
    assert created.region in {"CANADA-1", "NORWAY-1", "US-1"}
    [listed] = flow.list_volumes()
    assert listed.volume_id == created.volume_id
    vol = emu.state.volumes[int(created.volume_id)]
    assert vol.environment.name == f"flowlib-{created.region.lower()}"
    assert vol.volume_type == "Cloud-SSD"
    flow.delete_volume("scratch")
    assert flow.list_volumes() == [] and emu.state.volumes == {}


def test_a_bad_name_is_refused_with_a_suggestion(flow: Flow, emu: HyperstackEmulator) -> None:
    with pytest.raises(ValidationError) as err:
        flow.create_volume(1, "x" * 51)
    assert "1-50 letters" in err.value.message and err.value.suggestions
    with pytest.raises(ValidationError) as err:
        flow.run("true", data={"/d": "volume://.hidden"}, upload_code=False)
    assert emu.live_vms() == [] and emu.state.volumes == {}


def test_an_unknown_volume_is_not_found(flow: Flow, emu: HyperstackEmulator) -> None:
    with pytest.raises(VolumeNotFoundError):
        flow.provider().delete_volume("no-such-volume")
    with pytest.raises(VolumeNotFoundError):
        flow.run("true", volumes=[VolumeSpec(name="absent", mount_path="/v")], upload_code=False)
    assert emu.live_vms() == []


def test_a_checkpoint_written_by_one_task_is_read_by_the_next_on_a_new_vm(
    flow: Flow, emu: HyperstackEmulator, isolated_home: Path
) -> None:
    write = 'echo step-42 > "$FLOW_ROOT/ckpt/latest.txt"'
    first = flow.run(write, data={"/ckpt": "volume://ckpt"}, upload_code=False, wait=False)
    done = flow.wait(first.task_id, timeout=WAIT)
    assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(first.task_id))
    ckpt = volume_named(emu, "ckpt")
    assert (emu.volume_files(ckpt) / "latest.txt").read_text() == "step-42\n"
    first_vm = int(flow.store.get(first.task_id).provider_data["vm_id"])  # type: ignore[union-attr]
    assert emu.startup_log(first_vm).count("is blank; formatting it ext4") == 1
    # the VM is deleted (auto_terminate): the volume is available again, its data kept
    assert emu.wait_until(lambda: emu.state.volumes[ckpt].status == "available", timeout=10)

    go = isolated_home / "go"
    read = 'cat "$FLOW_ROOT/ckpt/latest.txt"; while [ ! -e "$GO" ]; do sleep 0.05; done'
    second = flow.run(
        read, data={"/ckpt": "volume://ckpt"}, env={"GO": str(go)}, upload_code=False, wait=False
    )
    assert emu.wait_until(
        lambda: flow.status(second.task_id) == TaskStatus.RUNNING, timeout=WAIT
    ), flow.get_task(second.task_id).message
    record = flow.store.get(second.task_id)
    assert record is not None and int(record.provider_data["vm_id"]) != first_vm
    [entry] = record.provider_data["volumes"]
    assert (entry["id"], entry["device"]) == (ckpt, "/dev/vdb")
    assert len(emu.state.volumes) == 1  # volume://ckpt found again, not made twice

    with pytest.raises(ValidationError, match=f"in use by {second.task_id}"):
        flow.delete_volume("ckpt")  # the task store knows
    with pytest.raises(ValidationError, match=f"attached to VM flowlib-{second.task_id}") as err:
        flow.provider().delete_volume("ckpt")  # and so does the cloud, the backstop
    assert f"flow cancel {second.task_id}" in err.value.suggestions[0]

    go.touch()
    done = flow.wait(second.task_id, timeout=WAIT)
    assert done.status == TaskStatus.COMPLETED, done.message
    assert flow.logs(second.task_id) == "step-42"
    second_vm = int(record.provider_data["vm_id"])
    assert "formatting" not in emu.startup_log(second_vm)  # its filesystem was kept
    assert emu.wait_until(lambda: emu.vm_count() == 0, timeout=10)
    attaches = [c for c in emu.calls if c.path.endswith("/attach-volumes")]
    assert len(attaches) == 2  # once per task, however often it was polled
    flow.delete_volume("ckpt")
    assert emu.state.volumes == {}
    assert not emu.volume_files(ckpt).exists()


def test_cancelling_a_task_deletes_its_vm_and_keeps_its_volume(
    flow: Flow, emu: HyperstackEmulator
) -> None:
    line = 'echo partial > "$FLOW_ROOT/work/p.txt"; sleep 600'
    task = flow.run(line, data={"/work": "volume://work"}, upload_code=False)
    vol = volume_named(emu, "work")
    running = emu.wait_until(lambda: flow.status(task.task_id) == TaskStatus.RUNNING, timeout=WAIT)
    assert running, flow.get_task(task.task_id).provider_state
    assert emu.wait_until(lambda: (emu.volume_files(vol) / "p.txt").exists(), timeout=WAIT)
    flow.cancel(task.task_id)
    assert emu.vm_count() == 0
    assert emu.state.volumes[vol].status == "available"
    assert (emu.volume_files(vol) / "p.txt").read_text() == "partial\n"
    assert [v.name for v in flow.list_volumes()] == ["work"]


def test_a_new_volume_by_size_is_created_in_the_tasks_environment(
    flow: Flow, emu: HyperstackEmulator
) -> None:
    spec = VolumeSpec(size_gb=5, mount_path="/scratch")
    line = 'test -d "$FLOW_ROOT/scratch" && touch "$FLOW_ROOT/scratch/x"'
    task = flow.run(line, volumes=[spec], upload_code=False).wait(timeout=WAIT)
    assert task.status == TaskStatus.COMPLETED, task.message
    [vol] = emu.state.volumes.values()
    suffix = task.task_id.removeprefix("task-")
    assert (vol.name, vol.size) == (f"flowlib-{suffix}-0", 5)
    record = flow.store.get(task.task_id)
    assert record is not None and vol.environment.name == record.provider_data["environment"]
    assert (emu.volume_files(vol.id) / "x").exists()


def test_a_volume_in_another_region_is_refused_before_any_vm_exists(
    flow: Flow, emu: HyperstackEmulator
) -> None:
    provider = flow.provider()  # a volume made elsewhere than where tasks go by default
    created = provider.volumes.ensure("far", 1, provider.environment("NORWAY-1"))  # type: ignore[attr-defined]
    with pytest.raises(ValidationError) as err:
        flow.run("true", data={"/far": "volume://far"}, region="CANADA-1", upload_code=False)
    assert "volume far is in NORWAY-1" in err.value.message
    assert any("NORWAY-1" in s for s in err.value.suggestions)
    assert emu.live_vms() == []
    # without a region, the task goes where its volume is
    line = 'touch "$FLOW_ROOT/far/ok"'
    task = flow.run(line, data={"/far": "volume://far"}, upload_code=False).wait(timeout=WAIT)
    assert task.status == TaskStatus.COMPLETED, task.message
    assert task.region == "NORWAY-1"
    assert (emu.volume_files(int(created["id"])) / "ok").exists()


def test_a_volume_that_is_never_attached_fails_the_task_with_the_reason(
    tmp_path: Path, isolated_home: Path, project: Path
) -> None:
    slow = Timing(0, 0, 0, 0, 0, 0, 0, 0, 0, volume_s=3600)  # the new volume stays "creating"
    with HyperstackEmulator(timing=slow, workdir=tmp_path / "cloud") as emu:
        emu.start()
        section = emu.provider_settings(poll_interval_s=0.1, volume_attach_timeout_s=1)
        with Flow(provider="hyperstack", providers={"hyperstack": section}) as flow:
            task = flow.submit("true", data={"/v": "volume://late"}, upload_code=False)
            pending = flow.get_task(task.task_id)
            assert pending.provider_state == "waiting for volume late (creating)"
            done = flow.wait(task.task_id, timeout=WAIT)
            assert done.status == TaskStatus.FAILED
            assert "volume late (for /v) was not attached within 1 s" in (done.message or "")
            assert emu.wait_until(lambda: emu.vm_count() == 0, timeout=10)
            assert [v.status for v in emu.state.volumes.values()] == ["creating"]  # kept


def test_the_emulated_tools_refuse_what_is_not_an_emulated_volume(
    emu: HyperstackEmulator, tmp_path: Path
) -> None:
    assert emu.state.disks is not None
    env = {**os.environ, "PATH": emu.state.disks.path_env(os.environ.get("PATH"))}
    (tmp_path / "plain").mkdir()
    for tool in ("blkid", "mkfs.ext4", "mount"):
        args = [tool, str(tmp_path / "plain")] + ([str(tmp_path / "m")] if tool == "mount" else [])
        result = subprocess.run(args, env=env, capture_output=True, text=True)
        assert result.returncode != 0 and "not an emulated volume" in result.stderr, tool


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="needs shellcheck")
def test_the_volume_section_and_the_emulated_tools_pass_shellcheck(
    emu: HyperstackEmulator, tmp_path: Path
) -> None:
    from flowlib.core.startup import ScriptContext, build_script
    from flowlib.data import VolumeMount
    from flowlib.models import TaskConfig

    mounts = [VolumeMount("ckpt", "/ckpt"), VolumeMount("it's", "/a b", device="/dev/vdc")]
    context = ScriptContext(task_id="t", config=TaskConfig(command="true"), volume_mounts=mounts)
    script = tmp_path / "startup.sh"
    script.write_text(build_script(context))
    assert emu.state.disks is not None
    tools = sorted(str(p) for p in emu.state.disks.tools.iterdir())
    result = subprocess.run(
        ["shellcheck", "--severity=info", str(script), *tools], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout
