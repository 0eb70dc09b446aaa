"""The SLURM provider against a real local SLURM: one squeue per poll, arrays as real SLURM
arrays, SLURM's rejections surfaced, a controller that does not answer, and a login node reached
through the remote-host seam."""

from __future__ import annotations

import itertools
import shutil
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from flowlib import Flow
from flowlib.core.hosts import HostAddress, SandboxHost
from flowlib.core.seams import CommandResult, SubprocessRunner
from flowlib.core.store import TaskRecord, new_task_id
from flowlib.errors import CapacityError, ProviderError
from flowlib.models import FlowConfig, TaskConfig, TaskStatus
from flowlib.providers.base import ProviderContext
from flowlib.providers.slurm import create
from flowlib.providers.slurm._cluster import LocalCluster, RemoteCluster
from flowlib.providers.slurm._provider import SlurmProvider
from flowlib.providers.slurm._render import SlurmSettings

pytestmark = pytest.mark.slow


class CountingRunner:
    """The real subprocess runner, counting the programs it ran."""

    def __init__(self) -> None:
        self.inner = SubprocessRunner()
        self.programs: list[str] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        self.programs.append(argv[0])
        return self.inner.run(argv, timeout=timeout, env=env, input=input)


def record(config: TaskConfig) -> TaskRecord:
    return TaskRecord(task_id=new_task_id(), name=config.name, provider="slurm", config=config)


def wait_all(provider: SlurmProvider, records: list[TaskRecord], timeout: float = 60) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        states = provider.status(records)
        if all(s.status.is_terminal for s in states.values()):
            return states
        assert time.monotonic() < deadline, states
        time.sleep(0.2)


@pytest.fixture
def counting(slurm_cluster: None, tmp_path: Path, project: Path) -> tuple[SlurmProvider, Any]:
    runner = CountingRunner()
    provider = SlurmProvider(LocalCluster(runner), SlurmSettings(), job_dir=str(tmp_path / "jobs"))
    return provider, runner


def submitted(provider: SlurmProvider, config: TaskConfig) -> TaskRecord:
    rec = record(config)
    rec.provider_data.update(provider.submit(rec))
    return rec


def test_status_of_many_tasks_is_one_squeue_call(counting: tuple[SlurmProvider, Any]) -> None:
    provider, runner = counting
    records = [
        submitted(provider, TaskConfig(shell=f"echo task{i}; exit {i}", upload_code=False))
        for i in range(4)
    ]
    runner.programs.clear()
    provider.status(records)
    assert runner.programs.count("squeue") == 1
    states = wait_all(provider, records)
    assert [states[r.task_id].exit_code for r in records] == [0, 1, 2, 3]
    assert [states[r.task_id].status for r in records] == [
        TaskStatus.COMPLETED,
        TaskStatus.FAILED,
        TaskStatus.FAILED,
        TaskStatus.FAILED,
    ]


def test_an_array_is_one_real_slurm_array_with_its_throttle(
    counting: tuple[SlurmProvider, Any],
) -> None:
    provider, runner = counting
    records = [
        record(TaskConfig(shell=f"date +%s.%N; sleep 1; date +%s.%N; exit {i}", upload_code=False))
        for i in range(3)
    ]
    data = provider.submit_array(records, throttle=1)
    assert runner.programs.count("sbatch") == 1
    array_ids = {d["job_id"].split("_")[0] for d in data.values()}
    assert len(array_ids) == 1 and [d["job_id"][-2:] for d in data.values()] == ["_0", "_1", "_2"]
    for rec in records:
        rec.provider_data.update(data[rec.task_id])
    states = wait_all(provider, records)
    assert [states[r.task_id].exit_code for r in records] == [0, 1, 2]
    spans = sorted(tuple(float(x) for x in "\n".join(provider.logs(r)).split()) for r in records)
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"throttle 1 ran two array tasks at once: {spans}"


