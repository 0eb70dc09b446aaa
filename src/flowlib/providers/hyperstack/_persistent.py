"""Persistent instances: one named VM kept for a stream of tasks, asleep when idle.

A task with ``instance_name="my-a6000"`` runs on the VM ``flowlib-my-a6000``::

    prepare   the VM exists: its region is used. It does not: the flavor is chosen, and a flavor
              without hibernation is refused *before anything is created* when the idle policy
              is ``hibernate``
    submit    create the VM (its user_data installs the agent), or restore it (HIBERNATED),
              or start it (SHUTOFF); wait until it is ACTIVE with a floating IP (the IP may
              differ after a restore) and answers; hand the agent its settings and the API key
              (0600, over stdin); then deliver every task of this instance still undelivered,
              oldest first, into the on-VM queue (:mod:`._agent`)
    status    undelivered tasks are delivered (the instance woken or created if needed); the
              others are read from their queue directories in one round trip per instance
    the agent runs the queue one task at a time and puts the VM to sleep per ``idle_policy``
              once the queue has been empty for ``idle_cooldown_s``

The store holds each task before anything else happens, so a client that dies between recording
a task and delivering it loses nothing: the next status or submit delivers it. A delivery that is
repeated (the answer was lost) is a no-op on the VM.

What a delivered task's state means is decided by :func:`._status.decide_queued`; this module
gathers the facts (one look at the instance's queue) and keeps the results.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from flowlib.core.hosts import reach
from flowlib.errors import (
    APIError,
    FlowError,
    ProviderError,
    TimeoutError,
    UnsupportedError,
    ValidationError,
)
from flowlib.models import TaskStatus
from flowlib.providers.base import TaskState
from flowlib.providers.hyperstack._agent import (
    AgentState,
    cancel_command,
    configure_command,
    enqueue_command,
    first_boot_script,
    parse_agent_state,
    probe_command,
    task_script,
)
from flowlib.providers.hyperstack._names import (
    SSH_RULE,
    VM_PREFIX,
    instance_vm_name,
    parse_int,
    region_of,
    task_paths,
    vm_id,
)
from flowlib.providers.hyperstack._status import ASLEEP, QueuedFacts, decide_queued

if TYPE_CHECKING:
    from flowlib.core.cloud import KeptResults
    from flowlib.core.hosts import RemoteHost
    from flowlib.core.seams import Clock
    from flowlib.core.store import TaskRecord
    from flowlib.models import TaskConfig
    from flowlib.providers.hyperstack._api import HyperstackApi
    from flowlib.providers.hyperstack._offers import FlavorOffer
    from flowlib.providers.hyperstack._records import TaskRecords
    from flowlib.providers.hyperstack._settings import HyperstackSettings
    from flowlib.providers.hyperstack._shapes import CreateVm, VirtualMachine
    from flowlib.providers.hyperstack._vms import VirtualMachines

__all__ = ["INSTANCE_LABEL", "PersistentInstances", "instance_vm_name", "task_paths"]

INSTANCE_LABEL = "flowlib-instance"


@dataclass
class _Probe:
    """One look at a reachable instance."""

    agent: AgentState
    pending: list[str]  # task ids, in the order they will run
    tasks: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)


class PersistentInstances:
    """The persistent instances of one Hyperstack account (``provider.persistent``).

    It is handed what it uses: the API client and settings, VMs by name (``vms``), the task
    store (``records``), where results are kept home (``kept``), the clock, FLOW_HOME (left out
    of uploaded code), and from the provider the flavor choice (``choose``), flowlib's
    environment of a region and keypair of an environment, and a host for a reachable VM."""

    def __init__(
        self,
        api: HyperstackApi,
        settings: HyperstackSettings,
        *,
        vms: VirtualMachines,
        records: TaskRecords,
        kept: KeptResults,
        clock: Clock,
        home: Path,
        choose: Callable[[TaskConfig], FlavorOffer],
        environment: Callable[[str], str],
        keypair: Callable[[str], str],
        host: Callable[[VirtualMachine], RemoteHost | None],
    ) -> None:
        self.api = api
        self.settings = settings
        self.vms = vms
        self.records = records
        self.kept = kept
        self.clock = clock
        self.home = Path(home)
        self.choose = choose
        self.environment = environment
        self.keypair = keypair
        self.host = host

    # -- before anything is created -------------------------------------------------------
    def prepare(self, config: TaskConfig) -> TaskConfig:
        name = _name(config)
        vm = self.find(name)
        if vm is not None:
            return config.model_copy(update={"region": region_of(vm)})
        chosen = self.choose(config)
        self.check_policy(name, chosen)
        return config.model_copy(update={"region": chosen.region})

    def check_policy(self, name: str, chosen: FlavorOffer) -> None:
        if self.settings.idle_policy != "hibernate" or chosen.hibernation:
            return
        raise UnsupportedError(
            f"hibernation is not supported on flavor {chosen.flavor} in {chosen.region}, and "
            f"instance {name} would hibernate when idle (idle_policy: hibernate)",
            suggestions=[
                "pick a flavor with hibernation (-i), or another region (--region)",
                "or set providers.hyperstack.idle_policy to 'stop' (still billed while "
                "stopped) or 'delete' (the disk is lost)",
            ],
            provider="hyperstack",
            flavor=chosen.flavor,
        )

    # -- submit -----------------------------------------------------------------------------
    def submit(self, record: TaskRecord) -> dict[str, Any]:
        name = _name(record.config)
        vm = self.ensure(name, record.config)
        data: dict[str, Any] = {"instance": name, "vm_name": instance_vm_name(name)}
        data.update(_where(vm))
        self.records.record(record.task_id, data)
        deadline = self.clock.monotonic() + self.settings.wake_timeout_s
        sent = False
        while self.clock.monotonic() < deadline:
            reached = self.reach(name, wake=True)
            if reached is not None:
                vm, host = reached
                sent = record.task_id in self.flush(name, vm, host, also=[record]) or sent
                data.update(_where(vm))
                # Gone to sleep as we delivered: wake it again, its queue is not empty.
                if sent and self._still_awake(vm):
                    break
            self.clock.sleep(self.settings.poll_interval_s)
        data["delivered"] = sent
        return data

    def _still_awake(self, vm: VirtualMachine) -> bool:
        now = self.api.vm(vm_id(vm))
        return now is not None and now.get("status") == "ACTIVE"

    def find(self, name: str) -> VirtualMachine | None:
        return self.vms.find_one(instance_vm_name(name))

    def ensure(
        self, name: str, config: TaskConfig | None, vm: VirtualMachine | None = None
    ) -> VirtualMachine:
        """The instance's VM, created when absent (``config`` given), restored when
        hibernated, started when stopped. Never waits. ``vm``: the VM as just listed (else it
        is looked up)."""
        vm = vm or self.find(name)
        if vm is None:
            if config is None:
                raise ValidationError(
                    f"there is no instance {name!r}",
                    suggestions=[f"it is created by the first `flow run --on {name} ...`"],
                    provider="hyperstack",
                )
            return self._create(name, config)
        status = str(vm.get("status"))
        action = {"HIBERNATED": "hibernate-restore", "SHUTOFF": "start"}.get(status)
        if action is not None:
            with contextlib.suppress(APIError):  # changed meanwhile: the next look sees it
                self.api.action(vm_id(vm), action)
        elif status == "ERROR":
            raise ProviderError(
                f"instance {name} (VM {vm['id']}) is in ERROR",
                suggestions=[f"`flow instance delete {name}`, then submit again"],
                provider="hyperstack",
            )
        return vm

    def _create(self, name: str, config: TaskConfig) -> VirtualMachine:
        chosen = self.choose(config)
        self.check_policy(name, chosen)
        environment = self.environment(chosen.region)
        body: CreateVm = {
            "name": instance_vm_name(name),
            "environment_name": environment,
            "flavor_name": chosen.flavor,
            "image_name": self.settings.image,
            "key_name": self.keypair(environment),
            "count": 1,
            "assign_floating_ip": True,
            "user_data": first_boot_script(name, self.settings.ssh_user),
            "labels": ["flowlib", INSTANCE_LABEL],
            "security_rules": [SSH_RULE],
        }
        return self.vms.create(instance_vm_name(name), body)

    def reach(
        self, name: str, *, wake: bool, vm: VirtualMachine | None = None
    ) -> tuple[VirtualMachine, RemoteHost] | None:
        """The VM and a host that answers, when it is ACTIVE with an IP now; else None (after
        asking it to wake, with ``wake``). The agent is given its settings on the way. ``vm``:
        the VM as just listed (else it is looked up)."""
        vm = vm or self.find(name)
        if vm is None:
            return None
        if wake and vm.get("status") in ASLEEP:
            self.ensure(name, None, vm)
            return None
        host = self.host(vm)
        if host is None:
            return None
        try:
            self.configure(vm, reach(host))  # one try: no waiting out a boot here
        except FlowError:
            return None  # not answering yet (sshd still starting)
        return vm, host

    def configure(self, vm: VirtualMachine, host: RemoteHost) -> None:
        key = self.settings.api_key
        secret = key.get_secret_value() if key is not None else ""
        command = configure_command(
            vm_id(vm),
            self.settings.api_url,
            self.settings.idle_cooldown_s,
            self.settings.idle_policy,
            self.settings.agent_poll_s,
        )
        result = host.run(command, input=f"api_key: {secret}\n".encode(), timeout=60)
        if result.returncode != 0:
            raise ProviderError(
                f"cannot configure the agent on VM {vm['id']} (exit {result.returncode})",
                suggestions=["`flow ssh` to the instance and look at /etc/flow"],
                provider="hyperstack",
            )

    # -- delivery ---------------------------------------------------------------------------
    def undelivered(self, name: str, also: Iterable[TaskRecord] = ()) -> list[TaskRecord]:
        """This instance's tasks not delivered yet, oldest first (the store's and ``also``)."""
        found: dict[str, TaskRecord] = {r.task_id: r for r in also}
        for r in self.records.live_on(name):
            found.setdefault(r.task_id, r)
        waiting = [
            r
            for r in found.values()
            if not r.provider_data.get("delivered") and not r.cancel_requested
        ]
        return sorted(waiting, key=lambda r: (r.created_at, r.task_id))

    def flush(
        self, name: str, vm: VirtualMachine, host: RemoteHost, also: Sequence[TaskRecord] = ()
    ) -> set[str]:
        """Deliver every undelivered task of the instance, oldest first; their ids."""
        done: set[str] = set()
        for record in self.undelivered(name, also):
            self.deliver(host, record)
            done.add(record.task_id)
            update = {"delivered": True, "instance": name, **_where(vm)}
            self.records.record(record.task_id, update)
            record.provider_data = {**record.provider_data, **update}
        return done

    def deliver(self, host: RemoteHost, record: TaskRecord) -> None:
        config = record.config
        code = None
        if config.upload_code:
            from flowlib.core.packaging import package_directory

            code_dir = Path(config.code_dir or Path.cwd())
            code = package_directory(code_dir, exclude=[self.home]).data
        script = task_script(record.task_id, config, code)
        seq = record.created_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%S%f")
        result = host.run(enqueue_command(seq, record.task_id), input=script.encode(), timeout=300)
        if result.returncode != 0:
            raise ProviderError(
                f"cannot queue task {record.task_id} on instance {config.instance_name} "
                f"(exit {result.returncode}): {result.stderr.strip()[:200]}",
                suggestions=["`flow status` tries again"],
                provider="hyperstack",
                task_id=record.task_id,
            )

    # -- status -----------------------------------------------------------------------------
    def states(
        self, records: Sequence[TaskRecord], listed: Sequence[VirtualMachine]
    ) -> dict[str, TaskState]:
        by_instance: dict[str, list[TaskRecord]] = {}
        for r in records:
            by_instance.setdefault(_name(r.config), []).append(r)
        out: dict[str, TaskState] = {}
        for name, group in by_instance.items():
            vm_name = instance_vm_name(name)
            try:
                same = [v for v in listed if v.get("name") == vm_name]
                same.sort(key=vm_id)  # oldest first, as find() has them
                vm = self.vms.keep_one(same) if same else None
                out.update(self._instance_states(name, group, vm))
            except FlowError as exc:  # this instance cannot be looked at now; the others can
                for r in group:
                    out[r.task_id] = _waiting(r, f"instance {name}: {exc.message}")
        return out

    def _instance_states(
        self, name: str, records: list[TaskRecord], vm: VirtualMachine | None
    ) -> dict[str, TaskState]:
        out: dict[str, TaskState] = {}
        waiting = [r for r in records if not r.provider_data.get("delivered")]
        for r in waiting:
            if r.cancel_requested:
                out[r.task_id] = TaskState(
                    TaskStatus.CANCELLED, None, "not delivered", "cancelled by user"
                )
        waiting = [r for r in waiting if not r.cancel_requested]
        delivered: set[str] = set()
        reached: tuple[VirtualMachine, RemoteHost] | None = None
        if waiting:
            if vm is None or vm.get("status") in ASLEEP:
                vm = self.ensure(name, waiting[0].config, vm)  # created, restored or started
                reached = self.reach(name, wake=True)  # a fresh look, after the wake
            else:
                reached = self.reach(name, wake=True, vm=vm)
            if reached is not None:
                vm = reached[0]
                delivered = self.flush(name, reached[0], reached[1], also=waiting)
        elif vm is not None and vm.get("status") == "ACTIVE":
            reached = self.reach(name, wake=False, vm=vm)
        probe = None
        ids = [r.task_id for r in records if r.task_id not in out]
        if reached is not None:
            with contextlib.suppress(FlowError):
                probe = self._probe(reached[1], ids)
        raw = str(vm.get("status")) if vm is not None else "absent"
        for r in records:
            if r.task_id in out:
                continue
            if not r.provider_data.get("delivered"):
                out[r.task_id] = _waiting(
                    r, f"queued here for instance {name} ({raw}); delivered once it is reachable"
                )
                continue
            state = self._delivered_state(name, r, vm, reached, probe)
            if r.task_id in delivered and vm is not None:
                state.provider_data = {**state.provider_data, "delivered": True, **_where(vm)}
            out[r.task_id] = state
        return out

    def _delivered_state(
        self,
        name: str,
        record: TaskRecord,
        vm: VirtualMachine | None,
        reached: tuple[VirtualMachine, RemoteHost] | None,
        probe: _Probe | None,
    ) -> TaskState:
        """Gather the facts :func:`._status.decide_queued` needs; a task that ended has its
        log kept home and its message read first."""
        stored = record.provider_data.get("exit_code")
        facts = QueuedFacts(
            instance=name,
            now=_now(),
            vm_status=str(vm.get("status")) if vm is not None else None,
            stored_exit=int(stored) if stored is not None else None,
            looked=reached is not None and probe is not None,
            cancel_requested=record.cancel_requested,
        )
        if stored is None and vm is not None and reached is not None and probe is not None:
            code, started = probe.tasks.get(record.task_id, (None, None))
            pending = probe.pending
            facts = replace(
                facts,
                exit_code=code,
                started=started,
                known=record.task_id in probe.tasks,
                position=pending.index(record.task_id) + 1 if record.task_id in pending else None,
                queue_length=len(pending),
            )
            if code is not None:
                host = reached[1]
                log, _, _, message_path = task_paths(record.task_id)
                self.kept.keep_log(record.task_id, host, log)
                message = host.read_file(message_path)
                text = message.decode("utf-8", "replace").strip() if message else None
                facts = replace(facts, message=text)
        return decide_queued(facts)

    def _probe(self, host: RemoteHost, task_ids: Sequence[str]) -> _Probe:
        result = host.run(probe_command(task_ids), timeout=60)
        if result.returncode != 0:
            raise ProviderError(
                f"cannot read the queue on {host.address.instance_id}", provider="hyperstack"
            )
        head, _, rest = result.stdout.partition("---\n")
        queue, _, rows = rest.partition("---\n")
        pending = []
        for line in queue.splitlines():
            stem = line.strip().removesuffix(".sh")
            if "-" in stem:
                pending.append(stem.split("-", 1)[1])
        tasks: dict[str, tuple[int | None, int | None]] = {}
        for line in rows.splitlines():
            words = line.split()
            if len(words) == 3:
                tasks[words[0]] = (parse_int(words[1]), parse_int(words[2]))
        return _Probe(parse_agent_state(head.strip()), pending, tasks)

    # -- cancel -----------------------------------------------------------------------------
    def cancel(self, record: TaskRecord) -> None:
        """Take a delivered task out of its instance's queue, or stop it; an undelivered one
        is never delivered (the engine records the cancel first)."""
        if not record.provider_data.get("delivered"):
            return
        reached = self.reach(_name(record.config), wake=False)
        if reached is None:
            return  # asleep or gone: a queued task is not run... until it wakes; see the docs
        reached[1].run(cancel_command(record.task_id), timeout=120)

    # -- the instances themselves (flow instance ...) -----------------------------------------
    def list_all(self) -> list[dict[str, Any]]:
        """Every persistent instance flowlib made, with its state."""
        vms = [
            v for v in self.api.vms(search=VM_PREFIX) if INSTANCE_LABEL in (v.get("labels") or [])
        ]
        return [self._view(str(v["name"])[len(VM_PREFIX) :], v) for v in vms]

    def describe(self, name: str) -> dict[str, Any]:
        """The instance's state (``absent``, ``running``, ``cooldown``, ``hibernated``,
        ``stopped``, ``waking``, ``going to sleep``...) and its queue."""
        return self._view(name, self.find(name))

    def _view(self, name: str, vm: VirtualMachine | None) -> dict[str, Any]:
        undelivered = [r.task_id for r in self.undelivered(name)]
        view: dict[str, Any] = {
            "name": name,
            "state": "absent",
            "vm_id": None,
            "status": None,
            "ip": None,
            "flavor": None,
            "region": None,
            "policy": self.settings.idle_policy,
            "cooldown_left_s": None,
            "running": None,
            "queue": [],
            "undelivered": undelivered,
            "detail": None,
        }
        if vm is None:
            return view
        raw = str(vm.get("status"))
        view.update(
            vm_id=vm_id(vm),
            status=raw,
            ip=vm.get("floating_ip"),
            flavor=(vm.get("flavor") or {}).get("name"),
            region=region_of(vm),
            state={
                "HIBERNATED": "hibernated",
                "SHUTOFF": "stopped",
                "HIBERNATING": "going to sleep",
                "STOPPING": "going to sleep",
                "RESTORING": "waking",
                "STARTING": "waking",
                "CREATING": "creating",
                "BUILD": "creating",
                "DELETING": "deleting",
                "ERROR": "error",
            }.get(raw, "running"),
        )
        if raw != "ACTIVE":
            return view
        reached = self.reach(name, wake=False)
        if reached is None:
            view["state"] = "booting"
            return view
        with contextlib.suppress(FlowError):
            probe = self._probe(reached[1], [])
            agent = probe.agent
            view["queue"] = probe.pending
            view["running"] = agent.task_id
            view["detail"] = agent.detail
            if agent.kind == "idle":
                view["state"] = "cooldown"
                view["cooldown_left_s"] = agent.cooldown_left_s
            elif agent.kind in ("sleeping", "retrying"):
                view["state"] = "going to sleep"
            elif agent.kind == "unknown":
                view["state"] = "booting"
        return view

    def wake(self, name: str, *, wait: bool = True) -> dict[str, Any]:
        """Restore (or start) the instance; with ``wait``, until it is reachable, then deliver
        what waits for it."""
        self.ensure(name, None)
        if wait:
            deadline = self.clock.monotonic() + self.settings.wake_timeout_s
            while True:
                reached = self.reach(name, wake=True)
                if reached is not None:
                    self.flush(name, reached[0], reached[1])
                    break
                if self.clock.monotonic() >= deadline:
                    raise TimeoutError(
                        f"instance {name} is not reachable after "
                        f"{self.settings.wake_timeout_s:g} s",
                        suggestions=["`flow instance list` shows its state; wake it again later"],
                        provider="hyperstack",
                    )
                self.clock.sleep(self.settings.poll_interval_s)
        return self.describe(name)

    def hibernate(self, name: str) -> dict[str, Any]:
        """Put the instance to sleep now, per the idle policy (what its agent would do)."""
        vm = self.find(name)
        if vm is None:
            raise ValidationError(
                f"there is no instance {name!r}",
                suggestions=["`flow instance list` shows the instances"],
                provider="hyperstack",
            )
        policy = self.settings.idle_policy
        if vm.get("status") != "ACTIVE":
            raise ValidationError(
                f"instance {name} is {vm.get('status')}; only an ACTIVE instance can go to sleep",
                suggestions=["`flow instance list` shows its state"],
                provider="hyperstack",
            )
        if policy == "delete":
            return self.delete(name)
        self.api.action(
            vm_id(vm), policy, **({"retain_ip": "true"} if policy == "hibernate" else {})
        )
        return self.describe(name)

    def delete(self, name: str) -> dict[str, Any]:
        """Delete the instance's VM (and its disk) and wait until it is gone. Its unfinished
        tasks are cancelled."""
        self.records.cancel_on(name)
        vms = self.vms.find(instance_vm_name(name))
        for vm in vms:
            self.api.delete_vm(vm_id(vm))
        ids = [vm_id(v) for v in vms]
        self.vms.wait_gone(ids, f"instance {name}", f"`flow instance delete {name}`")
        return self.describe(name)


def _name(config: TaskConfig) -> str:
    assert config.instance_name is not None
    return config.instance_name


def _where(vm: VirtualMachine) -> dict[str, Any]:
    return {
        "vm_id": vm.get("id"),
        "region": region_of(vm),
        "flavor": (vm.get("flavor") or {}).get("name"),
    }


def _waiting(record: TaskRecord, message: str) -> TaskState:
    return TaskState(TaskStatus.PENDING, provider_state="queued", message=message)


def _now() -> datetime:
    return datetime.now(timezone.utc)
