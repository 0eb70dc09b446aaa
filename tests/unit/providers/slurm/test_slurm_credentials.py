"""How the SLURM provider hands a job the client's S3 credentials: in sbatch's environment
(which SLURM exports to the job), read from stdin on a login node; never on a command line, in
the job directory's files, or for a job that does not use S3."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from flowlib.core.hosts import HostAddress
from flowlib.core.seams import CommandResult
from flowlib.core.store import TaskRecord
from flowlib.models import TaskConfig
from flowlib.providers.base import Feature
from flowlib.providers.slurm._cluster import LocalCluster, RemoteCluster
from flowlib.providers.slurm._provider import SlurmProvider
from flowlib.providers.slurm._render import SlurmSettings

SECRET = "s3cr3t-'$(not run)'"
CLIENT_ENV = {
    "AWS_ACCESS_KEY_ID": "AKIAUNITTEST",
    "AWS_SECRET_ACCESS_KEY": SECRET,
    "AWS_DEFAULT_REGION": "eu-west-1",
    "UNRELATED": "x",
}


class LoginNode:
    """A remote host that records what it is asked to run; sbatch answers job 42."""

    address = HostAddress("login.cluster", user="alice")

    def __init__(self) -> None:
        self.calls: list[tuple[str, bytes | None]] = []
        self.files: dict[str, bytes] = {}

    def run(
        self, command: str, *, timeout: float | None = None, input: bytes | None = None
    ) -> CommandResult:
        self.calls.append((command, input))
        if "cat >" in command:
            self.files[command] = input or b""
        out = "42\n" if "sbatch --parsable" in command else "/home/alice"
        return CommandResult(("bash", "-c", command), 0, out, "")


class Runner:
    def __init__(self) -> None:
        self.envs: list[dict[str, str]] = []
        self.argvs: list[list[str]] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        self.argvs.append(list(argv))
        self.envs.append(dict(env or {}))
        return CommandResult(tuple(argv), 0, "7\n", "")


def record(**fields: object) -> TaskRecord:
    config = TaskConfig(shell="true", upload_code=False, **fields)  # type: ignore[arg-type]
    return TaskRecord(task_id="task-0123456789ab", name="t", provider="slurm", config=config)


S3_TASK = {"data_mounts": [{"source": "s3://bucket/ds/", "target": "/data"}]}


def test_on_a_login_node_credentials_travel_on_stdin_not_the_command_line() -> None:
    node = LoginNode()
    provider = SlurmProvider(
        RemoteCluster(node), SlurmSettings(), job_dir="/jobs", environ=CLIENT_ENV
    )
    provider.submit(record(**S3_TASK))
    (sbatch, secrets) = next((c, i) for c, i in node.calls if "sbatch --parsable" in c)
    assert SECRET not in sbatch and "AKIAUNITTEST" not in sbatch
    assert secrets is not None and b"export AWS_SECRET_ACCESS_KEY=" in secrets
    assert b"UNRELATED" not in secrets
    assert all(SECRET.encode() not in data for data in node.files.values())


def test_on_this_machine_credentials_are_in_sbatchs_environment_only(tmp_path: Path) -> None:
    runner = Runner()
    provider = SlurmProvider(
        LocalCluster(runner), SlurmSettings(), job_dir=str(tmp_path), environ=CLIENT_ENV
    )
    provider.submit(record(**S3_TASK))
    (argv,) = runner.argvs
    assert argv[:2] == ["sbatch", "--parsable"] and all(SECRET not in a for a in argv)
    assert runner.envs[0]["AWS_SECRET_ACCESS_KEY"] == SECRET
    written = [p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) >= 2 and all(SECRET.encode() not in data for data in written)


def test_a_job_without_s3_gets_no_credentials_from_flowlib() -> None:
    node = LoginNode()
    provider = SlurmProvider(
        RemoteCluster(node), SlurmSettings(), job_dir="/jobs", environ=CLIENT_ENV
    )
    provider.submit(record())
    ((sbatch, secrets),) = [(c, i) for c, i in node.calls if "sbatch --parsable" in c]
    assert secrets is None and "eval" not in sbatch


def test_s3_data_is_supported_and_volume_mounts_are_refused_with_a_way_out() -> None:
    provider = SlurmProvider(LocalCluster(Runner()), SlurmSettings(), job_dir="/j")
    caps = provider.capabilities
    assert caps.supports(Feature.DATA_MOUNTS)
    assert "shared filesystem" in caps.unsupported[Feature.VOLUME_MOUNTS]
