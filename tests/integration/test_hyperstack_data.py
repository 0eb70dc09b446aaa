"""S3 data mounts and outputs on the hyperstack provider: the Hyperstack emulator over loopback
HTTP, its VMs really running the startup script, staging from and syncing to a real S3 API
server (moto) on loopback.

A VM gets no AWS credentials from this process, as a real one would not: here it gets them from
the task's ``env`` (kept out of logs like every env value) or from the machine itself (the
emulator's ``boot_env``, standing for credentials baked into an image)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import ACCESS_KEY, REGION, S3, SECRET_KEY

from flowlib import Flow
from flowlib.errors import ResourceNotFoundError
from flowlib.models import TaskStatus
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Options, Timing

pytest.importorskip("s3fs", reason="the data tests need flowlib[s3]")

CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": REGION,
}
WORKLOAD = (
    'echo "$(cat "$FLOW_ROOT/data/train/a.txt") $(cat "$FLOW_ROOT/data/train/sub/b.txt")"; '
    'mkdir -p "$FLOW_ROOT/results/ckpt"; '
    'echo model > "$FLOW_ROOT/results/model.txt"; echo step5 > "$FLOW_ROOT/results/ckpt/5.txt"'
)


def emulator(tmp_path: Path, **options: object) -> HyperstackEmulator:
    return HyperstackEmulator(
        timing=Timing.instant(),
        workdir=tmp_path / "cloud",
        options=Options(stop_grace_s=0.5),
        **options,  # type: ignore[arg-type]
    )


def open_flow(emu: HyperstackEmulator) -> Flow:
    section = emu.provider_settings(poll_interval_s=0.1)
    return Flow(provider="hyperstack", providers={"hyperstack": section})


@pytest.fixture
def bare_emu(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    with emulator(tmp_path) as emu:
        emu.start()
        yield emu
        assert emu.errors == []


@pytest.fixture
def image_emu(tmp_path: Path) -> Iterator[HyperstackEmulator]:
    with emulator(tmp_path, boot_env=lambda _vm: dict(CREDENTIALS)) as emu:
        emu.start()
        yield emu
        assert emu.errors == []


def only_vm_id(flow: Flow, task_id: str) -> int:
    record = flow.store.get(task_id)
    assert record is not None
    return int(record.provider_data["vm_id"])


def test_a_task_reads_staged_data_and_its_outputs_land_in_s3(
    bare_emu: HyperstackEmulator, s3: S3, project: Path
) -> None:
    s3.put("ds/train/a.txt", "alpha")
    s3.put("ds/train/sub/b.txt", "beta")
    with open_flow(bare_emu) as flow:
        task = flow.run(
            WORKLOAD,
            data=f"s3://{s3.bucket}/ds",
            outputs={"/results": f"s3://{s3.bucket}/runs/1"},
            env=dict(CREDENTIALS),
            upload_code=False,
        )
        done = flow.wait(task.task_id, timeout=120)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
        assert flow.logs(task.task_id) == "alpha beta"
        vm_id = only_vm_id(flow, task.task_id)
    assert s3.keys("runs/1/") == ["runs/1/ckpt/5.txt", "runs/1/model.txt"]
    assert s3.get("runs/1/model.txt") == b"model\n"
    log = bare_emu.startup_log(vm_id)
    assert f"s3://{s3.bucket}/ds/ staged at /data" in log and "synced to" in log
    assert SECRET_KEY not in log  # env values are never echoed
    assert bare_emu.wait_until(lambda: bare_emu.vm_count() == 0, timeout=15)


def test_credentials_of_the_machine_itself_are_used(
    image_emu: HyperstackEmulator, s3: S3, project: Path
) -> None:
    s3.put("in/x.txt", "from the machine")
    with open_flow(image_emu) as flow:
        task = flow.run('cat "$FLOW_ROOT/data/x.txt"', data=f"s3://{s3.bucket}/in",
                        upload_code=False)  # fmt: skip
        done = flow.wait(task.task_id, timeout=120)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
        assert flow.logs(task.task_id) == "from the machine"
        vm_id = only_vm_id(flow, task.task_id)
    # the client's credentials stayed here: neither the user_data nor the log has them
    user_data = image_emu.vm(vm_id).user_data or ""
    assert SECRET_KEY not in user_data and ACCESS_KEY not in user_data
    assert SECRET_KEY not in image_emu.startup_log(vm_id)


def test_a_missing_bucket_fails_before_any_vm_is_created(
    bare_emu: HyperstackEmulator, s3: S3, project: Path
) -> None:
    with open_flow(bare_emu) as flow, pytest.raises(ResourceNotFoundError) as err:
        flow.run("true", data="s3://flow-no-such-bucket-here/ds", upload_code=False)
    assert "flow-no-such-bucket-here" in str(err.value) and err.value.suggestions
    assert bare_emu.state.vms == {}
    assert not any(c.method == "POST" for c in bare_emu.calls)


def test_s3_data_and_outputs_work_on_a_persistent_instance_too(
    bare_emu: HyperstackEmulator, s3: S3, project: Path
) -> None:
    s3.put("in/x.txt", "queued")
    with open_flow(bare_emu) as flow:
        task = flow.run(
            'cat "$FLOW_ROOT/data/x.txt"; echo done > "$FLOW_ROOT/results/r.txt"',
            data=f"s3://{s3.bucket}/in",
            outputs={"/results": f"s3://{s3.bucket}/box"},
            env=dict(CREDENTIALS),
            instance_name="box",
            upload_code=False,
        )
        done = flow.wait(task.task_id, timeout=120)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
        assert flow.logs(task.task_id) == "queued"
        flow.persistent_instances().delete("box")
    assert s3.get("box/r.txt") == b"done\n"
