"""The engine: turns a task description into a running task, and answers questions about it.

Data flows one way: a frontend builds a :class:`TaskConfig`, :meth:`Flow.run` checks it against
the chosen provider's capabilities, lets the provider prepare it, records the task in the store,
and only then asks the provider to create anything. Status, logs, wait and cancel read the
store and ask the provider for what changed.
"""

from __future__ import annotations

import getpass
import shlex
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.errors import FlowError, TimeoutError, UnsupportedError, ValidationError
from flowlib.models import (
    FlowConfig,
    Instance,
    MountSpec,
    Task,
    TaskConfig,
    TaskStatus,
    User,
    Volume,
    set_default_client,
)
from flowlib.telemetry import annotate, span, traced

if TYPE_CHECKING:
    from flowlib.catalog import Offer
    from flowlib.core.hosts import PortForward
    from flowlib.core.store import TaskRecord, TaskStore
    from flowlib.metrics import Checkpoint, MetricRow
    from flowlib.providers import Registry
    from flowlib.providers.base import Provider

__all__ = ["Flow", "TaskLike", "wanted_features"]

TaskLike = TaskConfig | str | Path | Sequence[str]
_SHELL_OPERATORS = set("&|;<>()") | {"&&", "||", ";;", ">>", "<<"}
_SHELL_CHARS = set("$`*?~[")


