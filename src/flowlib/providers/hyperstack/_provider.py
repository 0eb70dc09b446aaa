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

The provider does the I/O; what a task's facts mean is decided by :mod:`._status`. Its
collaborators get only what they use: :mod:`._vms` (VMs by name), :mod:`._records` (the store),
:mod:`._volumes`, :mod:`._persistent`; the names they share live in :mod:`._names`.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core.hosts import reach
from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.core.startup import give_notice
from flowlib.errors import FlowError, ProviderError, UnsupportedError
from flowlib.models import Instance, InstanceStatus, TaskConfig, Volume
from flowlib.providers.base import MASK as PREVIEW_MASK
from flowlib.providers.base import Capabilities, TaskState
from flowlib.providers.hyperstack import UNSUPPORTED
from flowlib.providers.hyperstack._api import HyperstackApi
from flowlib.providers.hyperstack._names import (
    EXIT_CODE,
    MESSAGE,
    SSH_RULE,
    STARTED,
    STOP_REQUESTED,
    TASK_LOG,
    VM_PREFIX,
    epoch,
    parse_int,
    region_of,
    task_paths,
    vm_id,
    vm_name,
)
from flowlib.providers.hyperstack._offers import FlavorOffer, choose, matching, to_offers
from flowlib.providers.hyperstack._persistent import PersistentInstances
from flowlib.providers.hyperstack._records import TaskRecords
from flowlib.providers.hyperstack._release import release_command
from flowlib.providers.hyperstack._settings import HyperstackSettings
from flowlib.providers.hyperstack._status import BOOTING, WAKING, Exited, Facts, decide, to_read
from flowlib.providers.hyperstack._vms import VirtualMachines
from flowlib.providers.hyperstack._volumes import HyperstackVolumes

if TYPE_CHECKING:
    import httpx

    from flowlib.catalog import Offer
    from flowlib.core.hosts import HostFactory, RemoteHost
    from flowlib.core.packaging import CodeArchive
    from flowlib.core.store import TaskRecord
    from flowlib.providers.hyperstack._shapes import CreateVm, Keypair, VirtualMachine

__all__ = ["USER_DATA_LIMIT", "VM_PREFIX", "HyperstackProvider", "vm_name"]

log = logging.getLogger(__name__)
USER_DATA_LIMIT = 65_535


