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
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

from flowlib.errors import APIError, FlowError, ProviderError, UnsupportedError, ValidationError
from flowlib.models import TaskStatus
from flowlib.providers.base import TaskState
from flowlib.providers.hyperstack._agent import (
    QUEUE,
    AgentState,
    cancel_command,
    configure_command,
    enqueue_command,
    first_boot_script,
    parse_agent_state,
    probe_command,
    task_script,
)

if TYPE_CHECKING:
    from flowlib.core.hosts import RemoteHost
    from flowlib.core.store import TaskRecord
    from flowlib.models import TaskConfig
    from flowlib.providers.hyperstack._api import Json
    from flowlib.providers.hyperstack._offers import FlavorOffer
    from flowlib.providers.hyperstack._provider import HyperstackProvider

__all__ = ["INSTANCE_LABEL", "PersistentInstances", "instance_vm_name", "task_paths"]

INSTANCE_LABEL = "flowlib-instance"
_ASLEEP = frozenset({"HIBERNATED", "SHUTOFF"})
_GOING = frozenset({"HIBERNATING", "STOPPING"})


def instance_vm_name(name: str) -> str:
    """The VM of a persistent instance (found again by this name)."""
    from flowlib.providers.hyperstack._provider import VM_PREFIX

    return f"{VM_PREFIX}{name}"


def task_paths(task_id: str) -> tuple[str, str, str, str]:
    """A queued task's log, exit code, start and message files on its instance."""
    base = f"{QUEUE}/tasks/{task_id}"
    return f"{base}/task.log", f"{base}/exit_code", f"{base}/started", f"{base}/message"


@dataclass
class _Probe:
    """One look at a reachable instance."""

    agent: AgentState
    pending: list[str]  # task ids, in the order they will run
    tasks: dict[str, tuple[int | None, int | None]] = field(default_factory=dict)