class Flow:
    """A client for running and inspecting tasks.

    >>> flow = Flow()                       # settings from FLOW_* and config files
    >>> task = flow.run("python train.py")  # doctest: +SKIP
    """

    def __init__(
        self,
        config: FlowConfig | None = None,
        *,
        provider: str | None = None,
        store: TaskStore | None = None,
        registry: Registry | None = None,
        clock: Clock = SYSTEM_CLOCK,
        **settings: Any,
    ) -> None:
        if config is None:
            from flowlib.config import load_config

            config = load_config({"provider": provider, **settings})
        elif provider is not None:
            config = config.model_copy(update={"provider": provider})
        self.config = config
        self.clock = clock
        self._store = store
        self._registry = registry
        self._providers: dict[str, Provider] = {}

    # -- plumbing ---------------------------------------------------------------------
    @property
    def store(self) -> TaskStore:
        if self._store is None:
            from flowlib.core.store import TaskStore

            self._store = TaskStore.at_home(self.config.home)
        return self._store

    def provider(self, name: str | None = None) -> Provider:
        """The provider called ``name`` (default: the configured one), built once."""
        name = name or self.config.provider
        if name not in self._providers:
            if self._registry is None:
                from flowlib.providers import get_registry

                self._registry = get_registry()
            self._providers[name] = self._registry.create(name, self.config)
        return self._providers[name]

    def close(self) -> None:
        if self._store is not None:
            self._store.close()

    def __enter__(self) -> Flow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- submit -----------------------------------------------------------------------
    @traced("flow.run")
    def run(
        self,
        task: TaskLike | None = None,
        *,
        provider: str | None = None,
        wait: bool = False,
        **fields: Any,
    ) -> Task:
        """Submit a task and return its handle (``wait=True``: after it ends).

        ``task`` is a :class:`TaskConfig`, a path to a YAML task file, a command line
        (a string using shell syntax such as ``&&`` or ``$VAR`` runs as ``shell``), or an argv
        list. Keyword ``fields`` are TaskConfig fields that override it.
        """
        if "data" in fields:  # the reference's submit(data=...) form, accepted by run too
            data = fields.pop("data")
            if data is not None:
                fields["data_mounts"] = data_mounts(data)
        config = to_task_config(task, **fields)
        name = provider or self.config.provider
        handle = self._submit(check_and_prepare(self.provider(name), config), name)
        return self.wait(handle.task_id) if wait else handle

    def _submit(self, config: TaskConfig, name: str) -> Task:
        """Record the prepared ``config`` and hand it to provider ``name``; its handle."""
        record = self._record(config, name)
        annotate(task_id=record.task_id, provider=name, instance_type=config.instance_type)
        try:
            with span("provider.submit", task_id=record.task_id, provider=name):
                data = self.provider(name).submit(record)
        except BaseException as exc:
            self._submit_failed([record], exc)
            raise
        self.store.update(
            record.task_id,
            provider_data={**record.provider_data, **data},
            provider_state="submitted",
        )
        return self.get_task(record.task_id)

    @traced("flow.submit")
    def submit(
        self,
        command: TaskLike,
        *,
        gpu: str | None = None,
        data: str | Mapping[str, str] | None = None,
        **fields: Any,
    ) -> Task:
        """The reference's short form: ``submit("python train.py", gpu="a100:4",
        data="s3://bucket/data")``. ``gpu`` is an instance type; ``data`` a URL mounted at
        ``/data``, or a mapping of mount path to URL (``s3://``, ``volume://``, a local path)."""
        if gpu is not None:
            fields["instance_type"] = gpu
        if data is not None:
            fields["data_mounts"] = data_mounts(data)
        return self.run(command, **fields)

    @traced("flow.run_array")
    def run_array(
        self,
        configs: Sequence[TaskLike],
        *,
        throttle: int | None = None,
        indices: Sequence[int] | None = None,
        provider: str | None = None,
    ) -> list[Task]:
        """Submit tasks of one shape as an array (a SLURM ``--array``, a sweep), never more than
        ``throttle`` running at once; one task per index, so status, logs and cancel work per
        task, and :meth:`cancel_array` stops them all.

        A provider with ``submit_array(records, throttle=, indices=)`` gets them in one call
        (SLURM: one real array job, whose throttle SLURM enforces). Any other provider gets one
        task at a time, the next only once fewer than ``throttle`` are unfinished."""
        name = provider or self.config.provider
        chosen = self.provider(name)
        prepared = [check_and_prepare(chosen, to_task_config(c)) for c in configs]
        if indices is None:
            indices = list(range(len(prepared)))
        if len(indices) != len(prepared) or len(set(indices)) != len(indices):
            raise ValidationError(
                f"an array of {len(prepared)} tasks needs as many distinct indices, "
                f"got {list(indices)}",
                suggestions=["leave indices out to number the tasks 0, 1, 2, ..."],
            )
        if not prepared:
            return []
        native = getattr(chosen, "submit_array", None)
        if native is None:
            return self._run_throttled(prepared, throttle, name)
        records = [self._record(config, name) for config in prepared]
        group = records[0].task_id
        for index, record in zip(indices, records, strict=True):
            record.provider_data["array"] = {"id": group, "index": index}
            if record.task_id == group:
                record.provider_data["array_tasks"] = [r.task_id for r in records]
            self.store.update(record.task_id, provider_data=record.provider_data)
        annotate(task_id=group, provider=name, tasks=len(records))
        try:
            with span("provider.submit_array", task_id=group, provider=name):
                data: Mapping[str, Mapping[str, Any]] = native(
                    records, throttle=throttle, indices=list(indices)
                )
        except BaseException as exc:
            self._submit_failed(records, exc)
            raise
        for record in records:
            self.store.update(
                record.task_id,
                provider_data={**record.provider_data, **data[record.task_id]},
                provider_state="submitted",
            )
        return [self._to_task(self.store.get(r.task_id)) for r in records]

    def _run_throttled(
        self, configs: list[TaskConfig], throttle: int | None, provider: str
    ) -> list[Task]:
        """One task at a time (already prepared); only the unfinished ones are polled, and
        only while ``throttle`` of them are."""
        limit = throttle or len(configs)
        interval = getattr(self.provider(provider), "poll_interval_s", 1.0)
        submitted: list[Task] = []
        live: list[str] = []
        for config in configs:
            while len(live) >= limit:
                fresh = self._refresh([self.store.get(task_id) for task_id in live])
                live = [r.task_id for r in fresh if not r.status.is_terminal]
                if len(live) >= limit:
                    self.clock.sleep(interval)
            task = self._submit(config, provider)
            submitted.append(task)
            live.append(task.task_id)
        return submitted

    @traced("flow.cancel_array")
    def cancel_array(self, ref: str) -> list[Task]:
        """Stop every unfinished task of the array ``ref`` belongs to (any of its tasks);
        answers all of its tasks. A provider with ``cancel_array(records)`` stops them in one
        call (SLURM: ``scancel`` of the array job)."""
        record = self.store.resolve(ref)
        group = record.provider_data.get("array", {}).get("id")
        if group is None:
            raise ValidationError(
                f"task {record.task_id} ({record.name}) is not part of an array",
                suggestions=[f"cancel it alone: flow cancel {record.task_id}"],
                task_id=record.task_id,
            )
        members = [self.store.get(t) for t in self.store.get(group).provider_data["array_tasks"]]
        live = [r for r in self._refresh(members) if not r.status.is_terminal]
        live = [self.store.update(r.task_id, cancel_requested=True) for r in live]
        chosen = self.provider(record.provider)
        with span("provider.cancel_array", task_id=group, provider=record.provider):
            whole = getattr(chosen, "cancel_array", None)
            if whole is not None and live:
                whole(live)
            else:
                for r in live:
                    chosen.cancel(r)
        self._settle_cancelled(live)
        return [self._to_task(self.store.get(r.task_id)) for r in members]

    def _settle_cancelled(self, records: list[TaskRecord]) -> list[TaskRecord]:
        """After the provider's cancel: what each task is now, those still unfinished
        recorded as cancelled by the user."""
        return [
            r
            if r.status.is_terminal
            else self.store.update(
                r.task_id,
                status=TaskStatus.CANCELLED,
                message="cancelled by user",
                completed_at=_now(),
            )
            for r in self._refresh(records)
        ]

    def _submit_failed(self, records: Sequence[TaskRecord], exc: BaseException) -> None:
        """The provider refused or failed: the tasks are failed, never left pending."""
        message = exc.message if isinstance(exc, FlowError) else f"submit failed: {exc!r}"
        for record in records:
            self.store.update(
                record.task_id,
                status=TaskStatus.FAILED,
                message=message,
                provider_state="submit-failed",
                completed_at=_now(),
            )

    def _record(self, config: TaskConfig, provider: str) -> TaskRecord:
        from flowlib.core.store import TaskRecord, new_task_id

        if config.upload_code:
            code_dir = Path(config.code_dir or Path.cwd()).absolute()
            if not code_dir.is_dir():
                raise ValidationError(
                    f"the code directory {code_dir} does not exist",
                    suggestions=["set code_dir to your project directory, or upload_code=False"],
                )
            config = config.model_copy(update={"code_dir": code_dir})
        record = TaskRecord(
            task_id=new_task_id(),
            name=config.name,
            provider=provider,
            config=config,
            provider_state="submitting",
            instance_type=config.instance_type,
        )
        record.provider_data = {"created_by": _user()}
        self.store.add(record)
        return record

    # -- inspect ----------------------------------------------------------------------
    @traced("flow.get_task")
    def get_task(self, ref: str) -> Task:
        """A task by id, unique id prefix, or name (the newest with that name)."""
        record = self.store.resolve(ref)
        return self._to_task(self._refresh([record])[0])

    @traced("flow.status")
    def status(self, ref: str) -> TaskStatus:
        return self.get_task(ref).status

    @traced("flow.list_tasks")
    def list_tasks(
        self,
        status: TaskStatus | Iterable[TaskStatus] | None = None,
        limit: int = 100,
        *,
        provider: str | None = None,
        offset: int = 0,
    ) -> list[Task]:
        """Tasks newest first; unfinished ones are refreshed (one batch call per provider),
        so a status filter sees what each task is now, not what was last stored."""
        wanted = (
            [status]
            if isinstance(status, TaskStatus)
            else (None if status is None else list(status))
        )
        if wanted is None:
            records = self.store.list(provider=provider, limit=limit, offset=offset)
            return [self._to_task(r) for r in self._refresh(records)]
        # A stored pending/running task may have moved on: fetch those too, refresh, filter.
        candidates = set(wanted) | {TaskStatus.PENDING, TaskStatus.RUNNING}
        found: list[TaskRecord] = []
        skipped, page, cursor = 0, max(limit, 100), 0
        while len(found) < limit:
            batch = self.store.list(status=candidates, provider=provider, limit=page, offset=cursor)
            cursor += len(batch)
            for r in self._refresh(batch):
                if r.status in wanted:
                    if skipped < offset:
                        skipped += 1
                    elif len(found) < limit:
                        found.append(r)
            if len(batch) < page:
                break
        return [self._to_task(r) for r in found]

    def _refresh(self, records: list[TaskRecord]) -> list[TaskRecord]:
        live = [r for r in records if not r.status.is_terminal]
        by_provider: dict[str, list[TaskRecord]] = {}
        for r in live:
            by_provider.setdefault(r.provider, []).append(r)
        fresh: dict[str, TaskRecord] = {}
        for name, group in by_provider.items():
            try:
                with span("provider.status", provider=name, tasks=len(group)):
                    states = self.provider(name).status(group)
            except FlowError:
                continue  # show what the store knows; the next refresh may succeed
            for r in group:
                state = states.get(r.task_id)
                if state is None:
                    continue
                changes = _changes(r, state)
                fresh[r.task_id] = self.store.update(r.task_id, **changes) if changes else r
        return [fresh.get(r.task_id, r) for r in records]

    def _to_task(self, record: TaskRecord) -> Task:
        task = Task(
            task_id=record.task_id,
            name=record.name,
            status=record.status,
            provider=record.provider,
            config=record.config,
            created_at=record.created_at,
            started_at=record.started_at,
            completed_at=record.completed_at,
            instance_type=record.instance_type
            or ("this machine" if record.provider == "local" else None),
            num_instances=record.config.num_instances,
            region=record.config.region,
            exit_code=record.exit_code,
            provider_state=record.provider_state,
            message=record.message,
            created_by=record.provider_data.get("created_by"),
            endpoints=_endpoints(record.provider_data.get("endpoints")),
        )
        return task.bind(self)

    @traced("flow.logs")
    def logs(self, ref: str, tail: int | None = 100, *, include_metrics: bool = False) -> str:
        """The last ``tail`` lines (None: all). Metric and checkpoint lines
        (:mod:`flowlib.metrics`) are left out unless ``include_metrics``."""
        record = self.store.resolve(ref)
        return "\n".join(self._log_lines(record, tail, include_metrics))

    def _log_lines(self, record: TaskRecord, tail: int | None, include_metrics: bool) -> list[str]:
        from flowlib.metrics import is_flow_line

        provider = self.provider(record.provider)
        want = tail
        while True:
            with span("provider.logs", task_id=record.task_id, provider=record.provider):
                lines = list(provider.logs(record, tail=want))
            if include_metrics:
                return lines
            shown = [line for line in lines if not is_flow_line(line)]
            # Metric lines took room in the tail: ask for more until `tail` human lines show.
            if tail is None or want is None or len(shown) >= tail or len(lines) < want:
                return shown[-tail:] if tail else ([] if tail == 0 else shown)
            want = want * 4 if want < 100_000 else None

    @traced("flow.follow_logs")
    def follow_logs(
        self, ref: str, tail: int | None = None, *, include_metrics: bool = False
    ) -> Iterator[str]:
        """Log lines as they are written, ending when the task ends; with ``tail``, start
        from the last ``tail`` lines instead of the beginning. Metric lines are left out
        unless ``include_metrics``."""
        from flowlib.metrics import is_flow_line

        record = self.store.resolve(ref)
        for line in self.provider(record.provider).logs(record, tail=tail, follow=True):
            if include_metrics or not is_flow_line(line):
                yield line
        self._refresh([self.store.get(record.task_id)])

    # -- metrics, checkpoints, resume ---------------------------------------------------
    @traced("flow.metrics")
    def metrics(self, ref: str) -> list[MetricRow]:
        """The task's metric rows (step, time, values), from the ``{"__flow__": {...}}`` lines
        of its log (:mod:`flowlib.metrics`)."""
        from flowlib.metrics import collect

        record = self.store.resolve(ref)
        return collect(self._log_lines(record, None, True)).rows

    @traced("flow.follow_metrics")
    def follow_metrics(self, ref: str) -> Iterator[MetricRow]:
        """Metric rows as the task logs them, ending when the task ends."""
        from flowlib.metrics import iter_rows

        yield from iter_rows(self.follow_logs(ref, include_metrics=True))

    @traced("flow.checkpoints")
    def checkpoints(self, ref: str) -> list[Checkpoint]:
        """The checkpoints the task announced, oldest first. They are remembered in the task
        store, so they outlive the task's log (a released cloud instance)."""
        return self._remember_checkpoints(self.store.resolve(ref))

    def _remember_checkpoints(self, record: TaskRecord) -> list[Checkpoint]:
        from flowlib.metrics import Checkpoint, collect

        known = [Checkpoint.from_dict(c) for c in record.provider_data.get("checkpoints", [])]
        try:
            found = collect(self._log_lines(record, None, True)).checkpoints
        except FlowError:
            return known  # the log is gone (instance released): what the store remembers
        merged = list(dict.fromkeys([*known, *found]))[-100:]
        if merged != known:
            data = {**record.provider_data, "checkpoints": [c.to_dict() for c in merged]}
            self.store.update(record.task_id, provider_data=data)
        return merged

    @traced("flow.resume")
    def resume(self, ref: str, **fields: Any) -> Task:
        """Submit the task's config again, with ``FLOW_RESUME_FROM`` set to its latest
        checkpoint (and ``FLOW_RESUMED_TASK`` to its id); ``fields`` override the config."""
        record = self.store.resolve(ref)
        found = self._remember_checkpoints(record)
        if not found:
            raise ValidationError(
                f"task {record.task_id} ({record.name}) announced no checkpoint to resume from",
                suggestions=[
                    "have the workload call flowlib.log_checkpoint(path), or print "
                    '{"__flow__": {"event": "checkpoint", "path": "..."}}',
                    f"`flow logs {record.task_id} --metrics` shows the lines flow found",
                ],
                task_id=record.task_id,
            )
        env = {
            **record.config.env,
            "FLOW_RESUME_FROM": found[-1].path,
            "FLOW_RESUMED_TASK": record.task_id,
        }
        config = to_task_config(record.config, **{"env": env, **fields})
        return self.run(config, provider=record.provider)

    @traced("flow.wait")
    def wait(self, ref: str, timeout: float | None = None) -> Task:
        """Block until the task ends; :class:`TimeoutError` after ``timeout`` seconds."""
        record = self.store.resolve(ref)
        interval_cap = getattr(self.provider(record.provider), "poll_interval_s", 2.0)
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        interval = min(0.002, interval_cap)
        while True:
            record = self._refresh([self.store.get(record.task_id)])[0]
            if record.status.is_terminal:
                self._remember_checkpoints(record)
                return self._to_task(self.store.get(record.task_id))
            if deadline is not None and self.clock.monotonic() >= deadline:
                raise TimeoutError(
                    f"task {record.task_id} is still {record.status.value} after {timeout:g} s",
                    suggestions=[f"wait longer, or `flow cancel {record.task_id}`"],
                    task_id=record.task_id,
                )
            self.clock.sleep(interval)
            interval = min(interval * 1.5, interval_cap)

    @traced("flow.cancel")
    def cancel(self, ref: str) -> Task:
        """Stop a task and release what it holds. A finished task raises ValidationError."""
        record = self._refresh([self.store.resolve(ref)])[0]
        if record.status.is_terminal:
            raise ValidationError(
                f"task {record.task_id} ({record.name}) already ended: {record.status.value}",
                suggestions=["`flow status` lists the tasks still running"],
                task_id=record.task_id,
            )
        record = self.store.update(record.task_id, cancel_requested=True)
        with span("provider.cancel", task_id=record.task_id, provider=record.provider):
            self.provider(record.provider).cancel(record)
        return self._to_task(self._settle_cancelled([record])[0])

    @traced("flow.get_instances")
    def get_instances(self, ref: str) -> list[Instance]:
        record = self.store.resolve(ref)
        return self.provider(record.provider).instances(record)

    def get_user(self, ref: str) -> User:
        record = self.store.resolve(ref)
        name = str(record.provider_data.get("created_by") or _user())
        return User(user_id=name, username=name)

    @traced("flow.ssh")
    def ssh(self, ref: str, command: str | None = None, node: int = 0) -> int:
        record = self.store.resolve(ref)
        chosen = self.provider(record.provider)
        ssh = getattr(chosen, "ssh", None)
        if ssh is None:
            reason = chosen.capabilities.unsupported.get("ssh", "it has no ssh access")
            raise UnsupportedError(
                f"provider '{record.provider}' cannot open ssh: {reason}",
                suggestions=["use `flow logs` to see the task's output"],
            )
        result: int = ssh(record, command=command, node=node)
        return result

    @traced("flow.tunnel")
    def tunnel(
        self, ref: str, remote_port: int, local_port: int = 0, *, node: int = 0
    ) -> PortForward:
        """Make port ``remote_port`` of the task's machine (node ``node``) reachable at
        ``127.0.0.1:<local_port>`` here (0: a free port; see ``local_port`` on the result),
        until the result is closed. ``flow tunnel TASK 8888`` for a Jupyter server."""
        record = self._refresh([self.store.resolve(ref)])[0]
        if record.status.is_terminal:
            raise ValidationError(
                f"task {record.task_id} ({record.name}) already ended: {record.status.value}; "
                "there is nothing to connect to",
                suggestions=["`flow status` lists the tasks still running"],
                task_id=record.task_id,
            )
        chosen = self.provider(record.provider)
        forward = getattr(chosen, "forward", None)
        if forward is None:
            reason = chosen.capabilities.unsupported.get("ssh", "it cannot forward ports")
            raise UnsupportedError(
                f"provider '{record.provider}' cannot forward a port of its tasks: {reason}",
                suggestions=["have the workload listen on an address you can reach"],
                provider=record.provider,
            )
        opened: PortForward = forward(record, remote_port, local_port, node=node)
        return opened

    # -- volumes ----------------------------------------------------------------------
    def _volume_provider(self, name: str | None) -> Any:
        chosen = self.provider(name)
        if not hasattr(chosen, "create_volume"):
            reason = chosen.capabilities.unsupported.get("volumes", "it has no volumes")
            raise UnsupportedError(
                f"provider '{chosen.name}' cannot manage volumes: {reason}",
                suggestions=["choose a provider with volumes: --provider NAME"],
                provider=chosen.name,
            )
        return chosen

    @traced("flow.create_volume")
    def create_volume(
        self, size_gb: int, name: str | None = None, *, provider: str | None = None
    ) -> Volume:
        """A new persistent volume of ``size_gb`` GB (``name``: to find it by)."""
        if name is not None and any(v.name == name for v in self.list_volumes(provider=provider)):
            raise ValidationError(
                f"a volume named {name!r} already exists",
                suggestions=["pick another name, or use the existing one: volume://" + name],
            )
        volume: Volume = self._volume_provider(provider).create_volume(size_gb, name)
        return volume

    @traced("flow.list_volumes")
    def list_volumes(self, *, provider: str | None = None) -> list[Volume]:
        volumes: list[Volume] = self._volume_provider(provider).list_volumes()
        return volumes

    @traced("flow.delete_volume")
    def delete_volume(self, ref: str, *, provider: str | None = None) -> Volume:
        """Delete a volume by id or name. Refused while an unfinished task uses it."""
        chosen = self._volume_provider(provider)
        volumes: list[Volume] = chosen.list_volumes()
        volume = next((v for v in volumes if v.volume_id == ref), None) or next(
            (v for v in volumes if v.name == ref), None
        )
        if volume is None:
            from flowlib.errors import VolumeNotFoundError

            names = ", ".join(sorted(v.name for v in volumes)) or "none"
            raise VolumeNotFoundError(
                f"no volume {ref!r} on provider '{chosen.name}'",
                suggestions=[f"volumes there: {names} (`flow volume list`)"],
                provider=chosen.name,
            )
        users = [
            t
            for t in self.list_tasks(
                status=[TaskStatus.PENDING, TaskStatus.RUNNING], provider=chosen.name
            )
            if t.config is not None
            and any(
                v.volume_id == volume.volume_id or (v.volume_id is None and v.name == volume.name)
                for v in t.config.volumes
            )
        ]
        if users:
            ids = ", ".join(t.task_id for t in users)
            raise ValidationError(
                f"volume {volume.name} ({volume.volume_id}) is in use by {ids}",
                suggestions=[
                    f"wait for it to end, or cancel it first: flow cancel {users[0].task_id}"
                ],
                volume_id=volume.volume_id,
            )
        chosen.delete_volume(volume.volume_id)
        return volume

    # -- persistent instances -------------------------------------------------------------
    def persistent_instances(self, provider: str | None = None) -> Any:
        """The provider's persistent instances (tasks with ``instance_name``): an object with
        ``list()``, ``describe(name)``, ``wake(name)``, ``hibernate(name)`` and
        ``delete(name)``, answering plain dicts (docs/persistent-instances.md)."""
        chosen = self.provider(provider)
        found = getattr(chosen, "persistent", None)
        if found is None:
            reason = chosen.capabilities.unsupported.get("hibernate", "it has none")
            raise UnsupportedError(
                f"provider '{chosen.name}' has no persistent instances: {reason}",
                suggestions=["use --provider hyperstack (or set provider: hyperstack)"],
                provider=chosen.name,
            )
        return found

    def find_instances(self, **filters: Any) -> list[Offer]:
        """Offers from the catalog, cheapest first (see :func:`flowlib.catalog.find_instances`)."""
        from flowlib.catalog import get_catalog

        return get_catalog().find_instances(**filters)


