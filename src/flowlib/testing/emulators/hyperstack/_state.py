"""The emulated Hyperstack cloud: its resources and the VM state machine.

Time moves only through the clock. :meth:`HyperstackState.tick` applies every transition that is
due (cascading: with :meth:`Timing.instant` a new VM is ``ACTIVE`` with its IP in one tick). Every
method expects the caller to hold :attr:`HyperstackState.lock`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._boot import Sandbox, ScriptProcess
from .._clock import EmulatorClock, iso
from .._disks import VolumeDisks
from ._catalog import FlavorSpec
from ._entities import (
    BILLED,
    Environment,
    Flavor,
    HyperstackError,
    Keypair,
    Options,
    SecurityRule,
    Timing,
    Vm,
    Volume,
)

__all__ = ["BOOT_SERVICES_DIR", "USER_DATA_LOG", "USER_DATA_PATH", "HyperstackState"]

USER_DATA_PATH = "var/lib/cloud/instance/user-data.txt"
USER_DATA_LOG = "var/log/cloud-init-output.log"
# Bash files here run on every boot after the first (start, restore, reboot): what a systemd
# service installed by the first boot would do on a real VM.
BOOT_SERVICES_DIR = "etc/flowlib-emulator/boot.d"
BOOT_SERVICES_LOG = "var/log/boot.d.log"

# action -> (statuses it may start from, transitional status, final status, Timing field)
ACTIONS: Mapping[str, tuple[frozenset[str], str, str, str]] = {
    "stop": (frozenset({"ACTIVE"}), "STOPPING", "SHUTOFF", "stop_s"),
    "start": (frozenset({"SHUTOFF"}), "STARTING", "ACTIVE", "start_s"),
    "hibernate": (frozenset({"ACTIVE"}), "HIBERNATING", "HIBERNATED", "hibernate_s"),
    "hibernate-restore": (frozenset({"HIBERNATED"}), "RESTORING", "ACTIVE", "restore_s"),
    "hard-reboot": (frozenset({"ACTIVE", "SHUTOFF", "ERROR"}), "REBOOTING", "ACTIVE", "reboot_s"),
}
_STEPS: Mapping[str, tuple[str, str]] = {
    "CREATING": ("BUILD", "create_s"),
    "BUILD": ("ACTIVE", "build_s"),
    **{transit: (final, delay) for _, transit, final, delay in ACTIONS.values()},
}
# Statuses in which a VM's processes run.
_RUNNING = frozenset({"ACTIVE"})


@dataclass
class HyperstackState:
    clock: EmulatorClock
    timing: Timing
    options: Options
    sandbox: Sandbox | None  # None: VMs do not run their user_data
    prices: dict[str, float]
    stock: dict[tuple[str, str], int]
    regions: tuple[tuple[str, str, str], ...]
    images: tuple[str, ...]
    lock: threading.RLock = field(default_factory=threading.RLock)
    api_keys: set[str] = field(default_factory=set)
    flavors: list[Flavor] = field(default_factory=list)
    environments: dict[int, Environment] = field(default_factory=dict)
    keypairs: dict[int, Keypair] = field(default_factory=dict)
    vms: dict[int, Vm] = field(default_factory=dict)
    volumes: dict[int, Volume] = field(default_factory=dict)
    boot_env: Callable[[Vm], dict[str, str]] = field(default=lambda _vm: {})
    disks: VolumeDisks | None = None  # volumes as directories, for VMs that boot (_disks.py)
    # ssh=True: each ACTIVE VM runs its own sshd at its floating IP, a loopback address
    # (127.N.x.y, N per emulator), on the emulator's one SSH port (Hyperstack reports no port)
    ssh: bool = False
    ssh_port: int = 0
    network: int = field(default_factory=lambda: random.SystemRandom().randint(16, 250))
    org_id: int = 7001
    _ids: dict[str, int] = field(default_factory=dict)
    _ips: int = 0
    _window: tuple[float, int] = (0.0, 0)  # rate limit: (window start, requests in it)

    # ---- identifiers -----------------------------------------------------------------------

    def new_id(self, kind: str) -> int:
        start = {"vm": 48200, "env": 900, "key": 300, "vol": 5100, "rule": 7700, "att": 60}
        self._ids[kind] = self._ids.get(kind, start.get(kind, 1)) + 1
        return self._ids[kind]

    def now(self) -> float:
        return self.clock.time()

    def add_flavor(self, spec: FlavorSpec) -> Flavor:
        flavor = Flavor(self.new_id("flavor") + 1400, spec, self.now())
        self.flavors.append(flavor)
        return flavor

    # ---- rate limit ------------------------------------------------------------------------

    def over_rate_limit(self) -> bool:
        """Count one request; True when it is over the per-minute limit (fixed windows)."""
        limit = self.options.rate_limit_per_minute
        if limit is None:
            return False
        start, count = self._window
        now = self.now()
        if now - start >= 60.0:
            start, count = now, 0
        self._window = (start, count + 1)
        return count + 1 > limit

    # ---- lookups ---------------------------------------------------------------------------

    def region_names(self) -> list[str]:
        return [name for name, _, _ in self.regions]

    def environment_named(self, name: str) -> Environment:
        for env in self.environments.values():
            if env.name == name:
                return env
        raise HyperstackError(404, f"Environment {name} not found")

    def keypair_named(self, name: str, env: Environment) -> Keypair:
        for key in self.keypairs.values():
            if key.name == name and key.environment.id == env.id:
                return key
        raise HyperstackError(404, f"Keypair {name} not found in environment {env.name}")

    def flavor_named(self, name: str, region: str) -> Flavor:
        for flavor in self.flavors:
            if flavor.name == name and flavor.spec.region == region:
                return flavor
        raise HyperstackError(404, f"Flavor {name} not found in region {region}")

    def environment(self, env_id: int) -> Environment:
        env = self.environments.get(env_id)
        if env is None:
            raise HyperstackError(404, f"Environment {env_id} not found")
        return env

    def keypair(self, key_id: int) -> Keypair:
        key = self.keypairs.get(key_id)
        if key is None:
            raise HyperstackError(404, f"Keypair {key_id} not found")
        return key

    def vm(self, vm_id: int) -> Vm:
        vm = self.vms.get(vm_id)
        if vm is None or vm.gone:
            raise HyperstackError(404, f"Virtual machine {vm_id} not found")
        return vm

    def volume(self, volume_id: int) -> Volume:
        if volume_id not in self.volumes:
            raise HyperstackError(404, f"Volume {volume_id} not found")
        return self.volumes[volume_id]

    def live_vms(self) -> list[Vm]:
        return [vm for vm in self.vms.values() if not vm.gone]

    # ---- stock -----------------------------------------------------------------------------

    def gpus_in_use(self, region: str, gpu: str) -> int:
        return sum(
            vm.flavor.spec.gpu_count
            for vm in self.live_vms()
            if vm.flavor.spec.region == region
            and vm.flavor.spec.gpu == gpu
            and vm.status not in ("HIBERNATED", "DELETING", "ERROR")
        )

    def gpus_free(self, region: str, gpu: str) -> int:
        return max(0, self.stock.get((region, gpu), 0) - self.gpus_in_use(region, gpu))

    def in_stock(self, flavor: Flavor, count: int = 1) -> bool:
        spec = flavor.spec
        if spec.gpu_count == 0:
            return True  # CPU-only flavors are not counted
        return self.gpus_free(spec.region, spec.gpu) >= spec.gpu_count * count

    # ---- environments and keypairs ---------------------------------------------------------

    def create_environment(self, name: str, region: str) -> Environment:
        if region not in self.region_names():
            raise HyperstackError(404, f"Region {region} not found")
        if any(e.name == name for e in self.environments.values()):
            raise HyperstackError(409, f"Environment with name {name} already exists")
        env = Environment(self.new_id("env"), name, region, self.now())
        self.environments[env.id] = env
        return env

    def delete_environment(self, env_id: int) -> None:
        env = self.environment(env_id)
        used = [vm for vm in self.live_vms() if vm.environment.id == env_id]
        used_keys = [k for k in self.keypairs.values() if k.environment.id == env_id]
        if used or used_keys:
            raise HyperstackError(400, f"Environment {env.name} still has resources in it")
        del self.environments[env_id]

    def import_keypair(self, name: str, environment_name: str, public_key: str) -> Keypair:
        env = self.environment_named(environment_name)
        if any(k.name == name and k.environment.id == env.id for k in self.keypairs.values()):
            raise HyperstackError(409, f"Keypair with name {name} already exists")
        fingerprint = _fingerprint(public_key)
        key = Keypair(self.new_id("key"), name, env, public_key.strip(), fingerprint, self.now())
        self.keypairs[key.id] = key
        return key

    # ---- virtual machines ------------------------------------------------------------------

    def create_vms(self, body: Any) -> list[Vm]:
        env = self.environment_named(body.environment_name)
        flavor = self.flavor_named(body.flavor_name, env.region)
        self.keypair_named(body.key_name, env)
        if body.image_name is not None and body.image_name not in self.images:
            raise HyperstackError(404, f"Image {body.image_name} not found in region {env.region}")
        size = len((body.user_data or "").encode("utf-8"))
        if size > self.options.user_data_limit:
            raise HyperstackError(
                400, f"user_data is {size} bytes; at most {self.options.user_data_limit} allowed"
            )
        if not self.in_stock(flavor, body.count):
            raise HyperstackError(
                400, f"Flavor {flavor.name} is out of stock in {env.region} for {body.count} VM(s)"
            )
        names = (
            [body.name] if body.count == 1 else [f"{body.name}-{i + 1}" for i in range(body.count)]
        )
        if self.options.reject_duplicate_names:
            taken = {vm.name for vm in self.live_vms()}
            if taken & set(names):
                raise HyperstackError(409, f"Virtual machine with name {body.name} already exists")
        price = self.prices.get(flavor.spec.gpu, 0.0) * flavor.spec.gpu_count
        now = self.now()
        created = []
        for name in names:
            vm_id = self.new_id("vm")
            vm = Vm(
                id=vm_id,
                name=name,
                environment=env,
                flavor=flavor,
                image_name=body.image_name,
                key_name=body.key_name,
                user_data=body.user_data,
                assign_floating_ip=bool(body.assign_floating_ip),
                labels=list(body.labels or []),
                fixed_ip=f"10.0.{vm_id // 250 % 250}.{vm_id % 250 + 2}",
                created_at=now,
                price_per_hour=price,
                callback_url=body.callback_url,
            )
            for rule in body.security_rules or []:
                self.add_rule(vm, rule.model_dump())
            self.vms[vm.id] = vm
            self._set(vm, "CREATING", now)
            created.append(vm)
        return created

    def add_rule(self, vm: Vm, rule: Mapping[str, Any]) -> SecurityRule:
        made = SecurityRule(
            self.new_id("rule"),
            rule["direction"],
            rule["ethertype"],
            rule["protocol"],
            rule["remote_ip_prefix"],
            rule.get("port_range_min"),
            rule.get("port_range_max"),
            self.now(),
        )
        vm.security_rules.append(made)
        return made

    def act(self, vm: Vm, action: str, retain_ip: bool = True) -> None:
        """Start a lifecycle action (``stop``, ``start``, ``hibernate``, ...) or refuse it."""
        sources, transit, _, _ = ACTIONS[action]
        if vm.status not in sources:
            allowed = " or ".join(sorted(sources))
            raise HyperstackError(
                400,
                f"Cannot {action} virtual machine {vm.id} in status {vm.status}; "
                f"it must be {allowed}",
            )
        if action == "hibernate" and not vm.flavor.spec.hibernation:
            raise HyperstackError(
                400,
                f"Hibernation is not supported for flavor {vm.flavor.name} "
                f"in {vm.flavor.spec.region}",
            )
        if action == "hibernate-restore" and not self.in_stock(vm.flavor):
            raise HyperstackError(
                400, f"Flavor {vm.flavor.name} is out of stock in {vm.flavor.spec.region}"
            )
        vm.retain_ip = retain_ip
        self._set(vm, transit, self.now())

    def delete_vm(self, vm: Vm) -> None:
        if vm.status == "DELETING":
            raise HyperstackError(409, f"Virtual machine {vm.id} is already being deleted")
        for vol in self.volumes.values():
            if vol.attached_to == vm.id:
                self.detach(vol)
        self._set(vm, "DELETING", self.now())

    def fail(self, vm: Vm) -> None:
        self._set(vm, "ERROR", self.now())

    def attach_ip(self, vm: Vm, now: float) -> None:
        self._ips += 1
        vm.floating_ip = (
            self.loopback_ip(vm) if self.ssh else f"203.0.113.{(self._ips - 1) % 254 + 1}"
        )
        vm.floating_ip_status = "ATTACHED"
        vm.ip_due = None

    def loopback_ip(self, vm: Vm) -> str:
        """The VM's own loopback address: its floating IP, where its sshd listens."""
        return f"127.{self.network}.{vm.id // 250 % 250}.{vm.id % 250 + 2}"

    def detach_ip(self, vm: Vm) -> None:
        vm.floating_ip = None
        vm.floating_ip_status = "DETACHED"
        vm.ip_due = None

    # ---- volumes ---------------------------------------------------------------------------

    def add_volume(self, vol: Volume) -> None:
        self.volumes[vol.id] = vol
        if self.disks is not None:
            self.disks.create(vol.id)

    def delete_volume(self, vol: Volume) -> None:
        if vol.attached_to is not None:
            raise HyperstackError(
                400, f"Volume {vol.id} is attached to VM {vol.attached_to}; detach it first"
            )
        del self.volumes[vol.id]
        if self.disks is not None:
            self.disks.delete(vol.id)

    def attach(self, vol: Volume, vm: Vm, protected: bool) -> None:
        if vol.environment.id != vm.environment.id:
            raise HyperstackError(
                400,
                f"Volume {vol.id} is in environment {vol.environment.name}, "
                f"not {vm.environment.name}",
            )
        if vol.status != "available":
            raise HyperstackError(400, f"Volume {vol.id} is {vol.status}, not available")
        used = {v.device for v in self.volumes.values() if v.attached_to == vm.id}
        device = next(f"/dev/vd{c}" for c in "bcdefghijklmnop" if f"/dev/vd{c}" not in used)
        vol.attached_to, vol.attachment_id, vol.device = vm.id, self.new_id("att"), device
        vol.protected = protected
        vol.status = "in-use"
        if self.disks is not None and self.sandbox is not None:
            self.disks.attach(vol.id, self.sandbox.root(str(vm.id)), device)

    def detach(self, vol: Volume) -> None:
        """Detach (a deleted VM's volumes too: they become available again, data kept)."""
        if self.disks is not None and self.sandbox is not None and vol.attached_to is not None:
            self.disks.detach(self.sandbox.root(str(vol.attached_to)), vol.device or "")
        vol.attached_to = vol.attachment_id = vol.device = None
        vol.status = "available"

    # ---- time ------------------------------------------------------------------------------

    def tick(self) -> None:
        now = self.now()
        for _ in range(50):  # cascades settle in a few rounds; the bound guards a bug
            changed = False
            for vm in list(self.vms.values()):
                changed |= self._advance(vm, now)
            for vol in self.volumes.values():
                if vol.status == "creating" and now >= vol.since + self.timing.volume_s:
                    vol.status = "available"
                    changed = True
            if not changed:
                break

    def _advance(self, vm: Vm, now: float) -> bool:
        if vm.gone:
            return False
        if vm.status == "DELETING":
            if now < vm.since + self.timing.delete_s:
                return False
            self._accrue(vm, vm.since + self.timing.delete_s)
            vm.deleted_at = vm.since + self.timing.delete_s
            vm.billed_until = None
            return True
        if vm.ip_due is not None and vm.status == "ACTIVE" and now >= vm.ip_due:
            self.attach_ip(vm, now)
            return True
        step = _STEPS.get(vm.status)
        if step is None:
            return False
        target, delay_name = step
        at = vm.since + float(getattr(self.timing, delay_name))
        if now < at:
            return False
        self._set(vm, target, at)
        return True

    def _set(self, vm: Vm, status: str, at: float) -> None:
        self._accrue(vm, at)
        before = vm.status
        vm.status = status
        vm.since = at
        vm.history.append((at, status))
        if status in BILLED and vm.billed_until is None:
            vm.billed_until = at
        elif status not in BILLED:
            vm.billed_until = None
        if status not in _RUNNING:
            for proc in vm.processes:
                proc.stop(self.options.stop_grace_s)
            if self.ssh and self.sandbox is not None:
                self.sandbox.stop_ssh(str(vm.id))
        if status == "HIBERNATED" and not vm.retain_ip and vm.floating_ip is not None:
            self.detach_ip(vm)  # released: restore may bring a different address
        if status == "ACTIVE":
            if vm.assign_floating_ip and vm.floating_ip is None:
                vm.ip_due = at + self.timing.ip_s
                vm.floating_ip_status = "ATTACHING"
            self._boot(vm, first=not vm.booted)
            vm.booted = True
            self._serve_ssh(vm)
        if status == "DELETING" and before != "DELETING":
            vm.ip_due = None

    def _accrue(self, vm: Vm, now: float) -> None:
        if vm.billed_until is not None and now > vm.billed_until:
            vm.billed_dollars += vm.price_per_hour * (now - vm.billed_until) / 3600
            vm.billed_until = now

    def billed(self, vm: Vm) -> float:
        self._accrue(vm, self.now())
        return vm.billed_dollars

    def _boot(self, vm: Vm, *, first: bool) -> None:
        if self.sandbox is None:
            return
        key = str(vm.id)
        root = self.sandbox.root(key)
        root.mkdir(parents=True, exist_ok=True)
        env = self._env(vm)
        if first:
            script = vm.user_data or ""
            if script.startswith("#!"):  # cloud-init runs a user_data script on first boot only
                vm.processes.append(
                    self.sandbox.boot(
                        key, script, env, script_path=USER_DATA_PATH, log_path=USER_DATA_LOG
                    )
                )
            return
        vm.processes = [p for p in vm.processes if p.running]
        services = root / BOOT_SERVICES_DIR
        for path in sorted(services.glob("*")) if services.is_dir() else []:
            if path.is_file():
                relative = str(path.relative_to(root))
                text = path.read_text(encoding="utf-8", errors="replace")
                vm.processes.append(
                    self.sandbox.boot(
                        key, text, env, script_path=relative, log_path=BOOT_SERVICES_LOG
                    )
                )

    def _serve_ssh(self, vm: Vm) -> None:
        if not self.ssh or self.sandbox is None:
            return
        key = self.keypair_named(vm.key_name, vm.environment).public_key
        self.sandbox.serve_ssh(
            str(vm.id), [key], self._env(vm), address=self.loopback_ip(vm), port=self.ssh_port
        )

    def _env(self, vm: Vm) -> dict[str, str]:
        env = self.boot_env(vm)
        if self.disks is not None:  # blkid, mkfs.ext4, mount... for emulated volumes
            env = {"PATH": self.disks.path_env(os.environ.get("PATH")), **env}
        return env

    def script_processes(self) -> list[ScriptProcess]:
        return [p for vm in self.vms.values() for p in vm.processes]

    def billing_history(self, vm_id: int) -> list[tuple[float, bool]]:
        """When the VM was billed: in the statuses that hold its GPUs (not while deleting)."""
        return [(at, status in BILLED) for at, status in self.vms[vm_id].history]

    def sandbox_root(self, vm_id: int) -> Path:
        if self.sandbox is None:
            raise ValueError("this emulator does not boot VMs (boot=False)")
        if vm_id not in self.vms:
            raise KeyError(f"no VM {vm_id}")
        return self.sandbox.root(str(vm_id))

    # ---- JSON ------------------------------------------------------------------------------

    def vm_json(self, vm: Vm) -> dict[str, Any]:
        env = vm.environment
        attachments = [
            {
                "id": vol.attachment_id,
                "device": vol.device,
                "status": "attached",
                "protected": vol.protected,
                "created_at": iso(vol.since or vol.created_at),
                "volume": {
                    "id": vol.id,
                    "name": vol.name,
                    "size": vol.size,
                    "volume_type": vol.volume_type,
                    "bootable": False,
                    "description": vol.description,
                },
            }
            for vol in self.volumes.values()
            if vol.attached_to == vm.id
        ]
        return {
            "id": vm.id,
            "name": vm.name,
            "status": vm.status,
            "vm_state": _VM_STATE.get(vm.status, "building"),
            "power_state": "RUNNING" if vm.status in ("ACTIVE", "STOPPING") else "SHUTDOWN",
            "environment": {
                "id": env.id,
                "name": env.name,
                "org_id": self.org_id,
                "region": env.region,
                "features": {"green_status": "GREEN", "network_optimised": True},
            },
            "flavor": vm.flavor.instance_json(),
            "image": {"name": vm.image_name},
            "keypair": {"name": vm.key_name},
            "fixed_ip": vm.fixed_ip if vm.status not in ("CREATING",) else None,
            "floating_ip": vm.floating_ip,
            "floating_ip_status": vm.floating_ip_status,
            "requires_public_ip": vm.assign_floating_ip,
            "port_randomization": False,
            "port_randomization_status": None,
            "security_rules": [r.to_json() for r in vm.security_rules],
            "volume_attachments": attachments,
            "labels": list(vm.labels),
            "locked": False,
            "os": "ubuntu",
            "contract_id": None,
            "callback_url": vm.callback_url,
            "created_at": iso(vm.created_at),
            "features": {},
        }


_VM_STATE = {
    "ACTIVE": "active",
    "SHUTOFF": "stopped",
    "STOPPING": "active",
    "STARTING": "stopped",
    "HIBERNATED": "shelved_offloaded",
    "HIBERNATING": "active",
    "RESTORING": "shelved_offloaded",
    "REBOOTING": "active",
    "ERROR": "error",
    "DELETING": "deleted",
}


def _fingerprint(public_key: str) -> str:
    """The MD5 fingerprint OpenSSH prints (``aa:bb:...``); 400 when the key does not parse."""
    parts = public_key.split()
    kinds = ("ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384")
    try:
        if len(parts) < 2 or parts[0] not in kinds:
            raise ValueError
        blob = base64.b64decode(parts[1], validate=True)
    except (ValueError, binascii.Error):
        raise HyperstackError(400, "public_key is not a valid OpenSSH public key") from None
    digest = hashlib.md5(blob, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))
