"""S3 data mounts and outputs on the SLURM provider: real batch jobs on the local single-node
SLURM (``scripts/slurm-up.sh``) stage from and sync to a real S3 API server (moto) on loopback.

The client's S3 credentials reach the job through SLURM's own environment passing (sbatch
exports its environment to the job; from a login node, the shell there reads them on stdin):
never through a file of the shared job directory. Every test that runs a job checks that the
secret is in none of the files the job leaves there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest
from s3server import ACCESS_KEY, S3, SECRET_KEY

from flowlib import Flow
from flowlib.core.hosts import HostAddress, SandboxHost
from flowlib.core.store import TaskRecord, new_task_id
from flowlib.errors import ResourceNotFoundError, UnsupportedError
from flowlib.models import FlowConfig, TaskConfig, TaskStatus
from flowlib.providers.base import ProviderContext, TaskState
from flowlib.providers.slurm import create
from flowlib.providers.slurm._provider import SlurmProvider

pytest.importorskip("s3fs", reason="the data tests need flowlib[s3]")
pytestmark = pytest.mark.slow

WAIT = 90
READ_DATA = (
    'echo "$(cat "$FLOW_ROOT/data/train/a.txt") $(cat "$FLOW_ROOT/data/train/sub/b.txt")"; '
    'mkdir -p "$FLOW_ROOT/results/ckpt"; '
    'echo model > "$FLOW_ROOT/results/model.txt"; echo step5 > "$FLOW_ROOT/results/ckpt/5.txt"'
)


@pytest.fixture
def flow(slurm_cluster: None, project: Path, isolated_home: Path) -> Flow:
    return Flow(provider="slurm")


def task_dir(flow: Flow, task_id: str) -> Path:
    record = flow.store.get(task_id)
    return Path(record.provider_data["task_dir"])


def files_of(directory: Path) -> dict[str, str]:
    """The files a job leaves in its directory that a secret must never reach."""
    names = ["job.sbatch", "startup.sh", "root/var/log/flow/task.log"]
    found = {n: (directory / n).read_text() for n in names if (directory / n).exists()}
    found.update({p.name: p.read_text() for p in directory.glob("slurm-*.out")})
    assert {"job.sbatch", "startup.sh"} <= set(found) and any(n.startswith("slurm-") for n in found)
    return found


def assert_no_secret(directory: Path) -> dict[str, str]:
    found = files_of(directory)
    for name, text in found.items():
        assert SECRET_KEY not in text, f"the secret key is in {name}"
        assert ACCESS_KEY not in text, f"the access key id is in {name}"
    return found


def run_with_data(provider: SlurmProvider, s3: S3, shell: str) -> tuple[TaskState, TaskRecord]:
    """Submit ``shell`` with s3://BUCKET/in at /data straight to ``provider``; its end state."""
    from flowlib.data import resolve

    config = resolve(
        TaskConfig(
            shell=shell,
            data_mounts=[{"source": f"s3://{s3.bucket}/in", "target": "/data"}],
            upload_code=False,
        ),
        provider,
    )
    rec = TaskRecord(task_id=new_task_id(), name=config.name, provider="slurm", config=config)
    rec.provider_data.update(provider.submit(rec))
    deadline = time.monotonic() + WAIT
    while not (state := provider.status([rec])[rec.task_id]).status.is_terminal:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    return state, rec


def test_a_job_reads_staged_data_and_its_outputs_land_in_s3(flow: Flow, s3: S3) -> None:
    s3.put("ds/train/a.txt", "alpha")
    s3.put("ds/train/sub/b.txt", "beta")
    task = flow.run(
        READ_DATA,
        data=f"s3://{s3.bucket}/ds",
        outputs={"/results": f"s3://{s3.bucket}/runs/1"},
        upload_code=False,
    )
    done = flow.wait(task.task_id, timeout=WAIT)
    assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
    assert flow.logs(task.task_id) == "alpha beta"
    assert s3.keys("runs/1/") == ["runs/1/ckpt/5.txt", "runs/1/model.txt"]
    assert s3.get("runs/1/model.txt") == b"model\n"
    found = assert_no_secret(task_dir(flow, task.task_id))
    startup_log = next(text for name, text in found.items() if name.startswith("slurm-"))
    assert f"s3://{s3.bucket}/ds/ staged at /data" in startup_log
    assert f"/results synced to s3://{s3.bucket}/runs/1/" in startup_log
    # nor is it in the task store: the credentials were never part of the task
    record = flow.store.get(task.task_id)
    stored = record.config.model_dump_json() + json.dumps(record.provider_data)
    assert SECRET_KEY not in stored and ACCESS_KEY not in stored


