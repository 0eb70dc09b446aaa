"""An in-memory provider with a manual clock: for the engine's unit tests and for plugin authors.

Like fsspec's memory filesystem, :class:`FakeProvider` keeps everything in this process (tasks,
their outputs, volumes) and runs nothing: each task follows a scripted :class:`Outcome` (by
default: running for one second, then exit 0 with no output) along a :class:`ManualClock` that
moves only when told to, or when the engine sleeps on it (``Flow.wait`` polls by sleeping, so a
wait ends at once, in simulated time)::

    from flowlib.testing import FakeProvider, Outcome, fake_flow

    fake = FakeProvider()
    fake.script("python train.py", Outcome(exit_code=3, output=["epoch 1", "boom"], run_s=60))
    with fake_flow(fake, home=tmp_path) as flow:
        task = flow.run("python train.py")
        assert flow.wait(task.task_id).exit_code == 3   # 60 simulated seconds, no real ones
        assert fake.clock.monotonic() >= 60

It implements the required :class:`~flowlib.providers.base.Provider` methods and two optional
capabilities, :class:`~flowlib.providers.base.Volumes` and
:class:`~flowlib.providers.base.TaskFiles` (files a task "writes" come from its outcome);
:class:`FakeArrayProvider` adds :class:`~flowlib.providers.base.Arrays`. What it cannot do is
declared in its capabilities (``unsupported=`` replaces the defaults), so engine checks and
error messages can be tested against any mix of features.
"""

from __future__ import annotations

import contextlib
import shlex
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.errors import FlowError, ValidationError, VolumeNotFoundError
from flowlib.models import Instance, InstanceStatus, TaskConfig, TaskStatus, Volume
from flowlib.providers.base import Capabilities, Feature, ProviderSpec, TaskState
from flowlib.testing.emulators._clock import ManualClock

if TYPE_CHECKING:
    from flowlib.catalog import Offer
    from flowlib.core.store import TaskRecord
    from flowlib.flow import Flow
    from flowlib.providers.base import Provider, ProviderContext

__all__ = [
    "DEFAULT_UNSUPPORTED",
    "FakeArrayProvider",
    "FakeProvider",
    "ManualClock",
    "Outcome",
    "fake_flow",
]

DEFAULT_UNSUPPORTED: Mapping[Feature, str] = {
    Feature.SSH: "the fake provider has no machines to log in to",
    Feature.HIBERNATE: "the fake provider has no persistent instances",
    Feature.DATA_MOUNTS: "the fake provider has no machines to mount data on",
}
"""What a :class:`FakeProvider` cannot do unless told otherwise."""


@dataclass(frozen=True)
class Outcome:
    """How a fake task goes: pending for ``start_s``, running for ``run_s``, then ending with
    ``exit_code``. ``output`` lines appear in its logs once it runs; ``files`` (absolute path on
    its "machine" -> bytes) are readable through ``read_file`` once it runs. A task whose
    ``max_run_time_hours`` is shorter than ``run_s`` fails with exit code 124 at the limit."""

    exit_code: int = 0
    output: Sequence[str] = ()
    run_s: float = 1.0
    start_s: float = 0.0
    files: Mapping[str, bytes] = field(default_factory=dict)


@dataclass
class _Task:
    config: TaskConfig
    outcome: Outcome
    submitted: float
    cancelled_at: float | None = None