set_default_client(Flow)


# -- helpers shared by the API, the CLI and the frontends -----------------------------------
def to_task_config(task: TaskLike | None = None, **fields: Any) -> TaskConfig:
    """Any accepted task description as one :class:`TaskConfig`, ``fields`` overriding."""
    if isinstance(task, TaskConfig):
        if not fields:
            return task
        return TaskConfig(**{**task.model_dump(exclude_unset=True), **fields})
    if isinstance(task, Path) or (isinstance(task, str) and _looks_like_task_file(task)):
        from flowlib.frontends.yaml import load_task_file

        return load_task_file(Path(task), **fields)
    if isinstance(task, str):
        key = "shell" if uses_shell_syntax(task) else "command"
        return TaskConfig(**{key: task, **fields})
    if task is not None:
        return TaskConfig(command=list(task), **fields)
    return TaskConfig(**fields)


def _looks_like_task_file(text: str) -> bool:
    return text.endswith((".yaml", ".yml")) and " " not in text.strip()


def uses_shell_syntax(command: str) -> bool:
    """True when ``command`` means something only a shell gives it: operators (``&&``, ``|``,
    ``>``...), expansions (``$VAR``, backticks, globs, ``~``). Such a string runs as ``shell``
    (bash reads its quotes exactly as a terminal would); any other is split into argv."""
    try:
        lexer = shlex.shlex(command, posix=True, punctuation_chars=True)
        lexer.whitespace_split = True
        if any(t in _SHELL_OPERATORS for t in lexer):
            return True
    except ValueError:
        return True
    return any(ch in _SHELL_CHARS for ch in command)