def test_outputs_are_synced_when_the_time_limit_stops_the_workload(flow: Flow, s3: S3) -> None:
    task = flow.run(
        'mkdir -p "$FLOW_ROOT/out" && echo partial > "$FLOW_ROOT/out/step.txt" && sleep 600',
        outputs={"/out": f"s3://{s3.bucket}/limited"},
        max_run_time_hours=0.0005,  # about two seconds
        upload_code=False,
    )
    done = flow.wait(task.task_id, timeout=WAIT)
    assert (done.status, done.exit_code) == (TaskStatus.FAILED, 124), done.message
    assert s3.get("limited/step.txt") == b"partial\n"
    assert_no_secret(task_dir(flow, task.task_id))


def test_outputs_are_synced_when_the_job_is_cancelled(flow: Flow, s3: S3) -> None:
    task = flow.run(
        'mkdir -p "$FLOW_ROOT/out" && echo one > "$FLOW_ROOT/out/step-1.txt" && '
        "echo written && sleep 600",
        outputs={"/out": f"s3://{s3.bucket}/cancelled"},
        upload_code=False,
    )
    deadline = time.monotonic() + WAIT
    while "written" not in flow.logs(task.task_id):
        assert time.monotonic() < deadline, flow.get_task(task.task_id).message
        time.sleep(0.2)
    assert flow.cancel(task.task_id).status == TaskStatus.CANCELLED
    # best effort: the startup script syncs within SLURM's KillWait after scancel's SIGTERM
    while s3.keys("cancelled/") != ["cancelled/step-1.txt"]:
        assert time.monotonic() < deadline, "the outputs of a cancelled job were not synced"
        time.sleep(0.2)
    assert_no_secret(task_dir(flow, task.task_id))


def test_a_missing_bucket_is_refused_before_anything_is_submitted(
    flow: Flow, s3: S3, isolated_home: Path
) -> None:
    with pytest.raises(ResourceNotFoundError) as err:
        flow.run("true", data="s3://flow-no-such-bucket-here/ds", upload_code=False)
    assert "flow-no-such-bucket-here" in str(err.value) and err.value.suggestions
    with pytest.raises(ResourceNotFoundError):
        flow.run("true", outputs={"/out": "s3://flow-no-such-bucket-here/o"}, upload_code=False)
    assert flow.list_tasks() == []  # nothing recorded, so nothing was written or sbatch'ed
    assert not (isolated_home / ".flow" / "slurm").exists()


def test_a_directory_of_the_cluster_is_linked_in_at_its_mount_path(
    flow: Flow, tmp_path: Path
) -> None:
    shared = tmp_path / "shared" / "models"
    shared.mkdir(parents=True)
    (shared / "weights.txt").write_text("w=1\n")
    task = flow.run(
        'cat "$FLOW_ROOT/models/weights.txt"', data={"/models": str(shared)}, upload_code=False
    )
    done = flow.wait(task.task_id, timeout=WAIT)
    assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
    assert flow.logs(task.task_id) == "w=1"


def test_a_volume_mount_is_refused_with_the_reason(flow: Flow) -> None:
    with pytest.raises(UnsupportedError) as err:
        flow.run("true", data={"/models": "volume://pretrained"}, upload_code=False)
    assert "shared filesystem" in str(err.value)
    assert flow.list_tasks() == []