class PersistentInstances:
    """The persistent instances of one :class:`HyperstackProvider` (``provider.persistent``)."""

    def __init__(self, provider: HyperstackProvider) -> None:
        self.provider = provider
        self.settings = provider.settings
        self.api = provider.api

    # -- before anything is created -------------------------------------------------------
    def prepare(self, config: TaskConfig) -> TaskConfig:
        name = _name(config)
        vm = self.find(name)
        if vm is not None:
            region = (vm.get("environment") or {}).get("region")
            return config.model_copy(update={"region": region})
        chosen = self.provider.choose(config)
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
        self.provider._record_intent(record, data)
        deadline = self.provider.clock.monotonic() + self.settings.wake_timeout_s
        sent = False
        while self.provider.clock.monotonic() < deadline:
            reached = self.reach(name, wake=True)
            if reached is not None:
                vm, host = reached
                sent = record.task_id in self.flush(name, vm, host, also=[record]) or sent
                data.update(_where(vm))
                # Gone to sleep as we delivered: wake it again, its queue is not empty.
                if sent and self._still_awake(vm):
                    break
            self.provider.clock.sleep(self.provider.poll_interval_s)
        data["delivered"] = sent
        return data

    def _still_awake(self, vm: Json) -> bool:
        now = self.api.vm(int(vm["id"]))
        return now is not None and now.get("status") == "ACTIVE"

    def find(self, name: str) -> Json | None:
        found = self.provider.find_vms(instance_vm_name(name))
        return self.provider._keep_one(found) if found else None

    def ensure(self, name: str, config: TaskConfig | None, vm: Json | None = None) -> Json:
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
                self.api.action(int(vm["id"]), action)
        elif status == "ERROR":
            raise ProviderError(
                f"instance {name} (VM {vm['id']}) is in ERROR",
                suggestions=[f"`flow instance delete {name}`, then submit again"],
                provider="hyperstack",
            )
        return vm

    def _create(self, name: str, config: TaskConfig) -> Json:
        p = self.provider
        chosen = p.choose(config)
        self.check_policy(name, chosen)
        environment = p.environment(chosen.region)
        from flowlib.providers.hyperstack._provider import SSH_RULE

        body = {
            "name": instance_vm_name(name),
            "environment_name": environment,
            "flavor_name": chosen.flavor,
            "image_name": self.settings.image,
            "key_name": p.keypair(environment),
            "count": 1,
            "assign_floating_ip": True,
            "user_data": first_boot_script(name, self.settings.ssh_user),
            "labels": ["flowlib", INSTANCE_LABEL],
            "security_rules": [SSH_RULE],
        }
        return p.create_vm(instance_vm_name(name), body)

    def reach(
        self, name: str, *, wake: bool, vm: Json | None = None
    ) -> tuple[Json, RemoteHost] | None:
        """The VM and a host that answers, when it is ACTIVE with an IP now; else None (after
        asking it to wake, with ``wake``). The agent is given its settings on the way. ``vm``:
        the VM as just listed (else it is looked up)."""
        vm = vm or self.find(name)
        if vm is None:
            return None
        if wake and vm.get("status") in _ASLEEP:
            self.ensure(name, None, vm)
            return None
        host = self.provider._host(vm)
        if host is None:
            return None
        try:
            self.configure(vm, host)
        except FlowError:
            return None  # not answering yet (sshd still starting)
        return vm, host

    def configure(self, vm: Json, host: RemoteHost) -> None:
        key = self.settings.api_key
        secret = key.get_secret_value() if key is not None else ""
        command = configure_command(
            int(vm["id"]),
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
        from flowlib.core.store import TaskStore

        found: dict[str, TaskRecord] = {r.task_id: r for r in also}
        with TaskStore.at_home(self.provider.home) as store:
            for r in store.list(
                status=[TaskStatus.PENDING, TaskStatus.RUNNING], provider="hyperstack", limit=10_000
            ):
                if r.config.instance_name == name:
                    found.setdefault(r.task_id, r)
        waiting = [
            r
            for r in found.values()
            if not r.provider_data.get("delivered") and not r.cancel_requested
        ]
        return sorted(waiting, key=lambda r: (r.created_at, r.task_id))

    def flush(
        self, name: str, vm: Json, host: RemoteHost, also: Sequence[TaskRecord] = ()
    ) -> set[str]:
        """Deliver every undelivered task of the instance, oldest first; their ids."""
        done: set[str] = set()
        for record in self.undelivered(name, also):
            self.deliver(host, record)
            done.add(record.task_id)
            update = {"delivered": True, "instance": name, **_where(vm)}
            self.provider._record_intent(record, update)
            record.provider_data = {**record.provider_data, **update}
        return done

    def deliver(self, host: RemoteHost, record: TaskRecord) -> None:
        config = record.config
        code = None
        if config.upload_code:
            from pathlib import Path

            from flowlib.core.packaging import package_directory

            code = package_directory(Path(config.code_dir or Path.cwd())).data
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
    def states(self, records: Sequence[TaskRecord], listed: Sequence[Json]) -> dict[str, TaskState]:
        by_instance: dict[str, list[TaskRecord]] = {}
        for r in records:
            by_instance.setdefault(_name(r.config), []).append(r)
        out: dict[str, TaskState] = {}
        for name, group in by_instance.items():
            vm_name = instance_vm_name(name)
            try:
                same = [v for v in listed if v.get("name") == vm_name]
                same.sort(key=lambda v: int(v["id"]))  # oldest first, as find() has them
                vm = self.provider._keep_one(same) if same else None
                out.update(self._instance_states(name, group, vm))
            except FlowError as exc:  # this instance cannot be looked at now; the others can
                for r in group:
                    out[r.task_id] = _waiting(r, f"instance {name}: {exc.message}")
        return out

    def _instance_states(
        self, name: str, records: list[TaskRecord], vm: Json | None
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
        reached: tuple[Json, RemoteHost] | None = None
        if waiting:
            if vm is None or vm.get("status") in _ASLEEP:
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
        vm: Json | None,
        reached: tuple[Json, RemoteHost] | None,
        probe: _Probe | None,
    ) -> TaskState:
        from flowlib.providers.hyperstack._provider import _epoch, _finished

        data = record.provider_data
        if data.get("exit_code") is not None:
            return _finished(record, int(data["exit_code"]), "exited")
        if vm is None:
            if record.cancel_requested:
                return TaskState(TaskStatus.CANCELLED, None, "deleted", "cancelled by user")
            return TaskState(
                TaskStatus.FAILED,
                None,
                "deleted",
                f"instance {name} was deleted before the task reported an exit code",
                completed_at=_now(),
            )
        raw = str(vm.get("status"))
        if reached is None or probe is None:
            if raw in _ASLEEP or raw in _GOING:
                return TaskState(
                    TaskStatus.RUNNING,
                    provider_state=raw,
                    message=f"instance {name} is {raw.lower()}: the task's result is read when "
                    f"it wakes (`flow instance wake {name}`)",
                )
            return TaskState(TaskStatus.PENDING, provider_state=f"instance {raw}")
        code, started = probe.tasks.get(record.task_id, (None, None))
        began = _epoch(str(started).encode()) if started else None
        if code is not None:
            host = reached[1]
            log, _, _, message_path = task_paths(record.task_id)
            self.provider._keep_log(record, host, log)
            message = host.read_file(message_path)
            state = _finished(record, code, "exited")
            state.started_at = began
            if message:
                state.message = message.decode("utf-8", "replace").strip() or state.message
            state.provider_data = {"exit_code": code}
            return state
        if record.task_id in probe.pending:
            position = probe.pending.index(record.task_id) + 1
            return TaskState(
                TaskStatus.PENDING,
                provider_state=f"queued on {name}",
                message=f"position {position} of {len(probe.pending)} in {name}'s queue",
            )
        if started is not None or record.task_id in probe.tasks:
            return TaskState(
                TaskStatus.RUNNING,
                provider_state=f"running on {name}",
                started_at=began,
            )
        if record.cancel_requested:
            return TaskState(TaskStatus.CANCELLED, None, "dequeued", "cancelled by user")
        return TaskState(
            TaskStatus.FAILED,
            None,
            "lost",
            f"task is neither queued nor run on instance {name}",
            completed_at=_now(),
        )

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
                tasks[words[0]] = (_int(words[1]), _int(words[2]))
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
        from flowlib.providers.hyperstack._provider import VM_PREFIX

        vms = [
            v for v in self.api.vms(search=VM_PREFIX) if INSTANCE_LABEL in (v.get("labels") or [])
        ]
        return [self._view(str(v["name"])[len(VM_PREFIX) :], v) for v in vms]

    def describe(self, name: str) -> dict[str, Any]:
        """The instance's state (``absent``, ``running``, ``cooldown``, ``hibernated``,
        ``stopped``, ``waking``, ``going to sleep``...) and its queue."""
        return self._view(name, self.find(name))

    def _view(self, name: str, vm: Json | None) -> dict[str, Any]:
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
            vm_id=int(vm["id"]),
            status=raw,
            ip=vm.get("floating_ip"),
            flavor=(vm.get("flavor") or {}).get("name"),
            region=(vm.get("environment") or {}).get("region"),
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
            deadline = self.provider.clock.monotonic() + self.settings.wake_timeout_s
            while True:
                reached = self.reach(name, wake=True)
                if reached is not None:
                    self.flush(name, reached[0], reached[1])
                    break
                if self.provider.clock.monotonic() >= deadline:
                    from flowlib.errors import TimeoutError

                    raise TimeoutError(
                        f"instance {name} is not reachable after "
                        f"{self.settings.wake_timeout_s:g} s",
                        suggestions=["`flow instance list` shows its state; wake it again later"],
                        provider="hyperstack",
                    )
                self.provider.clock.sleep(self.provider.poll_interval_s)
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
        vm_id, policy = int(vm["id"]), self.settings.idle_policy
        if vm.get("status") != "ACTIVE":
            raise ValidationError(
                f"instance {name} is {vm.get('status')}; only an ACTIVE instance can go to sleep",
                suggestions=["`flow instance list` shows its state"],
                provider="hyperstack",
            )
        if policy == "delete":
            return self.delete(name)
        self.api.action(vm_id, policy, **({"retain_ip": "true"} if policy == "hibernate" else {}))
        return self.describe(name)

    def delete(self, name: str) -> dict[str, Any]:
        """Delete the instance's VM (and its disk) and wait until it is gone. Its unfinished
        tasks are cancelled."""
        from flowlib.core.store import TaskStore

        with TaskStore.at_home(self.provider.home) as store:
            for r in store.list(
                status=[TaskStatus.PENDING, TaskStatus.RUNNING], provider="hyperstack", limit=10_000
            ):
                if r.config.instance_name == name:
                    store.update(r.task_id, cancel_requested=True)
        vms = self.provider.find_vms(instance_vm_name(name))
        for vm in vms:
            self.api.delete_vm(int(vm["id"]))
        ids = [int(v["id"]) for v in vms]
        self.provider.wait_gone(ids, f"instance {name}", f"`flow instance delete {name}`")
        return self.describe(name)


def _name(config: TaskConfig) -> str:
    assert config.instance_name is not None
    return config.instance_name


def _where(vm: Json) -> dict[str, Any]:
    return {
        "vm_id": vm.get("id"),
        "region": (vm.get("environment") or {}).get("region"),
        "flavor": (vm.get("flavor") or {}).get("name"),
    }


def _waiting(record: TaskRecord, message: str) -> TaskState:
    return TaskState(TaskStatus.PENDING, provider_state="queued", message=message)


def _int(word: str) -> int | None:
    try:
        return int(word)
    except ValueError:
        return None


def _now() -> datetime:
    return datetime.now(timezone.utc)
