"""The data flowlib speaks: what a task asks for, and what became of it.

:class:`TaskConfig` is the one description every frontend produces (a Python call, YAML, sbatch,
submitit, decorators). It is frozen: derive changed copies with ``model_copy(update=...)``.
:class:`Task` is what a provider made of it, with methods that reach back to the provider.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from flowlib._modelbase import HINT, FlowModel
from flowlib.errors import FlowError

if TYPE_CHECKING:
    from flowlib.metrics import Checkpoint, MetricRow

__all__ = [
    "Artifact",
    "ArtifactJson",
    "FlowConfig",
    "Instance",
    "InstanceStatus",
    "MountSpec",
    "PortForward",
    "Requirements",
    "StorageInterface",
    "Task",
    "TaskClient",
    "TaskConfig",
    "TaskCost",
    "TaskStatus",
    "User",
    "Volume",
    "VolumeSpec",
]

MAX_RUN_TIME_HOURS = 168.0
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,62}")
_INSTANCE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,39}")  # a VM name: at most 50 chars
_ENV_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_CACHE_KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


class TaskStatus(str, Enum):
    """Where a task is in its life. Completed/failed come from the workload's real exit code."""

    PENDING = "pending"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_terminal(self) -> bool:
        return self in (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)

    def __str__(self) -> str:
        return self.value


class InstanceStatus(str, Enum):
    PENDING = "pending"
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATED = "terminated"

    def __str__(self) -> str:
        return self.value


class StorageInterface(str, Enum):
    BLOCK = "block"
    FILE = "file"


class VolumeSpec(FlowModel):
    """A persistent volume to attach: a new one (``size_gb``) or an existing one (``volume_id``).

    ``name`` alone names an existing volume, or the one to create with ``size_gb``.
    """

    mount_path: str = "/data"
    size_gb: int | None = Field(default=None, ge=1, le=65536)
    name: str | None = None
    volume_id: str | None = None
    interface: StorageInterface = StorageInterface.BLOCK
    iops: int | None = Field(default=None, ge=100)

    @model_validator(mode="after")
    def _one_volume(self) -> VolumeSpec:
        if self.volume_id and (self.size_gb is not None or self.iops is not None):
            raise ValueError("an existing volume (volume_id) cannot take size_gb or iops")
        if not (self.volume_id or self.size_gb is not None or self.name):
            raise ValueError("give volume_id (existing), name, or size_gb (new)")
        if not self.mount_path.startswith("/"):
            raise ValueError(f"mount_path must be absolute, got {self.mount_path!r}")
        return self


class MountSpec(FlowModel):
    """Data to make visible to the task at ``target``: a host path, a volume, or an S3 URL.

    ``mount_type`` follows from ``source`` when not given: ``s3://...`` is ``s3fs`` (staged onto
    the machine), ``volume://NAME`` is ``volume``, an absolute path is ``bind``. ``read_only``
    (or ``options={"readonly": True}``) makes staged files read-only. ``cache_key`` shares one
    staged copy between tasks on a machine; ``size_estimate_gb`` is filled in by flowlib before
    submission (give it to skip listing a huge prefix). See docs/data.md.
    """

    source: str
    target: str
    mount_type: Literal["bind", "volume", "s3fs"] = "bind"
    options: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = False
    cache_key: str | None = None
    size_estimate_gb: float | None = Field(default=None, ge=0)

    @field_validator("target")
    @classmethod
    def _absolute(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"mount target must be an absolute path, got {v!r}")
        return v

    @field_validator("cache_key")
    @classmethod
    def _cache_key(cls, v: str | None) -> str | None:
        if v is not None and not _CACHE_KEY.fullmatch(v):
            raise ValueError(
                f"cache_key {v!r} must be 1-128 letters, digits, '.', '-' or '_'"
                f"{HINT}e.g. cache_key='imagenet-v2'"
            )
        return v

    @model_validator(mode="after")
    def _kind(self) -> MountSpec:
        scheme = self.source.split("://", 1)[0] if "://" in self.source else ""
        implied = {"s3": "s3fs", "volume": "volume", "": "bind"}.get(scheme)
        if implied is None:
            raise ValueError(
                f"mount source {self.source!r}: {scheme}:// is not supported"
                f"{HINT}use s3://BUCKET/PREFIX, volume://NAME or an absolute path"
            )
        if "mount_type" not in self.model_fields_set:
            self.mount_type = implied  # type: ignore[assignment]
        elif self.mount_type != implied and not (self.mount_type == "volume" and not scheme):
            raise ValueError(
                f"mount source {self.source!r} cannot be mounted as {self.mount_type!r}"
                f"{HINT}leave mount_type out: flowlib picks {implied!r} for this source"
            )
        if self.options.get("readonly") or self.options.get("read_only"):
            self.read_only = True
        return self


