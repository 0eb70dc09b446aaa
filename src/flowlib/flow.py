"""The engine: turns a task description into a running task, and answers questions about it.

Data flows one way: a frontend builds a :class:`TaskConfig`, :meth:`Flow.run` checks it against
the chosen provider's capabilities, lets the provider prepare it, records the task in the store,
and only then asks the provider to create anything. Status, logs, wait and cancel read the
store and ask the provider for what changed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib import _arrays, _volumes
from flowlib._cost import task_cost
from flowlib._lifecycle import Lifecycle, ended_already, user
from flowlib._planning import AUTO, has_offers, make_plan, pinned, plan_record
from flowlib.config import load_config
from flowlib.core import keeper_process
from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.core.store import TaskStore
from flowlib.data._s3 import s3_endpoint
from flowlib.describe import TaskLike, check_and_prepare, to_task_config
from flowlib.errors import CapacityError, FlowError, TimeoutError, UnsupportedError, ValidationError
from flowlib.metrics import collect, is_flow_line, iter_rows
from flowlib.models import (
    FlowConfig,
    Instance,
    Task,
    TaskConfig,
    TaskStatus,
    User,
    Volume,
    set_default_client,
)
from flowlib.providers import get_registry
from flowlib.providers.base import (
    PersistentInstanceManager,
    PersistentInstances,
    PortForwarding,
    ShellAccess,
    close_provider,
    poll_interval,
    require,
)
from flowlib.results import (
    artifacts,
    download,
    log_lines,
    prepare_results,
    remember_checkpoints,
)
from flowlib.telemetry import span, traced

if TYPE_CHECKING:
    from flowlib.catalog import Offer, Plan
    from flowlib.core.store import TaskRecord
    from flowlib.metrics import Checkpoint, MetricRow
    from flowlib.models import Artifact, PortForward
    from flowlib.providers import Registry
    from flowlib.providers.base import Provider, ProviderSpec

__all__ = ["Flow"]

_log = logging.getLogger("flowlib.plan")
_MAX_OFFERS_TRIED = 5  # the chosen offer and the next ones, when one has no capacity


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
            config = load_config({"provider": provider, **settings})
        elif provider is not None:
            config = config.model_copy(update={"provider": provider})
        self.config = config
        self.clock = clock
        self._store = store
        self._registry = registry
        self._providers: dict[str, Provider] = {}
        self._lifecycle: Lifecycle | None = None
        self._keeper_checked = float("-inf")

    # -- plumbing ---------------------------------------------------------------------
    @property
    def store(self) -> TaskStore:
        if self._store is None:
            self._store = TaskStore.at_home(self.config.home)
        return self._store

    @property
    def lifecycle(self) -> Lifecycle:
        """The service every task's record, submit, status and cancel go through
        (:mod:`flowlib._lifecycle`); arrays and batched remote calls use it too."""
        if self._lifecycle is None:
            self._lifecycle = Lifecycle(
                self.store,
                self.provider,
                clock=self.clock,
                settle_s=self.config.submit_settle_s,
                on_live=self._keep_watch,
            )
        return self._lifecycle

    @property
    def registry(self) -> Registry:
        """The providers this Flow can build (default: the installed plugins)."""
        if self._registry is None:
            self._registry = get_registry()
        return self._registry

    def provider(self, name: str | None = None) -> Provider:
        """The provider called ``name`` (default: the configured one), built once."""
        name = name or self.config.provider
        if name == "auto":
            raise ValidationError(
                "provider 'auto' is chosen per task by the planner, not a provider itself",
                suggestions=["Flow.plan(task) shows the provider a task would go to"],
            )
        if name not in self._providers:
            self._providers[name] = self.registry.create(name, self.config)
        return self._providers[name]

    def provider_spec(self, name: str | None = None) -> ProviderSpec | None:
        """How provider ``name`` (default: the configured one) announces itself: its traits
        (``runs_here``) and what it never does. None when no installed plugin offers it."""
        return self.registry.specs().get(name or self.config.provider)

    def close(self) -> None:
        """Close what this Flow opened: each provider it built (their HTTP clients), then the
        task store. The Flow may be used again afterwards (it opens them anew)."""
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            close_provider(provider)
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
        idempotency_key: str | None = None,
        **fields: Any,
    ) -> Task:
        """Submit a task and return its handle (``wait=True``: after it ends).

        ``task`` is a :class:`TaskConfig`, a path to a YAML task file, a command line
        (a string using shell syntax such as ``&&`` or ``$VAR`` runs as ``shell``), or an argv
        list. Keyword ``fields`` are TaskConfig fields that override it. With
        ``idempotency_key``, a task already submitted with that key is returned instead of a
        second one (a retried script never runs its job twice).
        """
        config = prepare_results(to_task_config(task, **fields), self.config.results)  # data= too
        name = provider or self.config.provider
        if idempotency_key is not None:
            found = self.store.find("idempotency_key", idempotency_key)
            if found is not None:
                return self.get_task(found.task_id) if not wait else self.wait(found.task_id)
        prepared, name, planned = self._prepare(config, name)
        record, new = self.lifecycle.record(
            self._with_code_dir(prepared),
            name,
            idempotency_key=idempotency_key,
            data={**_s3_note(prepared), **planned},
        )
        if new:
            self.lifecycle.submit(record)
        return self.wait(record.task_id) if wait else self.get_task(record.task_id)

    @traced("flow.plan")
    def plan(
        self, task: TaskLike | None = None, *, provider: str | None = None, **fields: Any
    ) -> Plan:
        """Where ``task`` would run and at what price, creating nothing: the chosen offer
        (provider, instance type, region, price per hour, spot or not), the other offers that
        fit, the nearest that do not and why, and the worst-case cost (price x nodes x max run
        time). ``provider="auto"`` (or ``provider: auto`` in config) plans across every
        configured provider. A provider without offers (``local``, ``slurm``) gives a plan
        without one.

        :raises CapacityError: when no offer fits, naming the nearest and what to relax.
        :raises ValidationError: when the worst case is over ``max_total_cost``.
        """
        config = to_task_config(task, **fields)
        return make_plan(self, config, provider or self.config.provider)

    def _prepare(self, config: TaskConfig, name: str) -> tuple[TaskConfig, str, dict[str, Any]]:
        """Plan, then let the chosen offer's provider prepare the task; an offer without
        capacity moves the task to the next one (and the plan kept with the task says so)."""
        plan = make_plan(self, config, name) if has_offers(self, name) else None
        if plan is None or plan.offer is None:
            return check_and_prepare(self.provider(name), config, self.registry.specs()), name, {}
        offers = [plan.offer, *plan.alternatives][:_MAX_OFFERS_TRIED]
        moved: list[str] = []
        skipped: set[str] = set()
        for index, offer in enumerate(offers):
            if offer.provider in skipped:
                continue
            try:
                prepared = check_and_prepare(
                    self.provider(offer.provider),
                    pinned(plan, config, offer),
                    self.registry.specs(),
                )
            except (CapacityError, UnsupportedError) as exc:
                unsupported = isinstance(exc, UnsupportedError)
                if (unsupported and name != AUTO) or index == len(offers) - 1:
                    exc.suggestions[:0] = moved
                    raise
                if unsupported:
                    skipped.add(offer.provider)
                note = (
                    f"{offer.provider} {offer.name} in {offer.region or 'any region'}: "
                    f"{exc.message}; moved to the next offer"
                )
                _log.warning("%s", note)
                moved.append(note)
                continue
            return prepared, offer.provider, {"plan": plan_record(plan, offer, moved)}
        raise AssertionError("unreachable: the last offer raises")  # pragma: no cover

    def _keep_watch(self, name: str) -> None:
        """Make sure a keeper watches this home when provider ``name`` releases machines only
        when looked at (:mod:`flowlib.keeper`)."""
        if not (self.config.keeper and getattr(self.provider(name), "needs_keeper", False)):
            return
        now = self.clock.monotonic()
        if now - self._keeper_checked < 5.0:  # a keeper just started needs a moment to lock
            return
        self._keeper_checked = now
        keeper_process.ensure(self.config)

    def _here(self, name: str) -> str | None:
        spec = self.provider_spec(name)
        return "this machine" if spec is not None and spec.runs_here else None

    def _with_code_dir(self, config: TaskConfig) -> TaskConfig:
        """``config`` with its code directory made absolute (checked to exist)."""
        if not config.upload_code:
            return config
        code_dir = Path(config.code_dir or Path.cwd()).absolute()
        if not code_dir.is_dir():
            raise ValidationError(
                f"the code directory {code_dir} does not exist",
                suggestions=["set code_dir to your project directory, or upload_code=False"],
            )
        return config.model_copy(update={"code_dir": code_dir})

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
        return self.run(command, data=data, **fields)

    @traced("flow.run_array")
    def run_array(
        self,
        configs: Sequence[TaskLike],
        *,
        throttle: int | None = None,
        indices: Sequence[int] | None = None,
        provider: str | None = None,
        idempotency_key: str | None = None,
    ) -> list[Task]:
        """Submit tasks of one shape as an array (a SLURM ``--array``, a sweep), never more than
        ``throttle`` running at once; one task per index, so status, logs and cancel work per
        task, and :meth:`cancel_array` stops them all (:mod:`flowlib._arrays`). With
        ``idempotency_key`` K, task ``i`` carries ``K:i`` and an array already submitted with K
        is answered instead of a second one."""
        return _arrays.run_array(
            self,
            configs,
            throttle=throttle,
            indices=indices,
            provider=provider,
            idempotency_key=idempotency_key,
        )

    @traced("flow.cancel_array")
    def cancel_array(self, ref: str) -> list[Task]:
        """Stop every unfinished task of the array ``ref`` belongs to (any of its tasks);
        answers all of its tasks."""
        return _arrays.cancel_array(self, ref)

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
        return self.lifecycle.refresh(records)

    def task_of(self, record: TaskRecord) -> Task:
        """The handle of a stored task, as this client answers it (no provider call)."""
        return self._to_task(record)

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
            instance_type=record.instance_type or self._here(record.provider),
            num_instances=record.config.num_instances,
            region=record.config.region,
            exit_code=record.exit_code,
            provider_state=record.provider_state,
            message=record.message,
            created_by=record.provider_data.get("created_by"),
            cost_per_hour=_price(record.provider_data),
            endpoints=_endpoints(record.provider_data.get("endpoints")),
        )
        cost = task_cost(record)
        if cost is not None:
            task.cost = cost
            task.total_cost = f"${cost.amount:,.2f}"
            task.cost_per_hour = task.cost_per_hour or f"${cost.price_per_hour:,.2f}"
        return task.bind(self)

    @traced("flow.logs")
    def logs(self, ref: str, tail: int | None = 100, *, include_metrics: bool = False) -> str:
        """The last ``tail`` lines (None: all). Metric and checkpoint lines
        (:mod:`flowlib.metrics`) are left out unless ``include_metrics``."""
        record = self.store.resolve(ref)
        return "\n".join(log_lines(self, record, tail, include_metrics))

    @traced("flow.follow_logs")
    def follow_logs(
        self, ref: str, tail: int | None = None, *, include_metrics: bool = False
    ) -> Iterator[str]:
        """Log lines as they are written, ending when the task ends; with ``tail``, start
        from the last ``tail`` lines instead of the beginning. Metric lines are left out
        unless ``include_metrics``."""
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
        record = self.store.resolve(ref)
        return collect(log_lines(self, record, None, True)).rows

    @traced("flow.follow_metrics")
    def follow_metrics(self, ref: str) -> Iterator[MetricRow]:
        """Metric rows as the task logs them, ending when the task ends."""
        yield from iter_rows(self.follow_logs(ref, include_metrics=True))

    @traced("flow.checkpoints")
    def checkpoints(self, ref: str) -> list[Checkpoint]:
        """The checkpoints the task announced, oldest first. They are remembered in the task
        store, so they outlive the task's log (a released cloud instance)."""
        return remember_checkpoints(self, self.store.resolve(ref))

    # -- artifacts ------------------------------------------------------------------------
    @traced("flow.artifacts")
    def artifacts(self, ref: str) -> list[Artifact]:
        """What the task left (log, metrics, checkpoints, outputs, remote-call results), each
        with its size and where it is; works after its machine is gone (:mod:`flowlib.results`)."""
        return artifacts(self, self.store.resolve(ref))

    @traced("flow.download")
    def download(
        self, ref: str, path: str | None = None, target: str | Path | None = None
    ) -> list[Path]:
        """Fetch the task's artifacts (all, or ``path`` and what is under it) into ``target``
        (default ``./<task id>``); returns the files written."""
        record = self.store.resolve(ref)
        return download(self, record, path, Path(target) if target is not None else None)

    @traced("flow.resume")
    def resume(self, ref: str, **fields: Any) -> Task:
        """Submit the task's config again, with ``FLOW_RESUME_FROM`` set to its latest
        checkpoint (and ``FLOW_RESUMED_TASK`` to its id); ``fields`` override the config."""
        record = self.store.resolve(ref)
        found = remember_checkpoints(self, record)
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
        try:
            return self.run(config, provider=record.provider)
        except FlowError as exc:
            _explain_s3_endpoint(record, exc)
            raise

    @traced("flow.wait")
    def wait(
        self,
        ref: str,
        timeout: float | None = None,
        *,
        on_poll: Callable[[Task], None] | None = None,
    ) -> Task:
        """Block until the task ends; :class:`TimeoutError` after ``timeout`` seconds.
        ``on_poll`` gets each fresh snapshot while the task is still going (what the CLI
        shows while it waits)."""
        record = self.store.resolve(ref)
        interval_cap = poll_interval(self.provider(record.provider))
        deadline = None if timeout is None else self.clock.monotonic() + timeout
        interval = min(0.002, interval_cap)
        while True:
            record = self._refresh([self.store.get(record.task_id)])[0]
            if record.status.is_terminal:
                remember_checkpoints(self, record)
                return self._to_task(self.store.get(record.task_id))
            if on_poll is not None:
                on_poll(self._to_task(record))
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
            # Release anything it may still hold (a provider's cancel is idempotent): a second
            # cancel always leaves nothing of the task live.
            with span("provider.cancel", task_id=record.task_id, provider=record.provider):
                self.provider(record.provider).cancel(record)
            raise ended_already(record)
        return self._to_task(self.lifecycle.cancel([record])[0])

    @traced("flow.get_instances")
    def get_instances(self, ref: str) -> list[Instance]:
        record = self.store.resolve(ref)
        return self.provider(record.provider).instances(record)

    def get_user(self, ref: str) -> User:
        record = self.store.resolve(ref)
        name = str(record.provider_data.get("created_by") or user())
        return User(user_id=name, username=name)

    @traced("flow.ssh")
    def ssh(self, ref: str, command: str | None = None, node: int = 0) -> int:
        record = self.store.resolve(ref)
        shell = require(self.provider(record.provider), ShellAccess, self.registry.specs())
        return shell.ssh(record, command=command, node=node)

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
        ports = require(self.provider(record.provider), PortForwarding)
        return ports.forward(record, remote_port, local_port, node=node)

    # -- volumes ----------------------------------------------------------------------
    @traced("flow.create_volume")
    def create_volume(
        self, size_gb: int, name: str | None = None, *, provider: str | None = None
    ) -> Volume:
        """A new persistent volume of ``size_gb`` GB (``name``: to find it by)."""
        return _volumes.create_volume(self, size_gb, name, provider)

    @traced("flow.list_volumes")
    def list_volumes(self, *, provider: str | None = None) -> list[Volume]:
        return _volumes.list_volumes(self, provider)

    @traced("flow.delete_volume")
    def delete_volume(self, ref: str, *, provider: str | None = None) -> Volume:
        """Delete a volume by id or name. Refused while an unfinished task uses it."""
        return _volumes.delete_volume(self, ref, provider)

    # -- persistent instances -------------------------------------------------------------
    def persistent_instances(self, provider: str | None = None) -> PersistentInstanceManager:
        """The provider's persistent instances (tasks with ``instance_name``): an object with
        ``list_all()``, ``describe(name)``, ``wake(name)``, ``hibernate(name)`` and
        ``delete(name)``, answering plain dicts (docs/persistent-instances.md)."""
        chosen = require(self.provider(provider), PersistentInstances, self.registry.specs())
        return chosen.persistent

    def find_instances(self, **filters: Any) -> list[Offer]:
        """Offers from the catalog, cheapest first (see :func:`flowlib.catalog.find_instances`)."""
        from flowlib.catalog import get_catalog

        return get_catalog().find_instances(**filters)


