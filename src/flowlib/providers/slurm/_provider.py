"""The SLURM provider: a flowlib task is a real batch job on a SLURM cluster.

Each task gets a directory ``<job_dir>/<task_id>/`` on the filesystem the cluster shares::

    job.sbatch        the batch script (directives + run startup.sh under FLOW_ROOT=root/)
    startup.sh        the same startup script every provider runs (flowlib.core.startup)
    slurm-<id>.out    the batch job's own output (SLURM's notices, startup messages)
    root/             FLOW_ROOT: workspace/, var/log/flow/task.log, var/run/flow/exit_code ...

``submit`` writes them and runs ``sbatch --parsable``; the job id goes into the task record.
``status`` asks ``squeue`` once for every task of the poll and reads the exit-code markers the
startup script leaves (``sacct`` only for jobs that ended without one). ``logs`` reads
``task.log``; ``cancel`` is ``scancel``. Commands run here through the command-runner seam, or on
a login node (``login_host``) through the remote-host seam.

Data (docs/slurm.md, "Data and outputs"): the startup script stages ``s3://`` sources into
``root/`` before the workload and syncs ``outputs`` back after it, as on every provider. The
client's S3 credentials reach the job through SLURM's own environment passing (``sbatch``'s
environment, exported to the job), never through a file of the shared job directory; an absolute
path is linked in as a directory of the cluster's filesystem.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core.follow import follow_lines, tail_lines
from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.core.startup import CODE_ARCHIVE, EXIT_TIMEOUT, ScriptContext, build_script
from flowlib.errors import CapacityError, ProviderError, ValidationError
from flowlib.models import Instance, InstanceStatus, TaskConfig, TaskStatus
from flowlib.providers.base import Capabilities, TaskState
from flowlib.providers.slurm import UNSUPPORTED, _state
from flowlib.providers.slurm._cluster import Cluster, Markers
from flowlib.providers.slurm._render import (
    SlurmSettings,
    multi_node,
    render_array,
    render_job,
    resources,
)

if TYPE_CHECKING:
    from flowlib.core.packaging import CodeArchive
    from flowlib.core.store import TaskRecord

__all__ = ["SlurmProvider"]

_UNREACHABLE = re.compile(r"Unable to contact slurm controller|Socket timed out|Connection refused")
# What the client's S3 tools read from the environment, given to a job that reads or writes S3
# (sbatch passes its environment on to the job): never written to the job directory.
S3_ENVIRONMENT = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_REGION",
    "AWS_REGION",
)
_REJECTED_FOR_SIZE = re.compile(
    r"Requested node configuration is not available|More processors requested|"
    r"Memory specification can not be satisfied|Invalid generic resource"
)


class SlurmProvider:
    """Runs tasks as batch jobs on a SLURM cluster."""

    name = "slurm"

    def __init__(
        self,
        cluster: Cluster,
        settings: SlurmSettings,
        *,
        job_dir: str | None = None,
        clock: Clock = SYSTEM_CLOCK,
        cancel_wait_s: float = 20.0,
        environ: Mapping[str, str] | None = None,
        home: Path | None = None,
    ) -> None:
        self.cluster = cluster
        self.home = home  # flowlib's home here: never part of a code upload
        self.environ = environ  # where S3 credentials come from (None: this process's)
        self.settings = settings
        self.clock = clock
        self.cancel_wait_s = cancel_wait_s
        self.poll_interval_s = settings.poll_interval_s
        self._job_dir = job_dir or settings.job_dir

    def __repr__(self) -> str:
        return f"SlurmProvider(on {self.cluster.where}, job_dir={self._job_dir!r})"

    # -- what this provider can do -------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(UNSUPPORTED)

    def close(self) -> None:
        """Nothing to release (a shared SSH connection to a login node ends when idle)."""

    def offers(self, config: TaskConfig) -> list[Any]:
        return []

    def prepare(self, config: TaskConfig) -> TaskConfig:
        if config.min_gpu_memory_gb is not None:
            raise ValidationError(
                "the SLURM provider needs an instance type (GPU model and count), not "
                "min_gpu_memory_gb",
                suggestions=["instance_type='a100' or '4xa100'"],
                provider="slurm",
            )
        resources(config, self.settings)  # fails early on a GPU no partition has
        return config

    # -- lifecycle -----------------------------------------------------------------------
    @property
    def job_dir(self) -> str:
        if self._job_dir is None:
            self._job_dir = f"{self.cluster.home()}/.flow/slurm"
        return self._job_dir

    def task_dir(self, task_id: str) -> str:
        return f"{self.job_dir}/{task_id}"

    def _prepare_files(self, record: TaskRecord) -> str:
        """Write the task's code archive and startup script; return its directory."""
        config = record.config
        task_dir = self.task_dir(record.task_id)
        sha = None
        if config.upload_code:
            from flowlib.core.packaging import package_directory

            exclude = [self.home] if self.home is not None else []
            archive = package_directory(Path(config.code_dir or Path.cwd()), exclude=exclude)
            self.cluster.write(f"{task_dir}/root/{CODE_ARCHIVE}", archive.data, mode=0o600)
            sha = archive.sha256
        else:
            self.cluster.write(f"{task_dir}/root/var/lib/flow/.keep", b"")
        self.cluster.write(f"{task_dir}/startup.sh", self._script(record, sha).encode(), mode=0o700)
        return task_dir

    def _script(self, record: TaskRecord, sha: str | None) -> str:
        """The task's startup script: one render for the submit and the dry run."""
        config = record.config
        gpus = resources(config, self.settings).gpus_per_node
        context = ScriptContext(
            task_id=record.task_id,
            config=config,
            code_at_path=config.upload_code,
            code_sha256=sha,
            multi_node=multi_node(config, gpus),
            extra_env=self._data_env(config),
            # an absolute path is a directory of the cluster's filesystems, linked into root/
            data_links={m.target: m.source for m in config.data_mounts if m.mount_type == "bind"},
        )
        return build_script(context)

    def preview_script(self, record: TaskRecord, code: CodeArchive | None) -> str:
        """The startup script the submit would write on the cluster for ``record``; nothing is
        written (the sbatch job script around it: :func:`._render.render_job`)."""
        sha = code.sha256 if code is not None and record.config.upload_code else None
        return self._script(record, sha)

    def submit(self, record: TaskRecord) -> dict[str, Any]:
        task_dir = self._prepare_files(record)
        script = render_job(record.task_id, record.config, task_dir, self.settings)
        self.cluster.write(f"{task_dir}/job.sbatch", script.encode(), mode=0o600)
        job_id = self._sbatch(f"{task_dir}/job.sbatch", self._credentials([record.config]))
        return {"job_id": job_id, "task_dir": task_dir, "cluster": self.cluster.where}

    def submit_array(
        self,
        records: Sequence[TaskRecord],
        *,
        throttle: int | None = None,
        indices: Sequence[int] | None = None,
    ) -> dict[str, dict[str, Any]]:
        """Submit many tasks of the same shape as ONE SLURM array job (``--array=0-N%throttle``,
        or the given ``indices``, one per record): SLURM runs at most ``throttle`` at a time.
        Returns each task's provider data (its job id is ``<array id>_<index>``), keyed by
        task id."""
        if not records:
            return {}
        numbers = list(range(len(records))) if indices is None else list(indices)
        if len(numbers) != len(records) or any(i < 0 for i in numbers):
            raise ValidationError(
                f"{len(records)} array tasks need as many array indices >= 0, got {numbers}",
                suggestions=["leave indices out to number them 0, 1, 2, ..."],
                provider="slurm",
            )
        pairs = zip(numbers, records, strict=True)
        tasks = [(i, r.task_id, self._prepare_files(r)) for i, r in pairs]
        array_dir = f"{self.job_dir}/array-{records[0].task_id}"
        script = render_array(tasks, records[0].config, array_dir, self.settings, throttle=throttle)
        self.cluster.write(f"{array_dir}/job.sbatch", script.encode(), mode=0o600)
        credentials = self._credentials([r.config for r in records])
        array_id = self._sbatch(f"{array_dir}/job.sbatch", credentials)
        return {
            task_id: {
                "job_id": f"{array_id}_{index}",
                "task_dir": task_dir,
                "cluster": self.cluster.where,
            }
            for index, task_id, task_dir in tasks
        }

    def _data_env(self, config: TaskConfig) -> dict[str, str]:
        """Copies staged with a ``cache_key`` are shared by the user's tasks, next to them on
        the shared filesystem (``<job_dir>/cache/data``), not kept per task."""
        if any(m.cache_key for m in config.data_mounts):
            return {"FLOW_DATA_CACHE": f"{self.job_dir}/cache/data"}
        return {}

    def _credentials(self, configs: Sequence[TaskConfig]) -> dict[str, str]:
        """The client's S3 environment for jobs that use S3, data or results location (none
        for the others)."""
        from flowlib.data import uses_s3

        if not any(uses_s3(c) or (c.results or "").startswith("s3://") for c in configs):
            return {}  # neither S3 data nor an s3:// results location
        environ = os.environ if self.environ is None else self.environ
        return {k: environ[k] for k in S3_ENVIRONMENT if environ.get(k)}

    def _sbatch(self, script: str, secret_env: Mapping[str, str] | None = None) -> str:
        result = self.cluster.command(
            ["sbatch", "--parsable", script],
            timeout=self.settings.command_timeout_s,
            secret_env=secret_env,
        )
        job_id = result.stdout.strip().split(";")[0]
        if result.returncode == 0 and job_id.isdigit():
            return job_id
        said = _slurm_message(result.stderr or result.stdout)
        if _UNREACHABLE.search(result.stderr):
            raise ProviderError(
                f"the SLURM controller did not answer on {self.cluster.where}: {said}",
                suggestions=[
                    "check the controller: `scontrol ping`",
                    "nothing was submitted; run the task again when it is up",
                ],
                provider="slurm",
            )
        if _REJECTED_FOR_SIZE.search(result.stderr):
            raise CapacityError(
                f"SLURM rejected the job: {said}",
                suggestions=[
                    "ask for fewer GPUs, CPUs or memory than a node of the partition has",
                    "`sinfo -o '%P %G %c %m'` lists what each partition's nodes have",
                ],
                provider="slurm",
            )
        raise ProviderError(
            f"SLURM rejected the job: {said}",
            suggestions=["`sinfo` lists the partitions; check providers.slurm in the config"],
            provider="slurm",
        )

    # -- status --------------------------------------------------------------------------
    def _squeue(self, job_ids: Sequence[str]) -> dict[str, _state.JobInfo]:
        if not job_ids:
            return {}
        wanted = ",".join(sorted({j.split("_")[0] for j in job_ids}))
        result = self.cluster.command(
            ["squeue", "-h", "-t", "all", "-j", wanted, "-o", _state.SQUEUE_FORMAT],
            timeout=self.settings.command_timeout_s,
        )
        if result.returncode != 0:
            if "Invalid job id" in result.stderr:  # all of them purged from the controller
                return {}
            raise ProviderError(
                f"squeue failed on {self.cluster.where}: {_slurm_message(result.stderr)}",
                suggestions=["check the controller: `scontrol ping`"],
                provider="slurm",
            )
        return _state.parse_squeue(result.stdout)

    def _sacct(self, job_ids: Sequence[str]) -> dict[str, _state.JobInfo]:
        if not job_ids:
            return {}
        try:
            result = self.cluster.command(
                ["sacct", *_state.SACCT_ARGS, "-j", ",".join(sorted(set(job_ids)))],
                timeout=self.settings.command_timeout_s,
            )
        except ProviderError:
            return {}
        return _state.parse_sacct(result.stdout) if result.returncode == 0 else {}

    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        jobs = {r.task_id: str(r.provider_data["job_id"]) for r in records if _job(r)}
        queue = self._squeue(list(jobs.values()))
        markers = self.cluster.markers(
            {
                r.task_id: f"{r.provider_data['task_dir']}/root/var/run/flow"
                for r in records
                if _job(r)
            }
        )
        unexplained = [
            job
            for task_id, job in jobs.items()
            if markers.get(task_id, Markers()).exit_code is None
            and (job not in queue or _state.status_of(queue[job].state).is_terminal)
        ]
        accounting = self._sacct(unexplained)
        states: dict[str, TaskState] = {}
        for record in records:
            job = jobs.get(record.task_id)
            if job is None:
                states[record.task_id] = _unsubmitted(record)
                continue
            states[record.task_id] = _state_of(
                record, queue.get(job), markers.get(record.task_id, Markers()), accounting.get(job)
            )
        return states

    # -- logs ----------------------------------------------------------------------------
    def _log_path(self, record: TaskRecord) -> str | None:
        task_dir = record.provider_data.get("task_dir")
        return f"{task_dir}/root/var/log/flow/task.log" if task_dir else None

    def logs(
        self, record: TaskRecord, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        path = self._log_path(record)
        if path is None:
            return iter(())
        if not follow:
            return iter(tail_lines(self.cluster.read_from(path) or b"", tail))
        return self._follow(record, path, tail)

    def _follow(self, record: TaskRecord, path: str, tail: int | None) -> Iterator[str]:
        last_squeue = self.clock.monotonic()

        def poll(position: int) -> tuple[bytes, bool]:
            nonlocal last_squeue
            marker = self.cluster.markers({"t": _run_dir(record)}).get("t", Markers())
            finished = marker.exit_code is not None
            if not finished and self.clock.monotonic() - last_squeue >= 2.0:
                last_squeue = self.clock.monotonic()
                finished = self.status([record])[record.task_id].status.is_terminal
            return self.cluster.read_from(path, position) or b"", finished

        sleep = min(self.poll_interval_s, 0.1)
        return follow_lines(poll, lambda: self.clock.sleep(sleep), tail=tail)

    # -- control -------------------------------------------------------------------------
    def cancel(self, record: TaskRecord) -> None:
        job = _job(record)
        if job is None:
            return
        result = self.cluster.command(["scancel", job], timeout=self.settings.command_timeout_s)
        deadline = self.clock.monotonic() + self.cancel_wait_s
        while True:
            info = self._squeue([job]).get(job)
            if info is None or _state.status_of(info.state).is_terminal:
                return  # gone or ended: cancelled now, or before (idempotent)
            if result.returncode != 0:
                raise ProviderError(
                    f"scancel {job} failed: {_slurm_message(result.stderr)}",
                    suggestions=[f"cancel it on the cluster: scancel {job}"],
                    provider="slurm",
                    job_id=job,
                )
            if self.clock.monotonic() >= deadline:
                return  # SLURM has it (KillWait); status will show it cancelled
            self.clock.sleep(0.1)

    def cancel_array(self, records: Sequence[TaskRecord]) -> None:
        """Cancel the array jobs of ``records`` with one ``scancel`` (every index at once)."""
        arrays = sorted({job.split("_")[0] for r in records if (job := _job(r))})
        if not arrays:
            return
        result = self.cluster.command(["scancel", *arrays], timeout=self.settings.command_timeout_s)
        deadline = self.clock.monotonic() + self.cancel_wait_s
        while True:
            queue = self._squeue(arrays)
            if all(_state.status_of(i.state).is_terminal for i in queue.values()):
                return
            if result.returncode != 0:
                raise ProviderError(
                    f"scancel {' '.join(arrays)} failed: {_slurm_message(result.stderr)}",
                    suggestions=[f"cancel it on the cluster: scancel {' '.join(arrays)}"],
                    provider="slurm",
                )
            if self.clock.monotonic() >= deadline:
                return  # SLURM has it (KillWait); status will show it cancelled
            self.clock.sleep(0.1)

    def instances(self, record: TaskRecord) -> list[Instance]:
        job = _job(record)
        info = self._squeue([job]).get(job) if job else None
        ended = info is None or _state.status_of(info.state).is_terminal
        nodes = info.nodes if info and info.nodes not in ("", "(null)") else None
        return [
            Instance(
                instance_id=f"slurm-{job}",
                status=InstanceStatus.TERMINATED if ended else InstanceStatus.RUNNING,
                instance_type=record.instance_type,
                region=self.cluster.where,
                public_ip=None,
                private_ip=None,
                created_at=record.created_at,
                ssh_host=nodes,
                ssh_user=None,
            )
        ]


def _job(record: TaskRecord) -> str | None:
    job = record.provider_data.get("job_id")
    return str(job) if job else None


def _run_dir(record: TaskRecord) -> str:
    return f"{record.provider_data['task_dir']}/root/var/run/flow"


def _slurm_message(text: str) -> str:
    """SLURM's error lines without the ``sbatch: error:`` prefixes, on one line."""
    lines = [
        re.sub(r"^\w+: (error|fatal): ", "", line.strip())
        for line in text.splitlines()
        if line.strip()
    ]
    return "; ".join(lines) or "no message"


def _unsubmitted(record: TaskRecord) -> TaskState:
    """A task with no job id: still being submitted, or its submit ended before sbatch
    answered (the job, if sbatch made one, carries the task's name)."""
    if not record.provider_data.get("submit_abandoned"):
        return TaskState(TaskStatus.PENDING, provider_state="submitting")
    return TaskState(
        TaskStatus.FAILED,
        None,
        "submit-lost",
        f"the submit ended before sbatch gave a job id; if `squeue --name "
        f"{record.config.name}` shows a job of this task, `scancel` it",
        completed_at=datetime.now(timezone.utc),
    )


def _reason(job: _state.JobInfo | None) -> str | None:
    return job.reason if job is not None and job.reason not in ("None", "") else None


def _state_of(
    record: TaskRecord,
    job: _state.JobInfo | None,
    marker: Markers,
    accounting: _state.JobInfo | None,
) -> TaskState:
    """One task's state: the startup script's exit-code marker decides when it exists (the
    workload's real exit code); else SLURM's state, with ``sacct``'s exit code for jobs that
    ended without writing it."""
    started = marker.started_at or (job.started_at if job else None)
    raw = job.state if job else (accounting.state if accounting else None)
    if marker.exit_code is not None:
        code = marker.exit_code
        message = marker.message
        if marker.cancelled(record.cancel_requested):
            return TaskState(
                TaskStatus.CANCELLED, code, raw, "cancelled by user", started, marker.completed_at
            )
        if code == EXIT_TIMEOUT and message is None:
            message = "stopped by its time limit"
        status = TaskStatus.COMPLETED if code == 0 else TaskStatus.FAILED
        return TaskState(status, code, raw, message, started, marker.completed_at)
    if job is not None and not _state.status_of(job.state).is_terminal:
        status = _state.status_of(job.state)
        reason = _reason(job)
        waiting = status == TaskStatus.PENDING and reason is not None
        message = f"waiting in the queue: {reason}" if waiting else None
        return TaskState(status, None, job.state, message, started)
    # ended (or purged) without the startup script's marker
    ended = (job.ended_at if job else None) or datetime.now(timezone.utc)
    exit_code = accounting.exit_code if accounting else None
    if record.cancel_requested or raw == "CANCELLED":
        return TaskState(TaskStatus.CANCELLED, exit_code, raw, "cancelled", started, ended)
    if raw is None:
        message = "SLURM no longer knows the job and it left no exit code"
        return TaskState(TaskStatus.FAILED, None, "vanished", message, started, ended)
    if raw == "COMPLETED" and exit_code in (0, None):
        return TaskState(TaskStatus.COMPLETED, 0, raw, None, started, ended)
    reason = _reason(job)
    message = f"SLURM: job {raw.lower()}" + (f" ({reason})" if reason else "")
    if raw == "TIMEOUT":
        message = "stopped by SLURM's time limit"
    return TaskState(TaskStatus.FAILED, exit_code, raw, message, started, ended)
