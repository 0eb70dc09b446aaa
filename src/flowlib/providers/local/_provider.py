"""The local provider: runs the task's startup script on this machine, detached.

Each task gets a directory ``FLOW_HOME/tasks/<task_id>/``::

    startup.sh        the same script a cloud VM would run
    startup.log       the script's own messages
    root/             FLOW_ROOT: the task's "machine" (workspace/, var/log/flow/task.log, ...)

The script runs in its own session (``setsid``), so it outlives the submitting process and a
cancel can signal every process it started. State is read from the files the script leaves
(started, exit_code, message) and from the process table, so any later process can ask.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core import procs as _procs
from flowlib.core.files import open_private, write_private
from flowlib.core.follow import complete_lines, follow_lines, keep_last
from flowlib.core.seams import SYSTEM_CLOCK, Clock, CommandRunner, SubprocessRunner
from flowlib.core.startup import (
    CODE_ARCHIVE,
    EXIT_TIMEOUT,
    STOP_FILE,
    ScriptContext,
    build_script,
    read_markers,
)
from flowlib.errors import CapacityError, ProviderError
from flowlib.models import Instance, InstanceStatus, TaskConfig, TaskStatus, Volume
from flowlib.providers.base import Capabilities, Feature, TaskState
from flowlib.providers.local import (
    UNSUPPORTED,
    _data,
    _governor,
    _gpus,
    _machine,
    _monitor,
    _volumes,
)

if TYPE_CHECKING:
    from flowlib.core.packaging import CodeArchive
    from flowlib.core.store import TaskRecord
    from flowlib.models import PortForward

# Variables of the submitting shell that must not leak into a task (credentials).
_SECRET_ENV = ("FLOW_API_KEY",)
FOLLOW_POLL_S = 0.01


class LocalProvider:
    """Runs tasks as real processes on this machine."""

    name = "local"
    poll_interval_s = 0.02  # reading a few files is cheap: `wait` may poll this often

    def __init__(
        self,
        home: Path,
        *,
        runner: CommandRunner | None = None,
        clock: Clock = SYSTEM_CLOCK,
        cancel_grace_s: float | None = None,  # None: the task's stop_grace_s
        governor: _machine.GovernorSettings | None = None,
        package: Callable[[Path], CodeArchive] | None = None,
    ) -> None:
        """``package`` makes a code archive of a directory (default:
        :func:`~flowlib.core.packaging.package_directory`)."""
        self.home = Path(home)
        self.package = package
        self.governor = governor or _machine.GovernorSettings()
        self.tasks_dir = self.home / "tasks"
        self.runner = runner or SubprocessRunner()
        self.clock = clock
        self.cancel_grace_s = cancel_grace_s
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self.volumes = _volumes.LocalVolumes(self.home)

    # -- what this provider can do -------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        unsupported = dict(UNSUPPORTED)
        if not _docker_available():
            unsupported[Feature.CONTAINER_IMAGE] = (
                "running `image` needs a Docker engine, and none answers on this machine"
            )
        return Capabilities(unsupported)

    def close(self) -> None:
        """Nothing to release: tasks are processes that outlive this object."""

    def offers(self, config: TaskConfig) -> list[Any]:
        return []

    def prepare(self, config: TaskConfig) -> TaskConfig:
        _gpus.check_fits(config, self.gpus())
        self._check_governor(config)
        _data.check(config, self.volumes)
        return config

    def _check_governor(self, config: TaskConfig) -> None:
        """Refuse a task the resource governor could never start (it would wait forever)."""
        request = _governor.request_of(config)
        total_ram = _machine.total_ram_mb(Path(self.governor.meminfo))
        readings = _machine.read_gpus(self.runner) if request.gpus else []
        never = _governor.impossible(request, self.governor, readings, total_ram)
        if never is not None:
            raise CapacityError(
                f"this task can never start here: {never}",
                suggestions=[
                    "lower the threshold in the providers.local section of the config",
                    "or run it with a provider that rents GPUs (`flow catalog` lists offers)",
                ],
                provider="local",
            )

    def gpus(self) -> list[_gpus.LocalGPU]:
        return _gpus.detect_gpus(self.runner)

    # -- lifecycle -----------------------------------------------------------------------
    def task_dir(self, task_id: str) -> Path:
        return self.tasks_dir / task_id

    def _script(
        self, record: TaskRecord, links: dict[str, str], sha: str | None, limit_s: float | None
    ) -> str:
        """The task's startup script: one render for :meth:`submit` and the dry run."""
        config = record.config
        context = ScriptContext(
            task_id=record.task_id,
            # the run monitor keeps the time limit, on running time only (_monitor.py)
            config=config
            if limit_s is None
            else config.model_copy(update={"max_run_time_hours": None}),
            data_links=links,
            code_at_path=config.upload_code,
            code_sha256=sha,
            docker=config.image is not None,
        )
        return build_script(context)

    def preview_script(self, record: TaskRecord, code: CodeArchive | None) -> str:
        """The startup script :meth:`submit` would write for ``record``, creating nothing: a
        volume that does not exist yet shows the directory it would get by its name."""
        config = record.config
        links = _data.planned_links(config, self.volumes)
        sha = code.sha256 if code is not None and config.upload_code else None
        return self._script(record, links, sha, self._monitor_limit_s(config))

    def submit(self, record: TaskRecord) -> dict[str, Any]:
        config = record.config
        task_dir = self.task_dir(record.task_id)
        root = task_dir / "root"
        task_dir.mkdir(parents=True, exist_ok=True, mode=0o700)  # its files hold env and logs
        (root / "var/lib/flow").mkdir(parents=True, exist_ok=True)
        sha = None
        if config.upload_code:
            from flowlib.core.packaging import package_directory

            code_dir = Path(config.code_dir or Path.cwd())
            if self.package is not None:
                archive = self.package(code_dir)
            else:
                archive = package_directory(code_dir, exclude=[self.home])
            write_private(root / CODE_ARCHIVE, archive.data)
            sha = archive.sha256
        links, attached = _data.attach(config, self.volumes)
        limit_s = self._monitor_limit_s(config)
        script = task_dir / "startup.sh"
        write_private(script, self._script(record, links, sha, limit_s))
        env = {k: v for k, v in os.environ.items() if k not in _SECRET_ENV}
        env["FLOW_ROOT"] = str(root)
        env.update(_data.task_env(self.home))
        argv, keep = self._launcher(record, script, limit_s)
        with open_private(task_dir / "startup.log", append=True) as log:
            try:
                proc = subprocess.Popen(
                    argv,
                    cwd=root,
                    env=env,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                    close_fds=True,
                    pass_fds=keep,
                )
            except OSError as exc:
                raise ProviderError(
                    f"cannot start bash for task {record.task_id}: {exc}",
                    suggestions=["the local provider needs bash on PATH"],
                    provider="local",
                ) from exc
            finally:
                for fd in keep:
                    os.close(fd)  # the waiter holds its queue ticket's lock now
        self._children[record.task_id] = proc
        _data.record_users(attached, self.volumes, record.task_id, proc.pid)
        return {
            "pid": proc.pid,
            "start_ticks": _procs.start_ticks(proc.pid),
            "dir": str(task_dir),
            "root": str(root),
        }

    def _monitor_limit_s(self, config: TaskConfig) -> float | None:
        """The time limit the run monitor keeps instead of the script's ``timeout`` (which counts
        wall time): with ``governor: pause``, unless paused time is to count."""
        hours = config.max_run_time_hours
        if hours is None or not self.governor.pauses or self.governor.pause_counts_toward_limit:
            return None
        return max(1.0, round(hours * 3600))

    def _launcher(
        self, record: TaskRecord, script: Path, limit_s: float | None = None
    ) -> tuple[list[str], tuple[int, ...]]:
        """``bash startup.sh``, or, when the resource governor has a say, a waiter that queues
        (machine-wide, FIFO) and then execs it; and the descriptors the child must inherit."""
        request = _governor.request_of(record.config)
        free_ram = _machine.free_ram_mb(Path(self.governor.meminfo))
        if not self.governor.active(request, free_ram):  # enough RAM now: no waiter needed
            return ["bash", str(script)], ()
        ticket, fd = _governor.Queue(self.home / "governor").enqueue(record.task_id)
        spec = _governor.write_spec(
            script.parent,
            home=self.home,
            ticket=ticket,
            ticket_fd=fd,
            request=request,
            settings=self.governor,
            script=script,
            limit_s=limit_s,
        )
        return [sys.executable, "-m", _governor.__name__, str(spec)], (fd,)

    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        return {r.task_id: self._state(r) for r in records}

    def _state(self, record: TaskRecord) -> TaskState:
        run = self.task_dir(record.task_id) / "root/var/run/flow"
        child = self._children.get(record.task_id)
        if child is not None:
            child.poll()  # reap our own child so it does not linger as a zombie
        pid = record.provider_data.get("pid")
        markers = read_markers(run)
        alive = markers.exit_code is None and (
            pid is not None and _procs.alive(int(pid), record.provider_data.get("start_ticks"))
        )
        if markers.exit_code is None and not alive:
            # The workload may have written its exit code and ended between the two looks above:
            # read again before calling the task vanished.
            markers = read_markers(run)
        exit_code, message, started = markers.exit_code, markers.message, markers.started_at
        if exit_code is not None and exit_code != 0 and (run / _monitor.TIME_LIMIT_FILE).exists():
            exit_code = EXIT_TIMEOUT  # the run monitor kept the time limit, as `timeout` would
        if exit_code is not None:
            done = markers.completed_at
            if markers.cancelled(record.cancel_requested):
                return TaskState(
                    TaskStatus.CANCELLED, exit_code, "exited", "cancelled by user", started, done
                )
            status = TaskStatus.COMPLETED if exit_code == 0 else TaskStatus.FAILED
            if exit_code == EXIT_TIMEOUT and message is None:
                message = "stopped by its time limit"
            return TaskState(status, exit_code, "exited", message, started, done)
        if alive:
            if not started:
                queued = _read_text(self.task_dir(record.task_id) / _governor.QUEUED_FILE)
                if queued is not None:  # the resource governor holds it back, and says why
                    return TaskState(TaskStatus.PENDING, None, "queued", queued)
            status = TaskStatus.RUNNING if started else TaskStatus.PENDING
            pause = _monitor.read_pause(self.task_dir(record.task_id), int(pid or 0) or None)
            if pause is not None:  # the governor holds it stopped while the machine is hot
                return TaskState(status, None, "paused", pause.message(), started)
            return TaskState(status, None, "running" if started else "starting", None, started)
        if pid is None:
            if record.provider_data.get("submit_abandoned"):  # its submit ended before bash ran
                return TaskState(
                    TaskStatus.FAILED,
                    None,
                    "submit-lost",
                    "the submit ended before the task's process started",
                    completed_at=_now(),
                )
            return TaskState(TaskStatus.PENDING, provider_state="submitting")
        if record.cancel_requested:
            return TaskState(
                TaskStatus.CANCELLED, None, "killed", "cancelled by user", started, _now()
            )
        return TaskState(
            TaskStatus.FAILED,
            None,
            "vanished",
            message
            or "the task's processes ended without reporting an exit code "
            "(killed, or the machine restarted)",
            started,
            _now(),
        )

    def machine(self, records: Sequence[TaskRecord]) -> dict[str, Any]:
        """This machine as the resource governor sees it now (``flow governor``), as JSON data:
        ``gpus`` (each with its free memory, temperature and the ids of the ``records`` it was
        given to), ``ram`` (free, total, the floor), ``governor`` (the settings) and ``tasks``
        (the live ones among ``records``: status, provider state, message, GPUs; ``gpus`` None
        for a task that asked for none and so sees every GPU). Optional provider method."""
        readings = _machine.read_gpus(self.runner)
        tasks = []
        for record in records:
            state = self._state(record)
            if state.status.is_terminal:
                continue
            given = _read_text(self.task_dir(record.task_id) / _governor.GPUS_FILE)
            tasks.append(
                {
                    "task_id": record.task_id,
                    "name": record.name,
                    "status": state.status.value,
                    "provider_state": state.provider_state,
                    "message": state.message,
                    "gpus": [int(i) for i in given.split(",") if i.isdigit()] if given else None,
                }
            )
        meminfo = Path(self.governor.meminfo)
        settings = self.governor
        return {
            "gpus": [
                {
                    "index": g.index,
                    "name": g.name,
                    "memory_total_mb": g.memory_total_mb,
                    "memory_free_mb": g.memory_free_mb,
                    "temperature_c": g.temperature_c,
                    "utilization_pct": g.utilization_pct,
                    "tasks": [t["task_id"] for t in tasks if g.index in (t["gpus"] or ())],
                }
                for g in readings
            ],
            "ram": {
                "free_mb": _machine.free_ram_mb(meminfo),
                "total_mb": _machine.total_ram_mb(meminfo),
                "min_free_mb": settings.min_free_ram_mb,
            },
            "governor": {
                "mode": settings.governor,
                "max_parallel": settings.max_parallel,
                "min_free_vram_mb": settings.min_free_vram_mb,
                "max_gpu_temp_c": settings.max_gpu_temp_c,
                "sample_s": settings.sample_s,
                "resume_after_s": settings.resume_after_s,
                "max_pause_s": settings.max_pause_s,
            },
            "tasks": tasks,
        }

    def logs(
        self, record: TaskRecord, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        path = self.task_dir(record.task_id) / "root/var/log/flow/task.log"
        if not follow:
            return iter(_tail(path, tail))
        return self._follow(record, path, tail)

    def _follow(self, record: TaskRecord, path: Path, tail: int | None) -> Iterator[str]:
        exit_marker = self.task_dir(record.task_id) / "root/var/run/flow/exit_code"
        position = 0
        if tail is not None:  # start with the last `tail` complete lines, then follow
            last, position = _last_lines(path, tail)
            yield from last

        def poll(position: int) -> tuple[bytes, bool]:
            finished = exit_marker.exists() or self._state(record).status.is_terminal
            try:
                with open(path, "rb") as fh:
                    fh.seek(position)
                    return fh.read(), finished
            except FileNotFoundError:
                return b"", finished

        yield from follow_lines(poll, lambda: self.clock.sleep(FOLLOW_POLL_S), position=position)

    def cancel(self, record: TaskRecord) -> None:
        pid = record.provider_data.get("pid")
        if pid is None:
            return
        session = int(pid)
        if not _procs.alive(session, record.provider_data.get("start_ticks")) and not (
            _procs.session_members(session)
        ):
            return
        # The stop notice: the reason first, then SIGTERM; the kill after the grace period.
        stop_file = self.task_dir(record.task_id) / "root" / STOP_FILE
        with contextlib.suppress(OSError):
            if not stop_file.exists():
                stop_file.write_text("cancelled: flow cancel\n", encoding="utf-8")
        _procs.signal_session(session, signal.SIGTERM)
        _procs.signal_session(session, signal.SIGCONT)  # a paused task must see its SIGTERM
        grace = self.cancel_grace_s
        deadline = self.clock.monotonic() + (record.config.stop_grace_s if grace is None else grace)
        while _procs.session_members(session) and self.clock.monotonic() < deadline:
            child = self._children.get(record.task_id)
            if child is not None:
                child.poll()
            self.clock.sleep(0.02)
        _procs.signal_session(session, signal.SIGKILL)
        child = self._children.get(record.task_id)
        if child is not None:
            child.poll()

    # -- volumes: directories under FLOW_HOME/volumes -----------------------------------
    def create_volume(self, size_gb: int, name: str | None = None) -> Volume:
        return self.volumes.create(size_gb, name)

    def list_volumes(self) -> list[Volume]:
        return self.volumes.list()

    def delete_volume(self, volume_id: str) -> None:
        self.volumes.delete(volume_id)

    def instances(self, record: TaskRecord) -> list[Instance]:
        state = self._state(record)
        status = InstanceStatus.TERMINATED if state.status.is_terminal else InstanceStatus.RUNNING
        return [
            Instance(
                instance_id=f"local-{record.task_id}",
                status=status,
                instance_type=record.instance_type,
                region="local",
                public_ip="127.0.0.1",
                private_ip="127.0.0.1",
                created_at=record.created_at,
                ssh_host=None,
                ssh_user=os.environ.get("USER", "root"),
            )
        ]

    def read_file(self, record: TaskRecord, path: str) -> bytes | None:
        """The bytes of ``path`` (an absolute path on the task's machine, such as
        ``/workspace/.flow-remote/result.pkl``), or None when it does not exist. Optional
        provider method: remote Python calls read their results through it."""
        root = (self.task_dir(record.task_id) / "root").absolute()
        target = (root / path.lstrip("/")).resolve()
        if not target.is_relative_to(root.resolve()):
            return None  # outside the task's machine
        try:
            return target.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def forward(
        self, record: TaskRecord, remote_port: int, local_port: int = 0, node: int = 0
    ) -> PortForward:
        """A local task's ports are this machine's: the "tunnel" is the port itself, so code
        written for a cloud (``task.tunnel(8888)``, ``flow tunnel``) works unchanged here."""
        from flowlib.core.hosts import HostAddress, SandboxHost

        root = self.task_dir(record.task_id) / "root"
        return SandboxHost(HostAddress("127.0.0.1"), root).forward(remote_port, local_port)


def _docker_available() -> bool:
    return shutil.which("docker") is not None and (
        Path("/var/run/docker.sock").exists() or bool(os.environ.get("DOCKER_HOST"))
    )


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _read_text(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip() or None
    except (FileNotFoundError, NotADirectoryError):
        return None


def _last_lines(path: Path, lines: int | None) -> tuple[list[str], int]:
    """The last ``lines`` complete lines of a file, read from the end (logs can be large), and
    the offset just after them."""
    try:
        fh = open(path, "rb")  # noqa: SIM115 - closed by the `with` below
    except FileNotFoundError:
        return [], 0
    with fh:
        end = fh.seek(0, os.SEEK_END)
        data, pos = b"", end
        while pos > 0 and (lines is None or data.count(b"\n") <= lines):
            pos = max(0, pos - 64 * 1024)
            fh.seek(pos)
            data = fh.read(end - pos)
    out, complete = complete_lines(data, lines)
    return out, end - len(data) + complete


def _tail(path: Path, lines: int | None) -> list[str]:
    """The last ``lines`` lines, the unfinished last line included."""
    complete, offset = _last_lines(path, lines)
    try:
        with open(path, "rb") as fh:
            fh.seek(offset)
            rest = fh.read().decode("utf-8", "replace")
    except FileNotFoundError:
        return complete
    return keep_last([*complete, rest], lines) if rest else complete