def data_mounts(data: str | Mapping[str, str] | Sequence[MountSpec] | MountSpec) -> list[MountSpec]:
    """``data=`` of :meth:`Flow.submit` as mount specs (see :func:`flowlib.data.parse_data`)."""
    from flowlib.data import parse_data

    return parse_data(data)


def wanted_features(config: TaskConfig) -> list[str]:
    """The capabilities a task needs beyond running a command."""
    from flowlib.providers.base import Feature

    wanted = []
    if config.num_instances > 1:
        wanted.append(Feature.MULTI_NODE)
    if config.volumes or any(m.mount_type == "volume" for m in config.data_mounts):
        wanted.append(Feature.VOLUMES)
    if any(m.mount_type == "volume" for m in config.data_mounts):
        wanted.append(Feature.VOLUME_MOUNTS)
    if config.outputs or any(m.mount_type != "volume" for m in config.data_mounts):
        wanted.append(Feature.DATA_MOUNTS)
    if config.image:
        wanted.append(Feature.CONTAINER_IMAGE)
    if config.instance_name:
        wanted.append(Feature.HIBERNATE)  # a persistent instance sleeps when idle
    return wanted


def check_and_prepare(provider: Provider, config: TaskConfig) -> TaskConfig:
    """Refuse, in one error, everything the provider cannot do; then let it prepare."""
    missing = provider.capabilities.missing(wanted_features(config))
    if missing:
        raise UnsupportedError(
            f"provider '{provider.name}' cannot run this task: "
            + "; ".join(f"{feature}: {reason}" for feature, reason in missing.items()),
            suggestions=["choose another provider with --provider, or drop those settings"],
            provider=provider.name,
            unsupported=sorted(missing),
        )
    if config.data_mounts or config.outputs:
        from flowlib.data import expand

        config = expand(config)  # volume:// mounts become volumes; no network
    with span("provider.prepare", provider=provider.name):
        config = provider.prepare(config)
    if config.data_mounts or config.outputs or config.volumes:
        from flowlib.data import resolve

        with span("data.resolve", provider=provider.name):
            config = resolve(config, provider)  # buckets, credentials, sizes, volumes
    return config


def _changes(record: TaskRecord, state: Any) -> dict[str, Any]:
    new = {
        "status": state.status,
        "exit_code": state.exit_code,
        "provider_state": state.provider_state,
        "message": state.message,
        "started_at": state.started_at or record.started_at,
        "completed_at": state.completed_at or record.completed_at,
    }
    if state.provider_data:
        new["provider_data"] = {**record.provider_data, **state.provider_data}
    return {k: v for k, v in new.items() if getattr(record, k) != v}


def _endpoints(data: Any) -> dict[str, str]:
    """Service URLs a provider recorded (``provider_data["endpoints"]``: name -> URL)."""
    if not isinstance(data, Mapping):
        return {}
    return {str(k): str(v) for k, v in data.items()}


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