def test_cached_copies_are_shared_by_the_users_jobs(flow: Flow, s3: S3) -> None:
    from flowlib.models import MountSpec

    s3.put("cached/x.txt", "once")
    mount = MountSpec(source=f"s3://{s3.bucket}/cached", target="/data", cache_key="x-v1")
    tasks = [
        flow.run('cat "$FLOW_ROOT/data/x.txt"', data=[mount], upload_code=False) for _ in range(2)
    ]
    for task in tasks:
        done = flow.wait(task.task_id, timeout=WAIT)
        assert done.status == TaskStatus.COMPLETED, (done.message, flow.logs(task.task_id))
        assert flow.logs(task.task_id) == "once"
    cache = task_dir(flow, tasks[0].task_id).parent / "cache" / "data" / "x-v1"
    assert (cache / "x.txt").read_text() == "once"


def test_credentials_reach_a_job_submitted_on_a_login_node_through_stdin(
    slurm_cluster: None, s3: S3, tmp_path: Path, project: Path
) -> None:
    """The login node's shell has no AWS variables of its own (a SandboxHost passes only PATH,
    LANG...): the job can stage only because the credentials went along with sbatch."""
    s3.put("in/x.txt", "via the login node")
    root = tmp_path / "login-node"
    root.mkdir()
    host = SandboxHost(HostAddress("login.cluster", user="alice", instance_id="login"), root)
    context = ProviderContext(
        name="slurm",
        settings={"login_host": "alice@login.cluster"},
        home=tmp_path / "home",
        flow_config=FlowConfig(),
    )
    provider = create(context, host_factory=lambda address: host)
    assert isinstance(provider, SlurmProvider)
    state, rec = run_with_data(provider, s3, 'cat "$FLOW_ROOT/data/x.txt"')
    assert state.status == TaskStatus.COMPLETED, (state.message, list(provider.logs(rec)))
    assert list(provider.logs(rec)) == ["via the login node"]
    assert_no_secret(Path(rec.provider_data["task_dir"]))


def test_credentials_reach_a_job_submitted_over_real_ssh(
    slurm_cluster: None, sshd: Any, s3: S3, tmp_path: Path, project: Path
) -> None:
    """The production path: OpenSSH to a real sshd on loopback (which passes no AWS variable
    of this process), sbatch there, the credentials on the session's stdin."""
    s3.put("in/x.txt", "over ssh")
    address = sshd.address()
    home = Path(tempfile.mkdtemp(prefix="fl-"))  # ssh's control socket path must stay short
    try:
        context = ProviderContext(
            name="slurm",
            settings={
                "login_host": f"{address.user}@127.0.0.1:{address.port}",
                "login_key": address.key_path,
                "job_dir": str(tmp_path / "login-jobs"),
            },
            home=home,
            flow_config=FlowConfig(),
        )
        provider = create(context)
        assert isinstance(provider, SlurmProvider)
        state, rec = run_with_data(provider, s3, 'cat "$FLOW_ROOT/data/x.txt"')
        assert state.status == TaskStatus.COMPLETED, (state.message, list(provider.logs(rec)))
        assert list(provider.logs(rec)) == ["over ssh"]
        assert_no_secret(Path(rec.provider_data["task_dir"]))
    finally:
        shutil.rmtree(home, ignore_errors=True)


def test_a_job_streams_to_an_s3_results_location_and_lists_its_artifacts(
    slurm_cluster: None, project: Path, isolated_home: Path, s3: S3, tmp_path: Path
) -> None:
    with Flow(provider="slurm", results=f"s3://{s3.bucket}/slurm") as flow:
        task = flow.run(shell="echo on slurm; exit 2", upload_code=False)
        done = flow.wait(task.task_id, timeout=WAIT)
        assert (done.status, done.exit_code) == (TaskStatus.FAILED, 2)
        prefix = f"slurm/{task.task_id}/"
        deadline = time.monotonic() + 30
        while f"{prefix}exit_code" not in s3.keys(prefix) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert s3.get(f"{prefix}exit_code") == b"2 0\n"
        assert s3.get(f"{prefix}task.log") == b"on slurm\n"
        names = {a.name for a in flow.artifacts(task.task_id)}
        assert {"task.log", "metrics.jsonl", "exit_code"} <= names
        (log,) = flow.download(task.task_id, "task.log", tmp_path / "dl")
        assert log.read_text() == "on slurm\n"
        for text in files_of(task_dir(flow, task.task_id)).values():
            assert SECRET_KEY not in text  # the credentials came by SLURM's environment