class Requirements(FlowModel):
    """What a task needs from the machines it runs on, as the planner reads it
    (:meth:`flowlib.Flow.plan`). Every frontend fills the same TaskConfig fields this is read
    from (:attr:`TaskConfig.requirements`); None means "no constraint".

    :ivar instance_type: a named shape (``"a100"``, ``"8xh100"``, an FCP FID).
    :ivar gpu_count: GPUs per instance, of any model unless ``instance_type`` names one
        (at least this many).
    :ivar min_gpu_memory_gb: memory of each GPU, at least.
    :ivar min_vcpus: host vCPUs per instance, at least.
    :ivar min_ram_gb: host memory per instance in GB, at least.
    :ivar max_price_per_hour: US dollars per instance-hour, at most.
    :ivar spot: True: spot capacity only; False: on-demand only; None: either.
    :ivar region: this region only.
    :ivar nodes: instances the task runs on (``num_instances``).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    instance_type: str | None = None
    gpu_count: int | None = Field(default=None, ge=1, le=64)
    min_gpu_memory_gb: int | None = Field(default=None, ge=1)
    min_vcpus: int | None = Field(default=None, ge=1)
    min_ram_gb: int | None = Field(default=None, ge=1)
    max_price_per_hour: float | None = Field(default=None, ge=0)
    spot: bool | None = None
    region: str | None = None
    nodes: int = Field(default=1, ge=1)

    @property
    def wants_hardware(self) -> bool:
        """True when the task names or describes the machine it needs (so a plan is made)."""
        return any(
            v is not None
            for v in (
                self.instance_type,
                self.gpu_count,
                self.min_gpu_memory_gb,
                self.min_vcpus,
                self.min_ram_gb,
            )
        )


class TaskCost(FlowModel):
    """What a task costs: the price it was started at (kept on the task, never looked up again)
    times the time billed so far.

    :ivar price_per_hour: US dollars per instance-hour, as recorded when the task was submitted.
    :ivar nodes: instances billed.
    :ivar hours: billed hours so far (per instance).
    :ivar amount: ``price_per_hour * nodes * hours``, US dollars.
    :ivar source: ``"provider"`` when the provider reported the billed time, ``"plan"`` when
        it comes from the plan's price and the task's start and end.
    :ivar final: True once the task ended (the amount no longer grows).
    """

    price_per_hour: float
    nodes: int = 1
    hours: float = 0.0
    amount: float = 0.0
    source: Literal["provider", "plan"] = "plan"
    spot: bool | None = None
    final: bool = False

    def __str__(self) -> str:
        return f"${self.amount:,.2f}" + ("" if self.final else " so far")


class TaskConfig(FlowModel):
    """Everything a task asks for. Exactly one of ``command``, ``shell`` or ``script``.

    At most one of ``instance_type`` and ``min_gpu_memory_gb``; neither means the provider's
    default (for ``local``: this machine as it is). ``gpu_count``, ``min_vcpus``,
    ``min_ram_gb`` and ``spot`` describe needs the planner matches against offers
    (:attr:`requirements`).
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    name: str = ""
    instance_type: str | None = None
    min_gpu_memory_gb: int | None = Field(default=None, ge=1, le=4096)
    # GPUs per instance of any model (or of the model instance_type names), at least.
    gpu_count: int | None = Field(default=None, ge=1, le=64)
    min_vcpus: int | None = Field(default=None, ge=1, le=4096)
    min_ram_gb: int | None = Field(default=None, ge=1, le=65536)
    # True: spot capacity only; False: on-demand only; None: whichever is cheaper.
    spot: bool | None = None
    command: list[str] | None = None
    shell: str | None = None
    script: str | None = None
    env: dict[str, str] = Field(default_factory=dict)
    ssh_keys: list[str] = Field(default_factory=list)
    volumes: list[VolumeSpec] = Field(default_factory=list)
    data_mounts: list[MountSpec] = Field(default_factory=list)
    outputs: dict[str, str] = Field(default_factory=dict)
    max_price_per_hour: float | None = Field(default=None, ge=0)
    max_run_time_hours: float | None = Field(default=None, gt=0, le=MAX_RUN_TIME_HOURS)
    num_instances: int = Field(default=1, ge=1, le=1024)
    image: str | None = None
    working_dir: str = "/workspace"
    region: str | None = None
    priority: int = Field(default=50, ge=0, le=100)
    auto_terminate: bool = True
    # Seconds between the stop notice (SIGTERM and FLOW_STOP_FILE: cancel, preemption, release,
    # the time limit) and the kill: the time a training loop has to save a checkpoint.
    stop_grace_s: int = Field(default=30, ge=0, le=3600)
    # Spot providers: how many times a task that lost its machine to preemption starts again
    # (from scratch) before it is reported failed.
    retries: int = Field(default=0, ge=0, le=100)
    upload_code: bool = True
    code_dir: Path | None = None
    # A persistent instance to run on (``flow run --on NAME``): kept between tasks, created on
    # first use, woken when a task comes, asleep when idle (docs/persistent-instances.md).
    instance_name: str | None = None
    # Where the machine streams the log and metric lines and uploads the exit code and results
    # (``<results>/<task id>/``); filled from the config's ``results`` when not given.
    results: str | None = None

    @field_validator("results")
    @classmethod
    def _results(cls, v: str | None) -> str | None:
        return None if not v else check_results_url(v)

    @field_validator("command", mode="before")
    @classmethod
    def _split_command(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                v = shlex.split(v)
            except ValueError as exc:
                raise ValueError(f"cannot split command {v!r}: {exc}") from None
        if isinstance(v, (list, tuple)) and not v:
            raise ValueError("command is empty")
        return v

    @field_validator("env")
    @classmethod
    def _env(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not _ENV_KEY.fullmatch(key):
                raise ValueError(f"env key {key!r} is not a valid variable name")
            if "\x00" in value:
                raise ValueError(f"env value of {key!r} contains a NUL byte")
        return v

    @field_validator("outputs")
    @classmethod
    def _outputs(cls, v: dict[str, str]) -> dict[str, str]:
        for path, url in v.items():
            if not path.startswith("/") or path.rstrip("/") == "":
                raise ValueError(
                    f"output {path!r} must be an absolute directory path"
                    f"{HINT}outputs maps a directory on the machine to a URL: "
                    "{'/results': 's3://bucket/run1'}"
                )
            if not url.startswith("s3://") or len(url) <= len("s3://"):
                raise ValueError(
                    f"output {path!r} goes to {url!r}, which is not an s3:// URL"
                    f"{HINT}e.g. {{'{path}': 's3://my-bucket/runs/run1'}}"
                )
        return v

    @field_validator("working_dir")
    @classmethod
    def _working_dir(cls, v: str) -> str:
        if not v.startswith("/"):
            raise ValueError(f"working_dir must be an absolute path, got {v!r}")
        return v

    @field_validator("instance_name")
    @classmethod
    def _instance_name(cls, v: str | None) -> str | None:
        if v is None:
            return v
        if not _INSTANCE_NAME.fullmatch(v) or v.lower().startswith("task-"):
            raise ValueError(
                f"instance_name {v!r} must be 1-40 letters, digits, '-' or '_', starting with a "
                f"letter or digit and not with 'task-'{HINT}e.g. instance_name='my-a6000'"
            )
        return v

    @field_validator("instance_type")
    @classmethod
    def _instance_type(cls, v: str | None) -> str | None:
        if v is not None and not v.strip():
            raise ValueError("instance_type is empty")
        return v.strip() if v else v

    @model_validator(mode="after")
    def _rules(self) -> TaskConfig:
        given = [k for k in ("command", "shell", "script") if getattr(self, k) is not None]
        if len(given) != 1:
            which = " and ".join(given) if given else "none"
            raise ValueError(
                f"give exactly one of command, shell or script (got {which})"
                f"{HINT}command= runs a program with arguments, shell= a shell line, "
                "script= the text of a script"
            )
        if self.instance_type is not None and self.min_gpu_memory_gb is not None:
            raise ValueError(
                "give instance_type or min_gpu_memory_gb, not both"
                f"{HINT}instance_type names the hardware; min_gpu_memory_gb lets flowlib pick it"
            )
        if self.name:
            if not _NAME.fullmatch(self.name):
                raise ValueError(
                    f"name {self.name!r} must be 1-63 letters, digits, '-' or '_', "
                    "starting with a letter or digit"
                )
        else:
            object.__setattr__(self, "name", default_name(self))
        return self

    @property
    def requirements(self) -> Requirements:
        """The task's needs as one :class:`Requirements` value (what the planner reads)."""
        return Requirements(
            instance_type=self.instance_type,
            gpu_count=self.gpu_count,
            min_gpu_memory_gb=self.min_gpu_memory_gb,
            min_vcpus=self.min_vcpus,
            min_ram_gb=self.min_ram_gb,
            max_price_per_hour=self.max_price_per_hour,
            spot=self.spot,
            region=self.region,
            nodes=self.num_instances,
        )

    @property
    def workload(self) -> str:
        """The workload as one line a person can read (for tables and messages)."""
        if self.command is not None:
            return shlex.join(self.command)
        if self.shell is not None:
            return self.shell
        return (self.script or "").strip().splitlines()[0] if self.script else ""


def check_results_url(url: str) -> str:
    """A results location as given (trailing ``/`` dropped): a URL with a scheme
    (``s3://bucket/prefix``, ``file:///abs/path``...), without a password or a query."""
    scheme, sep, rest = url.partition("://")
    if not sep or not re.fullmatch(r"[a-z][a-z0-9+.-]*", scheme) or not rest.strip("/"):
        raise ValueError(
            f"results location {url!r} is not a URL"
            f"{HINT}e.g. results: s3://my-bucket/flow-results, or file:///shared/flow-results"
        )
    if "@" in rest.split("/", 1)[0] or "?" in rest:
        raise ValueError(
            f"results location {url.split('://')[0]}://... carries credentials or a query"
            f"{HINT}give credentials the standard way (AWS_ACCESS_KEY_ID...), not in the URL"
        )
    if scheme == "file" and not rest.startswith("/"):
        raise ValueError(f"results location {url!r} must be an absolute file:/// path")
    return url.rstrip("/")


def default_name(config: TaskConfig) -> str:
    """A readable name from the workload: ``python train.py --lr 3`` -> ``train-py``."""
    words: list[str]
    if config.command is not None:
        words = list(config.command)
    elif config.shell is not None:
        words = config.shell.split()
    else:
        words = ["script"]
    if "-c" in words:  # what follows -c is inline code, not a name
        words = words[: words.index("-c")]
    interpreters = {"python", "python3", "bash", "sh", "uv", "run", "-m", "exec", "env", "sudo"}
    useful = [w for w in words if w not in interpreters and not w.startswith("-")] or words
    slug = re.sub(r"[^A-Za-z0-9]+", "-", Path(useful[0]).name if useful else "task").strip("-")
    return (slug or "task")[:40].strip("-_") or "task"


class User(FlowModel):
    user_id: str
    username: str
    email: str | None = None


class Instance(FlowModel):
    instance_id: str
    status: InstanceStatus = InstanceStatus.PENDING
    instance_type: str | None = None
    region: str | None = None
    public_ip: str | None = None
    private_ip: str | None = None
    created_at: datetime = Field(default_factory=utcnow)
    ssh_host: str | None = None
    ssh_port: int = 22
    ssh_user: str = "ubuntu"


class Volume(FlowModel):
    volume_id: str
    name: str
    size_gb: int
    region: str | None = None
    interface: StorageInterface = StorageInterface.BLOCK
    created_at: datetime = Field(default_factory=utcnow)
    attached_to: list[str] = Field(default_factory=list)


class Task(FlowModel):
    """A submitted task. Fields are a snapshot; :meth:`refresh` brings them up to date."""

    model_config = ConfigDict(extra="forbid", validate_assignment=False)

    task_id: str
    name: str
    status: TaskStatus = TaskStatus.PENDING
    provider: str = "local"
    config: TaskConfig | None = None
    created_at: datetime = Field(default_factory=utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    instance_type: str | None = None
    num_instances: int = 1
    region: str | None = None
    cost_per_hour: str | None = None
    total_cost: str | None = None
    # The price recorded at submit times the time billed so far (None: no price known).
    cost: TaskCost | None = None
    ssh_host: str | None = None
    ssh_port: int = 22
    ssh_user: str = "ubuntu"
    ssh_command: str | None = None
    endpoints: dict[str, str] = Field(default_factory=dict)
    instances: list[str] = Field(default_factory=list)
    exit_code: int | None = None
    provider_state: str | None = None
    message: str | None = None
    created_by: str | None = None

    _flow: TaskClient | None = PrivateAttr(default=None)

    def bind(self, flow: TaskClient) -> Task:
        self._flow = flow
        return self

    def _client(self) -> TaskClient:
        if self._flow is None:
            if _default_client is None:
                raise FlowError(
                    f"task {self.task_id} is not bound to a Flow client",
                    suggestions=["get tasks through flowlib.get_task(id) or Flow().get_task(id)"],
                )
            self._flow = _default_client()
        return self._flow

    @property
    def is_running(self) -> bool:
        return self.status == TaskStatus.RUNNING

    @property
    def is_terminal(self) -> bool:
        return self.status.is_terminal

    def refresh(self) -> Task:
        """Bring this snapshot up to date from the provider; returns self."""
        fresh = self._client().get_task(self.task_id)
        for field in type(self).model_fields:
            object.__setattr__(self, field, getattr(fresh, field))
        return self

    def logs(self, tail: int = 100, follow: bool = False, *, include_metrics: bool = False) -> Any:
        """The last ``tail`` lines as one string, or with ``follow=True`` an iterator of lines
        that ends when the task does. Metric lines show only with ``include_metrics``."""
        if follow:
            return self._client().follow_logs(self.task_id, include_metrics=include_metrics)
        return self._client().logs(self.task_id, tail=tail, include_metrics=include_metrics)

    def metrics(self) -> list[MetricRow]:
        """Rows (``step``, ``time``, ``values``) the workload logged with
        ``flowlib.log_metrics`` or ``{"__flow__": {...}}`` lines (see flowlib.metrics)."""
        return self._client().metrics(self.task_id)

    def checkpoints(self) -> list[Checkpoint]:
        """Checkpoints the workload announced (``path``, ``step``, ``time``), oldest first."""
        return self._client().checkpoints(self.task_id)

    def artifacts(self) -> list[Artifact]:
        """What this task left (log, metrics, checkpoints, outputs, results): ``kind``,
        ``name``, ``size``, ``where``; also once its machine is gone."""
        return self._client().artifacts(self.task_id)

    def download(self, path: str | None = None, target: str | Path | None = None) -> list[Path]:
        """Fetch this task's artifacts (all, or ``path``) into ``target`` (default
        ``./<task id>``); returns the files written."""
        return self._client().download(self.task_id, path, target)

    def resume(self, **fields: Any) -> Task:
        """Submit this task again from its latest checkpoint (``FLOW_RESUME_FROM``)."""
        return self._client().resume(self.task_id, **fields)

    def follow(self) -> Iterator[str]:
        return self._client().follow_logs(self.task_id)

    def wait(self, timeout: float | None = None) -> Task:
        """Block until the task ends (or ``timeout`` seconds pass: :class:`TimeoutError`)."""
        done = self._client().wait(self.task_id, timeout=timeout)
        for field in type(self).model_fields:
            object.__setattr__(self, field, getattr(done, field))
        return self

    def stop(self) -> Task:
        self._client().cancel(self.task_id)
        return self.refresh()

    def cancel(self) -> Task:
        """Alias of :meth:`stop`."""
        return self.stop()

    def get_instances(self) -> list[Instance]:
        return self._client().get_instances(self.task_id)

    def get_user(self) -> User:
        return self._client().get_user(self.task_id)

    def ssh(self, command: str | None = None, node: int = 0) -> int:
        """A shell on the task's machine (node ``node``) attached to this terminal, or with
        ``command`` that command; returns its exit code."""
        return self._client().ssh(self.task_id, command=command, node=node)

    def tunnel(self, remote_port: int, local_port: int = 0, node: int = 0) -> PortForward:
        """Port ``remote_port`` of the task's machine at ``127.0.0.1:<result.local_port>``
        until the result is closed (a context manager)."""
        return self._client().tunnel(self.task_id, remote_port, local_port, node=node)


@dataclass(frozen=True)
class Artifact:
    """One thing a task left: ``kind`` (log, metrics, checkpoint, output, result, exit_code),
    ``name`` (what ``flow download TASK NAME`` takes), ``size`` in bytes (None: unknown) and
    ``where`` it is (a path, a URL, or the provider)."""

    kind: str
    name: str
    size: int | None
    where: str

    def to_dict(self) -> ArtifactJson:
        return {"kind": self.kind, "name": self.name, "size": self.size, "where": self.where}


class ArtifactJson(TypedDict):
    """:meth:`Artifact.to_dict` (``flow artifacts --json``, the dashboard)."""

    kind: str
    name: str
    size: int | None
    where: str


class PortForward(Protocol):
    """A forwarded port, open until :meth:`close` (also a context manager)."""

    local_port: int
    remote_port: int

    def close(self) -> None: ...

    def is_open(self) -> bool:
        """False once closed, or once the forward died (the connection dropped)."""
        ...

    def __enter__(self) -> PortForward: ...

    def __exit__(self, *exc: object) -> None: ...


class TaskClient(Protocol):
    """What a :class:`Task` handle asks of the client it is bound to (:class:`flowlib.Flow`
    is one): the handle's methods are these calls with the task's id."""

    def get_task(self, ref: str) -> Task: ...

    def logs(self, ref: str, tail: int | None = 100, *, include_metrics: bool = False) -> str: ...

    def follow_logs(
        self, ref: str, tail: int | None = None, *, include_metrics: bool = False
    ) -> Iterator[str]: ...

    def metrics(self, ref: str) -> list[MetricRow]: ...

    def checkpoints(self, ref: str) -> list[Checkpoint]: ...

    def artifacts(self, ref: str) -> list[Artifact]: ...

    def download(
        self, ref: str, path: str | None = None, target: str | Path | None = None
    ) -> list[Path]: ...

    def resume(self, ref: str, **fields: Any) -> Task: ...

    def wait(self, ref: str, timeout: float | None = None) -> Task: ...

    def cancel(self, ref: str) -> Task: ...

    def get_instances(self, ref: str) -> list[Instance]: ...

    def get_user(self, ref: str) -> User: ...

    def ssh(self, ref: str, command: str | None = None, node: int = 0) -> int: ...

    def tunnel(
        self, ref: str, remote_port: int, local_port: int = 0, *, node: int = 0
    ) -> PortForward: ...


# The engine (a layer above) registers how to build a client for tasks that were made without
# one (e.g. deserialized), so this module never imports it.
_default_client: Callable[[], TaskClient] | None = None


def set_default_client(factory: Callable[[], TaskClient]) -> None:
    global _default_client
    _default_client = factory


class FlowConfig(FlowModel):
    """Where and how flowlib talks to a provider. Built by :mod:`flowlib.config` from CLI args,
    ``FLOW_*`` variables and config files; ``api_key`` never appears in a repr or log."""

    provider: str = "local"
    api_key: SecretStr | None = None
    project: str | None = None
    region: str | None = None
    api_url: str | None = None
    home: Path = Field(default_factory=lambda: Path.home() / ".flow")
    providers: dict[str, dict[str, Any]] = Field(default_factory=dict)
    # Seconds a submit that ended unconfirmed (or whose process died) is given before a status
    # that finds nothing by the task's name calls it lost (the provider may still be creating).
    submit_settle_s: float = Field(default=60.0, ge=0)
    # Start a keeper (flowlib.keeper) while cloud tasks are live: results kept and machines
    # released even when no flowlib process is looking.
    keeper: bool = True
    # The GPU model a request for GPUs without a model means (None: the cheapest that fits).
    default_gpu: str | None = None
    # Refuse a plan whose worst case (price x nodes x max run time) is above this, in dollars.
    max_total_cost: float | None = Field(default=None, gt=0)
    # Seconds live offers from `flow catalog --refresh` are used for planning.
    catalog_ttl_s: float = Field(default=3600.0, ge=0)

    # A results location (``s3://bucket/prefix``, ``file:///path``, any fsspec URL): each task's
    # machine streams its log and metric lines there and uploads its exit code and results at
    # the end, so they outlive the machine (flowlib.results, docs/keeper.md).
    results: str | None = None

    @field_validator("results")
    @classmethod
    def _results(cls, v: str | None) -> str | None:
        return None if not v else check_results_url(v)

    def provider_settings(self, name: str | None = None) -> dict[str, Any]:
        """The settings for one provider: its own section, over the top-level values."""
        name = name or self.provider
        base: dict[str, Any] = {
            "api_key": self.api_key,
            "project": self.project,
            "region": self.region,
            "api_url": self.api_url,
        }
        section = dict(self.providers.get(name, {}))
        if "api_key" in section and not isinstance(section["api_key"], SecretStr):
            section["api_key"] = SecretStr(str(section["api_key"]))
        return {k: v for k, v in {**base, **section}.items() if v is not None}