set_default_client(Flow)


def _price(data: Mapping[str, Any]) -> str | None:
    """The hourly price a provider recorded: a bid's limit (FCP) or the VM's price."""
    if data.get("limit_price"):
        return str(data["limit_price"])
    price = data.get("price_per_hour")
    return f"${float(price):.2f}" if isinstance(price, (int, float)) else None


def _uses_s3(config: TaskConfig) -> bool:
    sources = [m.source for m in config.data_mounts] + list(config.outputs.values())
    return any(str(s).startswith("s3://") for s in sources)


def _s3_note(config: TaskConfig) -> dict[str, Any]:
    """What a task that reads S3 data records, so that a later resume can say where it was."""
    if not _uses_s3(config):
        return {}
    return {"s3_endpoint": s3_endpoint() or "AWS"}


def _explain_s3_endpoint(record: TaskRecord, exc: FlowError) -> None:
    """A resumed task whose S3 data cannot be reached: say which endpoint the original task
    used and which one this process uses (an example's loopback S3 server ends with it)."""
    if not _uses_s3(record.config):
        return
    before = record.provider_data.get("s3_endpoint")
    now = s3_endpoint() or "AWS"
    exc.message = f"cannot resume {record.task_id} ({record.name}): {exc.message}"
    if before and before != now:
        exc.suggestions.insert(
            0,
            f"{record.task_id} read its S3 data from {before}, this process uses {now}: "
            f"set FLOW_S3_ENDPOINT_URL={before} (and its credentials) if that server still runs",
        )
    elif before:
        exc.suggestions.insert(
            0,
            f"{record.task_id} read its S3 data from {before}: it must still be running and hold "
            "the bucket (a demo's loopback S3 server, as examples/train_s3.py starts, ends "
            "with the demo)",
        )


def _endpoints(data: Any) -> dict[str, str]:
    """Service URLs a provider recorded (``provider_data["endpoints"]``: name -> URL)."""
    if not isinstance(data, Mapping):
        return {}
    return {str(k): str(v) for k, v in data.items()}
