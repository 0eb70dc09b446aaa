"""S3 data mounts and outputs on the fcp provider: the FCP emulator over loopback HTTP, its
instances really running the startup script, staging from and syncing to a real S3 API server
(moto) on loopback.

The emulated instances get no AWS credentials from this process, as a real VM would not: here
they get them from the emulator (standing for an instance role) or from the task's ``env``."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import ACCESS_KEY, REGION, S3, SECRET_KEY

from flowlib import Flow
from flowlib.errors import ResourceNotFoundError
from flowlib.models import TaskStatus
from flowlib.providers.fcp._script import MAX_SCRIPT
from flowlib.testing.emulators import sandbox_settings
from flowlib.testing.emulators.fcp import FcpEmulator, Options, Timing

pytest.importorskip("s3fs", reason="the data tests need flowlib[s3]")

FAST = Timing(
    allocate_s=0, confirm_s=0, initialize_s=0, start_s=0.05, ssh_s=0.05, stop_s=0.1,
    resume_s=0, preempt_notice_s=1,
)  # fmt: skip
ROLE = {  # what an instance role gives every process of the VM
    "AWS_ACCESS_KEY_ID": ACCESS_KEY,
    "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
    "AWS_DEFAULT_REGION": REGION,
}
WORKLOAD = (
    'echo "$(cat "$FLOW_ROOT/data/train/a.txt") $(cat "$FLOW_ROOT/data/train/sub/b.txt")"; '
    'mkdir -p "$FLOW_ROOT/results/ckpt"; '
    'echo model > "$FLOW_ROOT/results/model.txt"; echo step5 > "$FLOW_ROOT/results/ckpt/5.txt"'
)


def emulator(tmp_path: Path, **options: object) -> FcpEmulator:
    return FcpEmulator(
        timing=FAST, workdir=tmp_path / "cloud", options=Options(stop_grace_s=1), **options
    )  # type: ignore[arg-type]


def open_flow(emu: FcpEmulator) -> Flow:
    assert emu.workdir is not None
    fcp = {
        **sandbox_settings(emu.workdir / "instances"),
        "poll_interval_s": 0.05,
    }
    return Flow(provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": fcp})


@pytest.fixture
def role_emu(tmp_path: Path) -> Iterator[FcpEmulator]:
    with emulator(tmp_path, boot_env=lambda _inst: dict(ROLE)) as emu:
        emu.start()
        yield emu
        assert emu.errors == []


@pytest.fixture
def bare_emu(tmp_path: Path) -> Iterator[FcpEmulator]:
    with emulator(tmp_path) as emu:
        emu.start()
        yield emu
        assert emu.errors == []


def test_a_task_reads_staged_data_and_its_outputs_land_in_s3(
    role_emu: FcpEmulator, s3: S3, project: Path
) -> None:
    s3.put("ds/train/a.txt", "alpha")
    s3.put("ds/train/sub/b.txt", "beta")
    with open_flow(role_emu) as flow:
        task = flow.run(
            WORKLOAD,
            instance_type="a100",
            data=f"s3://{s3.bucket}/ds",
            outputs={"/results": f"s3://{s3.bucket}/runs/1"},
            upload_code=False,
        )
        done = flow.wait(task.task_id, timeout=120)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
        assert flow.logs(task.task_id) == "alpha beta"
    assert s3.keys("runs/1/") == ["runs/1/ckpt/5.txt", "runs/1/model.txt"]
    assert s3.get("runs/1/model.txt") == b"model\n"
    (bid,) = role_emu.state.bids.values()
    script = bid.launch_specification["startup_script"]
    assert len(script) <= MAX_SCRIPT
    log = role_emu.startup_log(bid.instances[0])
    assert f"s3://{s3.bucket}/ds/ staged at /data" in log
    assert "synced to" in log
    # the client's credentials stayed here: the instance used its own (the "role")
    assert SECRET_KEY not in script and ACCESS_KEY not in script
    assert SECRET_KEY not in log
    assert role_emu.wait_until(lambda: not role_emu.live_bids(), timeout=15)


def test_credentials_the_user_puts_in_env_reach_the_instance(
    bare_emu: FcpEmulator, s3: S3, project: Path
) -> None:
    s3.put("in/x.txt", "from env credentials")
    with open_flow(bare_emu) as flow:
        task = flow.run(
            'cat "$FLOW_ROOT/data/x.txt"',
            instance_type="a100",
            data=f"s3://{s3.bucket}/in",
            env=dict(ROLE),
            upload_code=False,
        )
        done = flow.wait(task.task_id, timeout=120)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
        assert flow.logs(task.task_id) == "from env credentials"
    (bid,) = bare_emu.state.bids.values()
    assert SECRET_KEY not in bare_emu.startup_log(bid.instances[0])


def test_a_code_archive_with_data_still_fits_the_script_limit(
    role_emu: FcpEmulator, s3: S3, project: Path
) -> None:
    (project / "job.sh").write_text('cat "$FLOW_ROOT/data/x.txt"\n')
    (project / "weights.hex").write_text(os.urandom(2500).hex())  # too big to inline
    s3.put("in/x.txt", "with code")
    with open_flow(role_emu) as flow:
        task = flow.run(
            "bash job.sh",
            instance_type="a100",
            data=f"s3://{s3.bucket}/in",
            outputs={"/results": f"s3://{s3.bucket}/out"},
            code_dir=str(project),
        )
        done = flow.wait(task.task_id, timeout=120)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
        assert flow.logs(task.task_id) == "with code"
        record = flow.store.get(task.task_id)
    (bid,) = role_emu.state.bids.values()
    assert len(bid.launch_specification["startup_script"]) <= MAX_SCRIPT
    assert record is not None and record.provider_data["script_mode"] != "inline"


def test_a_missing_bucket_fails_before_any_bid_is_placed(
    role_emu: FcpEmulator, s3: S3, project: Path
) -> None:
    with open_flow(role_emu) as flow, pytest.raises(ResourceNotFoundError) as err:
        flow.run(
            "true",
            instance_type="a100",
            data="s3://flow-no-such-bucket-here/ds",
            upload_code=False,
        )
    assert "flow-no-such-bucket-here" in str(err.value) and err.value.suggestions
    assert role_emu.state.bids == {}


def test_a_volume_data_mount_creates_the_volume_and_mounts_it_at_the_target(
    role_emu: FcpEmulator, project: Path
) -> None:
    write = 'echo kept > "$FLOW_ROOT/datasets/x.txt"'
    with open_flow(role_emu) as flow:
        task = flow.run(write, instance_type="a100", data={"/datasets": "volume://datasets"})
        done = flow.wait(task.task_id, timeout=30)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
    (volume,) = role_emu.state.volumes.values()
    assert volume.name == "datasets"
    assert (role_emu.volume_data(volume.fid) / "x.txt").read_text() == "kept\n"