class FakeProvider:
    """A provider whose tasks, outputs and volumes live in memory (see the module docs).

    :param name: the provider's name (what ``--provider`` and task records say).
    :param clock: the clock tasks move along (default: a new :class:`ManualClock`); give the
        same one to :class:`~flowlib.Flow` (``fake_flow`` does).
    :param unsupported: what it cannot do, with reasons (default :data:`DEFAULT_UNSUPPORTED`).
    :param default: the :class:`Outcome` of a task no :meth:`script` matches.
    :param poll_interval_s: how often ``wait`` asks it at most.
    """

    def __init__(
        self,
        name: str = "fake",
        *,
        clock: ManualClock | None = None,
        unsupported: Mapping[Feature, str] | None = None,
        default: Outcome | None = None,
        poll_interval_s: float = 0.5,
    ) -> None:
        self.name = name
        self.clock = clock if clock is not None else ManualClock(start=0.0)
        self.unsupported = dict(DEFAULT_UNSUPPORTED if unsupported is None else unsupported)
        self.default = default or Outcome()
        self.poll_interval_s = poll_interval_s
        self.tasks: dict[str, _Task] = {}
        self.volumes: dict[str, Volume] = {}
        self.calls: list[str] = []  # method names, in order: what the engine asked
        self.status_error: FlowError | None = None
        """While set, :meth:`status` raises it: a cloud that cannot be reached, a revoked key."""
        self.closed = False
        self._scripts: dict[str, Outcome] = {}
        self._lock = threading.Lock()
        # The clock's times as dates: its "now" is the wall clock's now, when the fake is made.
        self._epoch = datetime.now(timezone.utc) - timedelta(seconds=self.clock.monotonic())

    def __repr__(self) -> str:
        return f"FakeProvider({self.name!r}, {len(self.tasks)} tasks)"

    # -- scripting -----------------------------------------------------------------------
    def script(self, command: str, outcome: Outcome) -> None:
        """Tasks whose command line is ``command`` (a ``shell`` string, or ``command`` argv
        joined as a shell would read it) go as ``outcome``."""
        self._scripts[command] = outcome

    def spec(self) -> ProviderSpec:
        """This very object as a registry entry (what a plugin's ``flowlib_providers`` returns)."""

        def factory(context: ProviderContext) -> Provider:
            return self

        return ProviderSpec(self.name, factory, "in-memory tasks", unsupported=self.unsupported)

    # -- the Provider protocol -----------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(self.unsupported)

    def offers(self, config: TaskConfig) -> list[Offer]:
        self.calls.append("offers")
        return []

    def prepare(self, config: TaskConfig) -> TaskConfig:
        self.calls.append("prepare")
        return config

    def submit(self, record: TaskRecord) -> dict[str, Any]:
        self.calls.append("submit")
        with self._lock:
            if record.task_id not in self.tasks:  # a resumed submit finds its task again
                outcome = self._scripts.get(_command_line(record.config), self.default)
                self.tasks[record.task_id] = _Task(record.config, outcome, self.clock.monotonic())
        return {"fake_id": f"fake-{record.task_id}"}

    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        self.calls.append("status")
        if self.status_error is not None:
            raise self.status_error
        return {r.task_id: self._state(r.task_id) for r in records if r.task_id in self.tasks}

    def logs(
        self, record: TaskRecord, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        self.calls.append("logs")
        task = self._task(record)
        if not follow:
            lines = list(task.outcome.output) if self._ran(task) else []
            yield from lines[-tail:] if tail else lines
            return
        while not self._state(record.task_id).status.is_terminal:
            if self._ran(task):
                break
            self.clock.sleep(self.poll_interval_s)
        if self._ran(task):
            yield from task.outcome.output
        while not self._state(record.task_id).status.is_terminal:
            self.clock.sleep(self.poll_interval_s)

    def cancel(self, record: TaskRecord) -> None:
        self.calls.append("cancel")
        task = self.tasks.get(record.task_id)
        live = task is not None and not self._state(record.task_id).status.is_terminal
        if task is not None and task.cancelled_at is None and live:
            task.cancelled_at = self.clock.monotonic()

    def instances(self, record: TaskRecord) -> list[Instance]:
        status = self._state(record.task_id).status
        state = {
            TaskStatus.PENDING: InstanceStatus.PENDING,
            TaskStatus.RUNNING: InstanceStatus.RUNNING,
        }.get(status, InstanceStatus.TERMINATED)
        return [
            Instance(
                instance_id=f"fake-{record.task_id}-{n}",
                status=state,
                instance_type=record.config.instance_type,
                region=record.config.region,
            )
            for n in range(record.config.num_instances)
        ]

    def close(self) -> None:
        self.closed = True

    # -- optional: volumes ---------------------------------------------------------------
    def create_volume(self, size_gb: int, name: str | None = None) -> Volume:
        self.calls.append("create_volume")
        if size_gb < 1:
            raise ValidationError(f"a volume needs at least 1 GB, got {size_gb}")
        volume_id = f"vol-{len(self.volumes) + 1:04d}"
        volume = Volume(volume_id=volume_id, name=name or volume_id, size_gb=size_gb)
        self.volumes[volume_id] = volume
        return volume

    def list_volumes(self) -> list[Volume]:
        self.calls.append("list_volumes")
        return sorted(self.volumes.values(), key=lambda v: v.volume_id)

    def delete_volume(self, volume_id: str) -> None:
        self.calls.append("delete_volume")
        if self.volumes.pop(volume_id, None) is None:
            raise VolumeNotFoundError(f"no volume {volume_id!r}", provider=self.name)

    # -- optional: task files ------------------------------------------------------------
    def read_file(self, record: TaskRecord, path: str) -> bytes | None:
        task = self.tasks.get(record.task_id)
        if task is None or not self._ran(task):
            return None
        return task.outcome.files.get(path)

    # -- state, from the clock -----------------------------------------------------------
    def _task(self, record: TaskRecord) -> _Task:
        task = self.tasks.get(record.task_id)
        if task is None:
            raise ValidationError(f"the fake provider never ran {record.task_id}")
        return task

    def _ran(self, task: _Task) -> bool:
        """Whether the task got as far as running."""
        began = task.submitted + task.outcome.start_s
        end = self.clock.monotonic() if task.cancelled_at is None else task.cancelled_at
        return end >= began

    def _state(self, task_id: str) -> TaskState:
        task = self.tasks[task_id]
        now = self.clock.monotonic()
        began = task.submitted + task.outcome.start_s
        run_s, code = task.outcome.run_s, task.outcome.exit_code
        limit = task.config.max_run_time_hours
        if limit is not None and limit * 3600 < run_s:
            run_s, code = limit * 3600, 124
        ends = began + run_s
        if task.cancelled_at is not None and task.cancelled_at < ends:
            return TaskState(
                TaskStatus.CANCELLED,
                provider_state="cancelled",
                started_at=self._at(began) if task.cancelled_at >= began else None,
                completed_at=self._at(task.cancelled_at),
            )
        if now < began:
            return TaskState(TaskStatus.PENDING, provider_state="queued")
        if now < ends:
            started = self._at(began)
            return TaskState(TaskStatus.RUNNING, provider_state="running", started_at=started)
        return TaskState(
            TaskStatus.COMPLETED if code == 0 else TaskStatus.FAILED,
            exit_code=code,
            provider_state="exited",
            started_at=self._at(began),
            completed_at=self._at(ends),
        )

    def _at(self, seconds: float) -> datetime:
        return self._epoch + timedelta(seconds=seconds)


class FakeArrayProvider(FakeProvider):
    """A :class:`FakeProvider` that also takes arrays in one call
    (:class:`~flowlib.providers.base.Arrays`), as SLURM does; ``arrays`` records each one."""

    def __init__(self, name: str = "fake", **options: Any) -> None:
        super().__init__(name, **options)
        self.arrays: list[dict[str, Any]] = []

    def submit_array(
        self,
        records: Sequence[TaskRecord],
        *,
        throttle: int | None = None,
        indices: Sequence[int] | None = None,
    ) -> dict[str, dict[str, Any]]:
        self.calls.append("submit_array")
        numbers = list(range(len(records))) if indices is None else list(indices)
        self.arrays.append({"tasks": [r.task_id for r in records], "throttle": throttle})
        data = {}
        for index, record in zip(numbers, records, strict=True):
            data[record.task_id] = {**self.submit(record), "index": index}
        return data

    def cancel_array(self, records: Sequence[TaskRecord]) -> None:
        self.calls.append("cancel_array")
        for record in records:
            self.cancel(record)


def _command_line(config: TaskConfig) -> str:
    if config.shell is not None:
        return config.shell
    if config.command is not None:
        return shlex.join(config.command)
    return config.script or ""


@contextlib.contextmanager
def fake_flow(
    provider: FakeProvider | None = None, *, home: Path, **settings: Any
) -> Iterator[Flow]:
    """A :class:`~flowlib.Flow` whose default provider is ``provider`` (a new
    :class:`FakeProvider` when None), on its clock, with its task store under ``home``;
    closed on exit."""
    import pluggy

    from flowlib import hookspecs
    from flowlib.flow import Flow
    from flowlib.providers import Registry

    fake = provider if provider is not None else FakeProvider()

    class _Plugin:
        @hookspecs.hookimpl
        def flowlib_providers(self) -> list[ProviderSpec]:
            return [fake.spec()]

    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    pm.register(_Plugin(), name=f"flowlib-fake-{fake.name}")
    flow = Flow(
        provider=fake.name, home=Path(home), registry=Registry(pm), clock=fake.clock, **settings
    )
    try:
        yield flow
    finally:
        flow.close()