class HyperstackProvider:
    name = "hyperstack"
    # A finished task's machine is released when flowlib looks at it: a keeper looks.
    needs_keeper = True
    requests_per_minute = 500  # per source IP, every endpoint together (the keeper paces itself)

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
        from flowlib.core.cloud import KeptResults

        self.kept = KeptResults(self.home, self.name)
        self.records = TaskRecords(self.home)
        self.vms = VirtualMachines(
            self.api,
            clock,
            delete_timeout_s=settings.delete_timeout_s,
            poll_interval_s=settings.poll_interval_s,
        )
        self.persistent = PersistentInstances(
            self.api,
            settings,
            vms=self.vms,
            records=self.records,
            kept=self.kept,
            clock=clock,
            home=self.home,
            choose=self.choose,
            environment=self.environment,
            keypair=self.keypair,
            host=self._host,
        )
        self.volumes = HyperstackVolumes(
            self.api, settings, environment=self.environment, choose=self.choose
        )

    # -- what this provider can do -------------------------------------------------------
    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(UNSUPPORTED)

    def _flavor_offers(self, region: str | None = None) -> list[FlavorOffer]:
        return to_offers(self.api.flavors(region), self.api.pricebook(), self.api.stock())

    def close(self) -> None:
        """Close the HTTP client (a later call opens a new one)."""
        self.api.close()

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
            self.records.record(record.task_id, {**data, "volumes": planned})
            data["volumes"] = self.volumes.provide(record, planned, environment)
        body: CreateVm = {
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
        self.records.record(record.task_id, data)  # before the VM exists: a crash finds it
        vm = self.vms.create(name, body)
        return {**data, "vm_id": vm["id"]}

    def _user_data(self, record: TaskRecord) -> str:
        code = None
        if record.config.upload_code:
            from flowlib.core.packaging import package_directory

            code_dir = Path(record.config.code_dir or Path.cwd())
            code = package_directory(code_dir, exclude=[self.home]).data
        return self._render(record, code, self._release_key())

    def preview_script(self, record: TaskRecord, code: CodeArchive | None) -> str:
        """The user data :meth:`submit` would send for ``record``, by the same render, creating
        nothing: the key the VM releases itself with shown as ``***``."""
        data = code.data if code is not None and record.config.upload_code else None
        return self._render(record, data, PREVIEW_MASK if self._release_key() else None)

    def _render(self, record: TaskRecord, code: bytes | None, release_key: str | None) -> str:
        """The VM's user data: one render for :meth:`submit` and the dry run."""
        from flowlib.core.startup import ScriptContext, build_script, fit_script
        from flowlib.data import VolumeMount

        config = record.config
        names = [v.get("name") for v in self.volumes.planned(record)]
        mounts = [
            VolumeMount(str(n), v.mount_path) for n, v in zip(names, config.volumes, strict=True)
        ]
        s = self.settings
        release = None
        if release_key is not None and config.auto_terminate:
            release = release_command(
                s.api_url, vm_name(record.task_id), release_key, s.exit_grace_s
            )
        context = ScriptContext(
            task_id=record.task_id,
            config=config,
            code=code,
            volume_mounts=mounts,
            volume_wait_s=int(s.volume_attach_timeout_s),
            release_command=release,
        )
        return fit_script(build_script(context), USER_DATA_LIMIT)

    def _release_key(self) -> str | None:
        """The key the VM deletes itself with (``self_release``; :mod:`._release`), None when
        it does not: self-release off, or no key to do it with."""
        s = self.settings
        key = s.release_api_key or s.api_key
        if not s.self_release or key is None:
            return None
        return key.get_secret_value()

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
        by_id = {vm_id(v): v for v in listed}
        by_name: dict[str, VirtualMachine] = {}
        named: dict[str, list[VirtualMachine]] = {}
        for item in sorted(listed, key=vm_id):  # oldest first
            by_name.setdefault(str(item.get("name")), item)
            named.setdefault(str(item.get("name")), []).append(item)
        on_instances = [r for r in records if r.config.instance_name]
        states = self.persistent.states(on_instances, listed) if on_instances else {}
        for record in records:
            if record.config.instance_name:
                continue
            recorded = record.provider_data.get("vm_id")
            found = by_id.get(int(recorded)) if recorded is not None else None
            found = found or by_name.get(vm_name(record.task_id))
            try:
                self.vms.delete_extras(named.get(vm_name(record.task_id), []), found)
                states[record.task_id] = self._state(record, found)
            except FlowError as exc:  # this task is answered next time; the others now
                log.warning("hyperstack: status of %s failed: %s", record.task_id, exc)
        return states

    def _state(self, record: TaskRecord, vm: VirtualMachine | None) -> TaskState:
        """Gather the facts :func:`._status.decide` needs (only what the VM's status calls
        for), then act on its verdict: the result kept home before the VM is deleted."""
        data = record.provider_data
        facts = Facts(
            now=_now(),
            vm_status=str(vm.get("status")) if vm is not None else None,
            has_ip=bool(vm is not None and vm.get("floating_ip")),
            cancel_requested=record.cancel_requested,
            vm_recorded=data.get("vm_id") is not None,
            submit_abandoned=bool(data.get("submit_abandoned")),
            age_s=_age_s(record),
            auto_terminate=record.config.auto_terminate,
        )
        look = to_read(facts.vm_status, facts.has_ip)
        if look == "kept":
            kept = self._kept_exit(record) or self.kept.adopt(record)  # or its results location
            if kept is not None:
                facts = replace(facts, kept=Exited(kept[0], stopped=kept[1]))
        updates: dict[str, Any] = {}
        host = self._host(vm) if look == "vm" and vm is not None else None
        if vm is not None and host is not None:
            facts, updates = self._read_vm(record, vm, host, facts)
        verdict = decide(facts)
        if verdict.release and vm is not None:
            self.api.delete_vm(vm_id(vm))
        verdict.state.provider_data = {**updates, **verdict.state.provider_data}
        return verdict.state

    def _read_vm(
        self, record: TaskRecord, vm: VirtualMachine, host: RemoteHost, facts: Facts
    ) -> tuple[Facts, dict[str, Any]]:
        """What the workload left on its VM; once it ended, its log, results and exit code
        are kept home (before any delete). Also attaches the task's volumes while it waits."""
        try:
            # One try: a status never waits out a boot (the next look tries again), which
            # would hold up every task polled with this one.
            code = parse_int(reach(host).read_file(EXIT_CODE))
            started = host.read_file(STARTED) if code is None else b"1"
        except FlowError:
            return replace(facts, reachable=False), {}
        if code is None:
            updates: dict[str, Any] = {}
            waiting = None
            data = record.provider_data
            if data.get("volumes") and not data.get("volumes_ready"):
                updates, waiting = self.volumes.attach(record, vm, host)
            facts = replace(
                facts,
                started=started is not None,
                started_at=epoch(started),
                volumes_waiting=waiting,
            )
            return facts, updates
        message = host.read_file(MESSAGE)
        stopped = host.read_file(STOP_REQUESTED) is not None
        self._keep_log(record, host)
        self.kept.keep(record.task_id, record.config.working_dir, host)
        self.kept.keep_exit(record.task_id, "0", code, stopped)  # home before the VM goes
        text = message.decode("utf-8", "replace").strip() if message else None
        return replace(facts, exited=Exited(code, stopped=stopped, message=text)), {}

    def _host(self, vm: VirtualMachine) -> RemoteHost | None:
        ip = vm.get("floating_ip")
        if vm.get("status") != "ACTIVE" or not ip:
            return None
        from flowlib.core.hosts import HostAddress

        if self._key_path is None and self.settings.remote_host == "ssh":
            self.public_key()
        address = HostAddress(
            host=str(ip),
            port=self.settings.ssh_port,
            user=self.settings.ssh_user,
            key_path=str(self._key_path) if self._key_path else None,
            instance_id=str(vm["id"]),
        )
        return self._hosts()(address)

    def _hosts(self) -> HostFactory:
        if self._host_factory is None:
            from flowlib.providers import host_factory

            s = self.settings
            self._host_factory = host_factory(
                "hyperstack", s.remote_host, s.remote_host_options, self.home, clock=self.clock
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
        vm: VirtualMachine | None = None
        log_path, code_path = self._paths(record)
        live = WAKING if record.config.instance_name else BOOTING

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

    def _vm_of(self, record: TaskRecord) -> VirtualMachine | None:
        if record.config.instance_name:  # the instance's VM now (it may have been re-created)
            return self.persistent.find(record.config.instance_name)
        recorded = record.provider_data.get("vm_id")
        if recorded is not None:
            return self.api.vm(int(recorded))
        found = self.vms.find(vm_name(record.task_id))
        return found[0] if found else None

    # -- cancel ----------------------------------------------------------------------------
    def cancel(self, record: TaskRecord) -> None:
        """Delete the task's VM(s) and wait until the API answers 404 for each (a task on a
        persistent instance leaves its queue; the instance stays)."""
        if record.config.instance_name:
            self.persistent.cancel(record)
            return
        ids = [vm_id(v) for v in self.vms.find(vm_name(record.task_id))]
        recorded = record.provider_data.get("vm_id")
        if recorded is not None and int(recorded) not in ids:
            ids.append(int(recorded))
        vms = [self.api.vm(each) for each in ids]
        hosts = {each: self._host(vm) for each, vm in zip(ids, vms, strict=True) if vm is not None}
        up = [host for host in hosts.values() if host is not None]
        # Every VM gets the notice first; the grace is waited once, not once per VM.
        give_notice(up, "cancelled: flow cancel", record.config.stop_grace_s, self.clock)
        for each in ids:
            host = hosts.get(each)
            if host is not None:
                with contextlib.suppress(FlowError):
                    self._keep_log(record, host)
            self.api.delete_vm(each)
        self.vms.wait_gone(ids, f"task {record.task_id}", f"`flow cancel {record.task_id}`")

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
        return [
            Instance(
                instance_id=str(vm["id"]),
                status=status,
                instance_type=flavor.get("name"),
                region=region_of(vm),
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


def _in(keypair: Keypair, name: str, environment: str) -> bool:
    env = keypair.get("environment") or {}
    return keypair.get("name") == name and env.get("name") == environment


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _age_s(record: TaskRecord) -> float:
    return (_now() - record.created_at).total_seconds()