def test_a_job_slurm_rejects_surfaces_its_message_and_is_not_submitted(
    slurm_cluster: None, project: Path
) -> None:
    flow = Flow(provider="slurm")
    with pytest.raises(CapacityError, match="Requested node configuration is not available"):
        flow.run("true", instance_type="64xa100")
    (task,) = flow.list_tasks()
    assert task.status == TaskStatus.FAILED
    assert task.provider_state == "submit-failed"
    assert "job_id" not in flow.store.get(task.task_id).provider_data


def test_an_unknown_partition_is_slurms_own_message(slurm_cluster: None, project: Path) -> None:
    config = FlowConfig(providers={"slurm": {"partition": "no-such-partition"}})
    flow = Flow(config)
    with pytest.raises(ProviderError, match="Invalid partition name specified"):
        flow.run("true", provider="slurm")


def test_a_controller_that_does_not_answer_is_a_clear_error_after_a_bounded_wait(
    slurm_cluster: None, project: Path, tmp_path: Path
) -> None:
    conf = Path("/etc/slurm/slurm.conf").read_text()
    dead = tmp_path / "slurm.conf"  # the same cluster, at a port where nothing listens
    dead.write_text(conf.replace("SlurmctldPort=6817", "SlurmctldPort=6899"))
    flow = Flow(FlowConfig(providers={"slurm": {"slurm_conf": str(dead)}}))
    started = time.monotonic()
    with pytest.raises(ProviderError, match="controller did not answer") as caught:
        flow.run("true", provider="slurm")
    assert time.monotonic() - started < 60
    assert "scontrol ping" in " ".join(caught.value.suggestions)
    (task,) = flow.list_tasks()
    assert task.status == TaskStatus.FAILED and task.provider_state == "submit-failed"


def test_cancel_is_idempotent(counting: tuple[SlurmProvider, Any]) -> None:
    provider, _ = counting
    rec = submitted(provider, TaskConfig(command=["sleep", "600"], upload_code=False))
    provider.cancel(rec)
    provider.cancel(rec)
    rec = replace(rec, cancel_requested=True)
    assert provider.status([rec])[rec.task_id].status == TaskStatus.CANCELLED


def test_a_login_node_is_reached_through_the_remote_host_seam(
    slurm_cluster: None, tmp_path: Path, project: Path
) -> None:
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
    assert isinstance(provider, SlurmProvider) and isinstance(provider.cluster, RemoteCluster)
    rec = submitted(provider, TaskConfig(command=["python", "train.py"]))
    assert rec.provider_data["task_dir"].startswith(f"{root}/home/alice/.flow/slurm/")
    (state,) = wait_all(provider, [rec]).values()
    assert (state.status, state.exit_code) == (TaskStatus.COMPLETED, 0)
    assert list(provider.logs(rec)) == ["training"]
    assert list(provider.logs(rec, follow=True)) == ["training"]


@pytest.fixture
def short_home() -> Iterator[Path]:
    """A flowlib home with a short path: ssh's control socket path must stay under ~100 bytes
    (core.ssh's length check misses ssh's 17-character temporary suffix under pytest's long
    tmp_path)."""
    home = Path(tempfile.mkdtemp(prefix="fl-"))
    yield home
    shutil.rmtree(home, ignore_errors=True)


def test_a_login_node_is_reached_over_real_ssh(
    slurm_cluster: None, sshd: Any, tmp_path: Path, project: Path, short_home: Path
) -> None:
    """The production path: OpenSSH to a real sshd on loopback, which runs sbatch and squeue."""
    address = sshd.address()
    context = ProviderContext(
        name="slurm",
        settings={
            "login_host": f"{address.user}@127.0.0.1:{address.port}",
            "login_key": address.key_path,
            "job_dir": str(tmp_path / "login-jobs"),
        },
        home=short_home,
        flow_config=FlowConfig(),
    )
    provider = create(context)
    assert isinstance(provider, SlurmProvider) and isinstance(provider.cluster, RemoteCluster)
    rec = submitted(provider, TaskConfig(shell="python train.py; echo over-ssh; exit 5"))
    (state,) = wait_all(provider, [rec]).values()
    assert (state.status, state.exit_code) == (TaskStatus.FAILED, 5)
    assert list(provider.logs(rec, tail=1)) == ["over-ssh"]
    provider.cancel(rec)  # already ended: nothing to do, no error
