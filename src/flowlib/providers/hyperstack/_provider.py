"""The Hyperstack provider: one on-demand VM per task, its startup script as ``user_data``.

Life of a task::

    prepare   flavors + pricebook + stock -> the cheapest flavor in stock (errors say what exists)
    submit    environment and keypair (created once, idempotent); the VM's name is recorded in
              the store, then the VM is created, unless one with that name exists already
    status    one list call for every task; ACTIVE with a floating IP = reachable; the task's
              volumes are attached then (:mod:`._volumes`); the workload's exit code is read
              over the remote-host seam; a finished task's log is kept in FLOW_HOME and its VM
              deleted (auto_terminate; its volumes stay)
    cancel    DELETE the VM and wait until it answers 404

A task with ``instance_name`` runs on a persistent instance instead (hibernated when idle,
woken on submit): :mod:`._persistent`, reached as ``provider.persistent``.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.errors import (
    FlowError,
    ProviderError,
    StoreError,
    TaskNotFoundError,
    TimeoutError,
    UnsupportedError,
)
from flowlib.models import Instance, InstanceStatus, TaskConfig, TaskStatus, Volume
from flowlib.providers.base import Capabilities, Feature, TaskState
from flowlib.providers.hyperstack._api import HyperstackApi, Json
from flowlib.providers.hyperstack._offers import FlavorOffer, choose, matching, to_offers
from flowlib.providers.hyperstack._settings import HyperstackSettings

if TYPE_CHECKING:
    import httpx

    from flowlib.catalog import Offer
    from flowlib.core.hosts import HostFactory, RemoteHost
    from flowlib.core.store import TaskRecord

__all__ = ["USER_DATA_LIMIT", "VM_PREFIX", "HyperstackProvider", "vm_name"]

log = logging.getLogger(__name__)
VM_PREFIX = "flowlib-"
USER_DATA_LIMIT = 65_535
TASK_LOG = "/var/log/flow/task.log"
EXIT_CODE = "/var/run/flow/exit_code"
STARTED = "/var/run/flow/started"
MESSAGE = "/var/run/flow/message"
STOP_REQUESTED = "/var/run/flow/stop_requested"
# A task with no VM this long after it was created: its submit died before the create.
SUBMIT_LOST_S = 600.0
SSH_RULE = {
    "direction": "ingress",
    "ethertype": "IPv4",
    "protocol": "tcp",
    "remote_ip_prefix": "0.0.0.0/0",
    "port_range_min": 22,
    "port_range_max": 22,
}
_PENDING = frozenset({"CREATING", "BUILD"})
_WAKING = _PENDING | {"RESTORING", "STARTING", "REBOOTING"}
_CREATE_ATTEMPTS = 3


def vm_name(task_id: str) -> str:
    """The VM of a task: found again by this name after a crash or an ambiguous create."""
    return f"{VM_PREFIX}{task_id}"


class HyperstackProvider:
    name = "hyperstack"
    # A finished task's machine is released when flowlib looks at it: a keeper looks.
    needs_keeper = True

    def __init__(
        self,
        settings: HyperstackSettings,
        home: Path,
        *,
        transport: httpx.BaseTransport | None = None,
        host_factory: HostFactory | None = None,
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        self.settings = settings
        self.home = Path(home)
        self.clock = clock
        self.api = HyperstackApi(settings, transport=transport, sleep=clock.sleep)
        self.poll_interval_s = settings.poll_interval_s
        self._host_factory = host_factory
        self._environments: dict[str, str] = {}  # region -> environment name
        self._keypairs: dict[str, str] = {}  # environment -> keypair name
        self._key_path: Path | None = None
        from flowlib.providers.hyperstack._persistent import PersistentInstances

        self.persistent = PersistentInstances(self)
        from flowlib.providers.hyperstack._volumes import HyperstackVolumes

        self.volumes = HyperstackVolumes(self)
        from flowlib.core.cloud import KeptResults

        self.kept = KeptResults(self.home, self.name)

    # -- what this provider can do -------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            {
                Feature.SPOT: "Hyperstack rents on-demand VMs; there is no spot market",
                Feature.MULTI_NODE: "one VM per task on hyperstack for now (num_instances=1)",
                Feature.CONTAINER_IMAGE: "`image` is not run on hyperstack yet (no Docker set-up)",
            }
        )

    def _flavor_offers(self, region: str | None = None) -> list[FlavorOffer]:
        return to_offers(self.api.flavors(region), self.api.pricebook(), self.api.stock())

    def offers(self, config: TaskConfig) -> list[Offer]:
        region = config.region or self.settings.region
        found = matching(self._flavor_offers(region), config, self.settings.instance_type)
        return [f.offer for f in found if f.in_stock]

    def choose(self, config: TaskConfig) -> FlavorOffer:
        region = config.region or self.settings.region
        return choose(self._flavor_offers(), config, region, self.settings.instance_type)

    def prepare(self, config: TaskConfig) -> TaskConfig:
        if config.instance_name:
            if config.volumes:
                raise UnsupportedError(
                    f"volumes are not attached to persistent instances (instance "
                    f"{config.instance_name}): its tasks share one disk that persists already",
                    suggestions=[
                        "keep data on the instance's own disk, or use s3:// data mounts",
                        "or run the task without instance_name to attach volumes",
                    ],
                    provider="hyperstack",
                )
            return self.persistent.prepare(config)
        placed = self.volumes.place(config)  # an existing volume fixes the region
        try:
            chosen = self.choose(placed)
        except FlowError as exc:
            if placed.region != config.region:
                exc.suggestions.append(
                    f"the task runs in {placed.region} because its volumes are there: "
                    "use volumes of another region to run elsewhere"
                )
            raise
        return placed.model_copy(update={"region": chosen.region})

    # -- submit ----------------------------------------------------------------------------
    def submit(self, record: TaskRecord) -> dict[str, Any]:
        config = record.config
        if config.instance_name:
            return self.persistent.submit(record)
        chosen = self.choose(config)
        environment = self.volumes.environment(config, chosen.region)
        key_name = self.keypair(environment)
        name = vm_name(record.task_id)
        data: dict[str, Any] = {
            "vm_name": name,
            "region": chosen.region,
            "flavor": chosen.flavor,
            "environment": environment,
            "price_per_hour": chosen.offer.price_per_hour,
        }
        if config.volumes:  # their names are stored before any is created
            planned = self.volumes.planned(record)
            self._record_intent(record, {**data, "volumes": planned})
            data["volumes"] = self.volumes.provide(record, planned, environment)
        body = {
            "name": name,
            "environment_name": environment,
            "flavor_name": chosen.flavor,
            "image_name": self.settings.image,
            "key_name": key_name,
            "count": 1,
            "assign_floating_ip": True,
            "user_data": self._user_data(record),
            "labels": ["flowlib"],
            "security_rules": [SSH_RULE],
        }
        self._record_intent(record, data)
        vm = self.create_vm(name, body)
        return {**data, "vm_id": vm["id"]}

    def _user_data(self, record: TaskRecord) -> str:
        from flowlib.core.startup import ScriptContext, build_script, fit_script
        from flowlib.data import VolumeMount

        config = record.config
        code = None
        if config.upload_code:
            from flowlib.core.packaging import package_directory

            code = package_directory(Path(config.code_dir or Path.cwd())).data
        names = [v.get("name") for v in self.volumes.planned(record)]
        mounts = [
            VolumeMount(str(n), v.mount_path) for n, v in zip(names, config.volumes, strict=True)
        ]
        context = ScriptContext(
            task_id=record.task_id,
            config=config,
            code=code,
            volume_mounts=mounts,
            volume_wait_s=int(self.settings.volume_attach_timeout_s),
        )
        script = build_script(context)
        return fit_script(script, USER_DATA_LIMIT)

    def _record_intent(self, record: TaskRecord, data: dict[str, Any]) -> None:
        """The VM's name goes into the store before the VM exists: a crash after the create
        leaves a record that finds (and releases) it. Merged key by key (a status running
        meanwhile keeps its keys); the handle shares this process's one connection to the
        file (:mod:`flowlib.core.store`)."""
        from flowlib.core.store import TaskStore

        try:
            with TaskStore.at_home(self.home) as store:
                store.update(record.task_id, data=data)
        except TaskNotFoundError:
            pass  # the engine keeps its store elsewhere; the name still derives from the id
        except StoreError as exc:
            raise ProviderError(
                f"cannot record task {record.task_id} before creating its VM: {exc.message}",
                suggestions=exc.suggestions,
                provider="hyperstack",
            ) from exc

    def create_vm(self, name: str, body: Json) -> Json:
        """Create the VM called ``name`` exactly once: a VM of that name is adopted, and a
        create whose answer was lost is looked up by name before it is sent again (after the
        last try too). Raises :class:`~flowlib.core.http.AmbiguousRequestError` when it stays
        unknown whether the VM exists: a later status looks it up by name."""
        from flowlib.core.cloud import create_once

        def find() -> Json | None:
            existing = self.find_vms(name)
            return self._keep_one(existing) if existing else None

        return find() or create_once(
            lambda: self.api.create_vm(body)[0], find, attempts=_CREATE_ATTEMPTS
        )

    def find_vms(self, name: str) -> list[Json]:
        """Live VMs called exactly ``name``, oldest first."""
        return sorted((v for v in self.api.vms(search=name) if v.get("name") == name), key=_id)

    def _keep_one(self, vms: list[Json]) -> Json:
        for extra in vms[1:]:  # never two VMs for one task: the newer ones go
            self.api.delete_vm(_id(extra))
        return vms[0]

    def environment(self, region: str) -> str:
        """flowlib's environment in ``region``, created on first use."""
        if region in self._environments:
            return self._environments[region]
        from flowlib.core.http import AmbiguousRequestError
        from flowlib.errors import APIError, ConfigError

        name = self.settings.environment or f"flowlib-{region.lower()}"
        for attempt in range(2):
            found = [e for e in self.api.environments() if e.get("name") == name]
            if found:
                if found[0].get("region") != region:
                    raise ConfigError(
                        f"hyperstack environment {name} is in {found[0].get('region')}, "
                        f"not {region}",
                        suggestions=["unset providers.hyperstack.environment, or pick its region"],
                        provider="hyperstack",
                    )
                break
            try:
                self.api.create_environment(name, region)
                break
            except AmbiguousRequestError:
                if attempt:
                    raise  # its answer was lost again: a later submit looks once more
            except APIError as exc:
                if exc.status_code != 409 or attempt:  # 409: created meanwhile; look again
                    raise
        self._environments[region] = name
        return name

    def keypair(self, environment: str) -> str:
        """The keypair holding flowlib's public key in ``environment``, imported on first use
        (named after the key's hash, so a different key gets its own keypair)."""
        if environment in self._keypairs:
            return self._keypairs[environment]
        from flowlib.core.http import AmbiguousRequestError
        from flowlib.errors import APIError

        public = self.public_key()
        digest = hashlib.sha256(public.split()[1].encode()).hexdigest()[:10]
        name = f"flowlib-{digest}"
        for attempt in range(2):
            listed = self.api.keypairs()
            if any(_in(k, name, environment) for k in listed):
                break
            try:
                self.api.import_keypair(name, environment, public)
                break
            except AmbiguousRequestError:  # its answer was lost: look it up before sending again
                if attempt:
                    raise
            except APIError as exc:
                if exc.status_code != 409 or attempt:
                    raise
        self._keypairs[environment] = name
        return name

    def public_key(self) -> str:
        path = self.settings.ssh_key_path
        if path is not None:
            self._key_path = Path(path).expanduser()
            public = self._key_path.with_name(self._key_path.name + ".pub")
            try:
                return public.read_text(encoding="utf-8").strip()
            except OSError as exc:
                raise ProviderError(
                    f"cannot read the public key {public}: {exc.strerror}",
                    suggestions=[f"put the public half of {self._key_path} next to it"],
                    provider="hyperstack",
                ) from exc
        from flowlib.core.ssh import ensure_key_pair

        pair = ensure_key_pair(self.home)
        self._key_path = pair.private_key
        return pair.public_key

    # -- status ----------------------------------------------------------------------------
    def status(self, records: Sequence[TaskRecord]) -> dict[str, TaskState]:
        listed = self.api.vms(search=VM_PREFIX)
        by_id = {_id(v): v for v in listed}
        by_name: dict[str, Json] = {}
        named: dict[str, list[Json]] = {}
        for item in sorted(listed, key=_id):  # oldest first
            by_name.setdefault(str(item.get("name")), item)
            named.setdefault(str(item.get("name")), []).append(item)
        on_instances = [r for r in records if r.config.instance_name]
        states = self.persistent.states(on_instances, listed) if on_instances else {}
        for record in records:
            if record.config.instance_name:
                continue
            vm_id = record.provider_data.get("vm_id")
            found = by_id.get(int(vm_id)) if vm_id is not None else None
            found = found or by_name.get(vm_name(record.task_id))
            try:
                self._delete_extras(named.get(vm_name(record.task_id), []), found)
                states[record.task_id] = self._state(record, found)
            except FlowError as exc:  # this task is answered next time; the others now
                log.warning("hyperstack: status of %s failed: %s", record.task_id, exc)
        return states

    def _delete_extras(self, vms: list[Json], kept: Json | None) -> None:
        """A create the API answered too late can still make a second VM of the task's name
        after the look-up by name found none: any VM of that name but the task's own goes."""
        for extra in vms:
            if kept is not None and _id(extra) != _id(kept) and extra.get("status") != "DELETING":
                log.warning("hyperstack: deleting VM %s, a duplicate of %s", _id(extra), _id(kept))
                self.api.delete_vm(_id(extra))

    def _state(self, record: TaskRecord, vm: Json | None) -> TaskState:
        data = record.provider_data
        if vm is None:
            kept = self._kept_exit(record)
            if kept is not None:  # its result came home before its VM was deleted
                state = _finished(record, kept[0], "released", stopped=kept[1])
                state.provider_data = {"exit_code": kept[0], "released": True}
                return state
            if record.cancel_requested:
                return TaskState(TaskStatus.CANCELLED, None, "deleted", "cancelled by user")
            if data.get("vm_id") is None:
                if data.get("submit_abandoned") or _age_s(record) > SUBMIT_LOST_S:
                    return TaskState(
                        TaskStatus.FAILED,
                        None,
                        "submit-lost",
                        "the submit ended before a VM was created (no VM has the task's name)",
                        completed_at=_now(),
                    )
                return TaskState(TaskStatus.PENDING, provider_state="submitting")
            return TaskState(
                TaskStatus.FAILED,
                None,
                "deleted",
                "the VM was deleted before the task reported an exit code",
                completed_at=_now(),
            )
        raw = str(vm.get("status"))
        if raw in _PENDING:
            return TaskState(TaskStatus.PENDING, provider_state=raw)
        if raw == "ERROR":
            return TaskState(
                TaskStatus.FAILED, None, raw, "the VM failed (status ERROR)", completed_at=_now()
            )
        if raw == "DELETING":
            status = TaskStatus.CANCELLED if record.cancel_requested else TaskStatus.FAILED
            return TaskState(status, None, raw, "the VM is being deleted", completed_at=_now())
        if raw != "ACTIVE":  # stopped, hibernated, on their way: the machine is still held
            return TaskState(TaskStatus.RUNNING, provider_state=raw, message=f"the VM is {raw}")
        host = self._host(vm)
        if host is None:
            return TaskState(TaskStatus.PENDING, provider_state="ACTIVE, waiting for its IP")
        try:
            code = _int(host.read_file(EXIT_CODE))
            started = host.read_file(STARTED) if code is None else b"1"
        except FlowError:
            return TaskState(TaskStatus.PENDING, provider_state="booting (not reachable yet)")
        if code is None:
            updates: dict[str, Any] = {}
            waiting = None
            if data.get("volumes") and not data.get("volumes_ready"):
                updates, waiting = self.volumes.attach(record, vm, host)
            if started is None:
                return TaskState(
                    TaskStatus.PENDING, provider_state=waiting or "booting", provider_data=updates
                )
            return TaskState(
                TaskStatus.RUNNING,
                provider_state=raw,
                started_at=_epoch(started),
                provider_data=updates,
            )
        message = host.read_file(MESSAGE)
        stopped = host.read_file(STOP_REQUESTED) is not None
        self._keep_log(record, host)
        self.kept.keep(record.task_id, record.config.working_dir, host)
        self.kept.keep_exit(record.task_id, "0", code, stopped)  # home before the VM goes
        released = record.config.auto_terminate
        if released:
            self.api.delete_vm(_id(vm))
        state = _finished(record, code, "released" if released else "exited", stopped=stopped)
        state.message = message.decode("utf-8", "replace").strip() if message else state.message
        state.provider_data = {"exit_code": code, "released": released, "stopped": stopped}
        return state

    def _host(self, vm: Json) -> RemoteHost | None:
        ip = vm.get("floating_ip")
        if vm.get("status") != "ACTIVE" or not ip:
            return None
        from flowlib.core.hosts import HostAddress

        if self._key_path is None and self.settings.remote_host == "ssh":
            self.public_key()
        address = HostAddress(
            host=str(ip),
            user=self.settings.ssh_user,
            key_path=str(self._key_path) if self._key_path else None,
            instance_id=str(vm["id"]),
        )
        return self._hosts()(address)

    def _hosts(self) -> HostFactory:
        if self._host_factory is None:
            from flowlib.core.cloud import host_factory

            s = self.settings
            self._host_factory = host_factory(
                s.remote_host, s.sandbox_dir, self.home, clock=self.clock
            )
        return self._host_factory

    # -- logs ------------------------------------------------------------------------------
    def _keep_log(self, record: TaskRecord, host: RemoteHost, path: str = TASK_LOG) -> None:
        """Copy the task's log home before its VM goes (or sleeps)."""
        self.kept.keep_log(record.task_id, host, path)

    def _kept_exit(self, record: TaskRecord) -> tuple[int, bool] | None:
        """The workload's exit code and whether a stop had reached it, as stored or kept home
        before its VM was deleted."""
        data = record.provider_data
        if data.get("exit_code") is not None:
            return int(data["exit_code"]), bool(data.get("stopped", True))
        return next(iter(self.kept.exits(record.task_id).values()), None)

    def _paths(self, record: TaskRecord) -> tuple[str, str]:
        """The task's log and exit-code files on its machine."""
        if record.config.instance_name:
            from flowlib.providers.hyperstack._persistent import task_paths

            log, code, _, _ = task_paths(record.task_id)
            return log, code
        return TASK_LOG, EXIT_CODE

    def _log_bytes(self, record: TaskRecord) -> bytes:
        vm = self._vm_of(record)
        host = self._host(vm) if vm is not None else None
        if host is not None:
            try:
                return host.read_file(self._paths(record)[0]) or b""
            except FlowError:
                pass
        return self.kept.log(record.task_id) or b""

    def logs(
        self, record: TaskRecord, *, tail: int | None = 100, follow: bool = False
    ) -> Iterator[str]:
        from flowlib.core.follow import follow_lines, tail_lines

        if not follow:
            return iter(tail_lines(self._log_bytes(record), tail))
        host: RemoteHost | None = None
        vm: Json | None = None
        log_path, code_path = self._paths(record)
        live = _WAKING if record.config.instance_name else _PENDING

        def poll(position: int) -> tuple[bytes | None, bool]:
            nonlocal host, vm
            if host is None:
                vm = self._vm_of(record)
                host = self._host(vm) if vm is not None else None
            done = False
            if host is not None:
                try:
                    done = host.read_file(code_path) is not None
                    data = host.read_file(log_path)
                    return (None if data is None else data[position:]), done
                except FlowError:
                    host = None
            if vm is None or vm.get("status") not in ("ACTIVE", *live):
                kept = self.kept.log(record.task_id) or b""  # the VM is gone: its kept log
                return kept[position:], True
            return None, done

        sleep = min(self.poll_interval_s, 1.0)
        return follow_lines(poll, lambda: self.clock.sleep(sleep), tail=tail)

    def _vm_of(self, record: TaskRecord) -> Json | None:
        if record.config.instance_name:  # the instance's VM now (it may have been re-created)
            return self.persistent.find(record.config.instance_name)
        vm_id = record.provider_data.get("vm_id")
        if vm_id is not None:
            return self.api.vm(int(vm_id))
        found = self.find_vms(vm_name(record.task_id))
        return found[0] if found else None

    # -- cancel ----------------------------------------------------------------------------
    def cancel(self, record: TaskRecord) -> None:
        """Delete the task's VM(s) and wait until the API answers 404 for each (a task on a
        persistent instance leaves its queue; the instance stays)."""
        if record.config.instance_name:
            self.persistent.cancel(record)
            return
        ids = [_id(v) for v in self.find_vms(vm_name(record.task_id))]
        recorded = record.provider_data.get("vm_id")
        if recorded is not None and int(recorded) not in ids:
            ids.append(int(recorded))
        for vm_id in ids:
            vm = self.api.vm(vm_id)
            host = self._host(vm) if vm is not None else None
            if host is not None:
                with contextlib.suppress(FlowError):
                    self._keep_log(record, host)
            self.api.delete_vm(vm_id)
        self.wait_gone(ids, f"task {record.task_id}", f"`flow cancel {record.task_id}`")

    def wait_gone(self, ids: Sequence[int], owner: str, again: str = "it") -> None:
        """Wait until each VM answers 404 (at most ``delete_timeout_s``)."""
        deadline = self.clock.monotonic() + self.settings.delete_timeout_s
        for vm_id in ids:
            while self.api.vm(vm_id) is not None:
                if self.clock.monotonic() >= deadline:
                    raise TimeoutError(
                        f"hyperstack VM {vm_id} of {owner} is still not deleted "
                        f"after {self.settings.delete_timeout_s:g} s",
                        suggestions=[f"run {again} again"],
                        provider="hyperstack",
                    )
                self.clock.sleep(min(self.poll_interval_s, 2.0))

    # -- machines --------------------------------------------------------------------------
    def instances(self, record: TaskRecord) -> list[Instance]:
        vm = self._vm_of(record)
        if vm is None:
            return []
        raw = str(vm.get("status"))
        status = {
            "ACTIVE": InstanceStatus.RUNNING,
            "SHUTOFF": InstanceStatus.STOPPED,
            "HIBERNATED": InstanceStatus.STOPPED,
            "DELETING": InstanceStatus.TERMINATED,
            "ERROR": InstanceStatus.TERMINATED,
        }.get(raw, InstanceStatus.PENDING)
        flavor = vm.get("flavor") or {}
        environment = vm.get("environment") or {}
        return [
            Instance(
                instance_id=str(vm["id"]),
                status=status,
                instance_type=flavor.get("name"),
                region=environment.get("region"),
                public_ip=vm.get("floating_ip"),
                private_ip=vm.get("fixed_ip"),
                created_at=record.created_at,
                ssh_host=vm.get("floating_ip"),
                ssh_user=self.settings.ssh_user,
            )
        ]

    # -- volumes ---------------------------------------------------------------------------
    def create_volume(self, size_gb: int, name: str | None = None) -> Volume:
        return self.volumes.create(size_gb, name)

    def list_volumes(self) -> list[Volume]:
        return self.volumes.all()

    def delete_volume(self, volume_id: str) -> None:
        self.volumes.delete(volume_id)

    def read_file(self, record: TaskRecord, path: str) -> bytes | None:
        """A file of the task's machine: from the VM while it is up, else the copy of the
        task's results kept before its VM was deleted (remote Python calls read results so)."""
        kept = self.kept.read(record.task_id, record.config.working_dir, path)
        if kept is not None:
            return kept
        vm = self._vm_of(record)
        host = self._host(vm) if vm is not None else None
        if host is None:
            return None
        return host.read_file(path)  # on a persistent instance: until its next task runs

    def ssh(self, record: TaskRecord, command: str | None = None, node: int = 0) -> int:
        vm = self._vm_of(record)
        host = self._host(vm) if vm is not None else None
        if host is None:
            state = vm.get("status") if vm is not None else "gone"
            raise ProviderError(
                f"task {record.task_id}'s VM is not reachable (it is {state})",
                suggestions=["wait until the task is running", "`flow status` shows its state"],
                provider="hyperstack",
            )
        return host.interactive(command)


def _finished(
    record: TaskRecord, code: int, provider_state: str, *, stopped: bool = True
) -> TaskState:
    """A task whose workload exited with ``code``: cancelled when a cancel was asked and the
    stop reached it (``stopped``), else the workload's own result."""
    if record.cancel_requested and stopped:
        return TaskState(TaskStatus.CANCELLED, code, provider_state, "cancelled by user")
    status = TaskStatus.COMPLETED if code == 0 else TaskStatus.FAILED
    return TaskState(status, code, provider_state, None, completed_at=_now())


def _id(vm: Json) -> int:
    return int(vm["id"])


def _in(keypair: Json, name: str, environment: str) -> bool:
    env = keypair.get("environment") or {}
    return keypair.get("name") == name and env.get("name") == environment


def _int(data: bytes | None) -> int | None:
    try:
        return int(data.decode().strip()) if data else None
    except ValueError:
        return None


def _epoch(data: bytes | None) -> datetime | None:
    value = _int(data)
    return datetime.fromtimestamp(value, timezone.utc) if value and value > 1 else None


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _age_s(record: TaskRecord) -> float:
    return (_now() - record.created_at).total_seconds()
