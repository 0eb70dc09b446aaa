"""The emulated Mithril cloud: its resources, the auction and the state machines.

Time moves only through the clock. :meth:`FcpState.tick` applies every transition that is due,
cascading (with :meth:`Timing.instant` a bid goes from ``Open`` to a running instance in one
tick) and is called before each request, by the loopback server's ticker, and by tests through
``emulator.advance(seconds)``. Every method expects the caller to hold :attr:`FcpState.lock`.
"""

from __future__ import annotations

import os
import random
import string
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from .._boot import Sandbox, ScriptProcess
from .._clock import EmulatorClock
from .._disks import VolumeDisks
from .._wire import ApiError
from ._entities import (
    ENDED,
    OCCUPYING,
    ApiKey,
    Auction,
    Bid,
    Instance,
    InstanceType,
    Project,
    SshKey,
    Timing,
    Volume,
    dollars,
    parse_price,
)
from ._models import CreateBidRequest, LaunchSpecification, UpdateBidRequest

__all__ = ["MAX_STARTUP_SCRIPT", "ORDER_TICKERS", "FcpState", "Options", "volume_device"]

MAX_STARTUP_SCRIPT = 10_000
MAX_QUANTITY = 256
# Called by every tick after the auctions, until nothing changes: ``advance(state, now)`` moves
# the orders beside spot bids (the modules serving them register here on import).
_Order = TypeVar("_Order")
ORDER_TICKERS: list[Callable[[FcpState, float], bool]] = []
_ALNUM = string.ascii_letters + string.digits


def volume_device(volume_fid: str) -> str:
    """Where an attached volume appears on an instance: udev's link for the virtio disk whose
    serial is the volume's FID (a serial holds 20 characters, exactly ``vol_`` + 16)."""
    return f"/dev/disk/by-id/virtio-{volume_fid[:20]}"


@dataclass(frozen=True)
class Options:
    """Behaviour the documentation leaves open, chosen per emulator."""

    require_ssh_key: bool = False  # answer 400 "... ssh key is required" to a bid without one
    repeat_delete_status: int = 204  # DELETE of an already terminated bid: 204 or 404
    terminate_when_script_ends: bool = False  # the real cloud keeps the VM (and the bill) going
    max_instances: int | None = None  # project quota on live instances (403 beyond)
    default_page_size: int = 100
    stop_grace_s: float = 2.0  # real seconds between SIGTERM and SIGKILL of a stopped script
    # The host in ``ssh_destination``. The cloud reports a public IP; a client that refuses
    # others (flow-compute waits 60 s per command for a public one) takes ``"localhost"``.
    ssh_host: str = "127.0.0.1"


@dataclass
class FcpState:
    clock: EmulatorClock
    timing: Timing
    options: Options
    sandbox: Sandbox | None  # None: instances do not run their startup script
    seed: int = 0
    lock: threading.RLock = field(default_factory=threading.RLock)
    user_fid: str = ""
    organization_id: str = ""
    api_keys: dict[str, ApiKey] = field(default_factory=dict)  # by secret
    projects: dict[str, Project] = field(default_factory=dict)
    instance_types: dict[str, InstanceType] = field(default_factory=dict)
    cpu_types: dict[str, InstanceType] = field(default_factory=dict)  # no auction: fixed price
    cpu_regions: dict[str, tuple[str, ...]] = field(default_factory=dict)  # by CPU type FID
    auctions: dict[str, Auction] = field(default_factory=dict)
    bids: dict[str, Bid] = field(default_factory=dict)
    instances: dict[str, Instance] = field(default_factory=dict)
    ssh_keys: dict[str, SshKey] = field(default_factory=dict)
    volumes: dict[str, Volume] = field(default_factory=dict)
    idempotency: dict[tuple[str, str], str] = field(default_factory=dict)
    # Orders beside spot bids (reservations, CPU VMs, clusters, lifecycle scripts): the
    # modules that serve them keep their records here, by FID, and advance them in ``tick``.
    orders: dict[str, object] = field(default_factory=dict)
    launch_specs: dict[str, dict[str, Any]] = field(default_factory=dict)  # by order FID
    boot_env: Callable[[Instance], dict[str, str]] = field(default=lambda _i: {})
    ssh: bool = False  # each booted instance runs its own sshd (``_sshd.py``)
    disks: VolumeDisks | None = None  # volumes as directories, for instances that boot
    # Instances' private IPs are loopback addresses (127.N.x.y, N chosen per emulator), so the
    # nodes of a bid reach each other at them, as on the cloud's private network.
    network: int = field(default_factory=lambda: random.SystemRandom().randint(16, 250))
    _seq: int = 0
    _last_tick: float = 0.0
    _rng: random.Random = field(default_factory=random.Random)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self._last_tick = self.clock.time()
        self.user_fid = self.user_fid or self.new_fid("user")
        self.organization_id = self.organization_id or self.new_fid("org")

    # ---- API keys ------------------------------------------------------------------------

    def add_api_key(self, secret: str, name: str, expires_at: float | None = None) -> ApiKey:
        now = self.now()
        key = ApiKey(
            self.new_fid("apikey"), name, secret, now, expires_at or now + 10 * 365 * 86400
        )
        self.api_keys[secret] = key
        return key

    def key_valid(self, secret: str) -> bool:
        key = self.api_keys.get(secret)
        return key is not None and key.valid(self.now())

    def revoke_api_key(self, fid: str) -> None:
        for key in self.api_keys.values():
            if key.fid == fid and key.deactivated_at is None:
                key.deactivated_at = self.now()
                return
        raise ApiError(404, f"API key {fid} not found")

    # ---- identifiers and lookups -------------------------------------------------------

    def new_fid(self, prefix: str) -> str:
        return f"{prefix}_" + "".join(self._rng.choice(_ALNUM) for _ in range(16))

    def next_seq(self) -> int:
        self._seq += 1
        return self._seq

    def now(self) -> float:
        return self.clock.time()

    def project(self, fid: str) -> Project:
        if fid not in self.projects:
            raise ApiError(404, f"Project {fid} not found")
        return self.projects[fid]

    def bid(self, fid: str) -> Bid:
        if fid not in self.bids:
            raise ApiError(404, f"Bid {fid} not found")
        return self.bids[fid]

    def instance(self, fid: str) -> Instance:
        if fid not in self.instances:
            raise ApiError(404, f"Instance {fid} not found")
        return self.instances[fid]

    def auction_for(self, instance_type: str, region: str) -> Auction | None:
        for auction in self.auctions.values():
            if auction.instance_type == instance_type and auction.region == region:
                return auction
        return None

    def occupied(self, auction: Auction) -> int:
        return sum(
            1
            for inst in self.instances.values()
            if inst.occupying
            and inst.instance_type == auction.instance_type
            and inst.region == auction.region
        )

    def available(self, auction: Auction) -> int:
        return max(0, auction.capacity - self.occupied(auction))

    def lowest_allocated_cents(self, auction: Auction) -> int | None:
        limits = [
            b.limit_cents
            for b in self.bids.values()
            if b.status == "Allocated"
            and b.instance_type == auction.instance_type
            and b.region == auction.region
        ]
        return min(limits) if limits else None

    # ---- bids ----------------------------------------------------------------------------

    def create_bid(self, req: CreateBidRequest, idempotency_key: str | None, key: str) -> Bid:
        if idempotency_key and (key, idempotency_key) in self.idempotency:
            return self.bids[self.idempotency[(key, idempotency_key)]]
        self.project(req.project)
        if req.instance_type not in self.instance_types:
            raise ApiError(404, f"Instance type {req.instance_type} not found")
        auction = self.auction_for(req.instance_type, req.region)
        if auction is None:
            raise ApiError(
                400,
                f"Instance type {req.instance_type} is not available in region {req.region}",
            )
        limit = self._limit_price(req.limit_price, auction, ("body", "limit_price"))
        if not 1 <= req.instance_quantity <= MAX_QUANTITY:
            raise ApiError(400, f"instance_quantity must be between 1 and {MAX_QUANTITY}")
        spec = req.launch_specification
        _check_script(spec.startup_script)
        if not spec.ssh_keys and self.options.require_ssh_key:
            raise ApiError(400, "At least one SSH key is required for this project")
        self.check_ssh_keys(spec.ssh_keys, req.project)
        self.check_volumes(spec.volumes, req.project, req.region)
        if spec.memory_gb is not None and not auction.adjustable_memory:
            raise ApiError(400, "Memory is not adjustable for this instance type")
        same_name = (b for b in self.bids.values() if b.project == req.project and b.live)
        if any(b.name == req.name for b in same_name):
            raise ApiError(400, f"Bid name already used in this project: {req.name}")
        quota = self.options.max_instances
        if quota is not None:
            live = sum(1 for i in self.instances.values() if i.status not in ENDED)
            if live + req.instance_quantity > quota:
                raise ApiError(403, f"Quota exceeded: at most {quota} instances per project")
        now = self.now()
        spec_json = spec.model_dump()
        # Keys marked required are installed on every instance of the project.
        keys = self.ssh_keys.values()
        required = [k.fid for k in keys if k.required and k.project == req.project]
        spec_json["ssh_keys"] = list(dict.fromkeys([*spec.ssh_keys, *required]))
        bid = Bid(
            fid=self.new_fid("bid"),
            seq=self.next_seq(),
            name=req.name,
            project=req.project,
            created_by=self.user_fid,
            created_at=now,
            limit_cents=limit,
            quantity=req.instance_quantity,
            instance_type=req.instance_type,
            region=req.region,
            launch_specification=spec_json,
            since=now,
        )
        bid.event(now, "Placed", limit_price=dollars(limit))
        self.bids[bid.fid] = bid
        for vol in spec.volumes:
            self.volumes[vol].bids.append(bid.fid)
        if idempotency_key:
            self.idempotency[(key, idempotency_key)] = bid.fid
        return bid

    def update_bid(self, fid: str, req: UpdateBidRequest) -> Bid:
        bid = self.bid(fid)
        if not bid.live:
            raise ApiError(400, f"Bid {fid} is terminated and cannot be changed")
        now = self.now()
        auction = self.auction_for(bid.instance_type, bid.region)
        assert auction is not None
        if req.limit_price is not None:
            bid.limit_cents = self._limit_price(req.limit_price, auction, ("body", "limit_price"))
            bid.event(now, "Limit Price Changed", limit_price=dollars(bid.limit_cents))
            if bid.status == "Allocated" and bid.limit_cents < auction.price_cents:
                self.preempt(bid)
        if req.volumes is not None:
            if bid.status != "Paused" and req.paused is not True:
                raise ApiError(400, "Volumes can only be changed while the bid is paused")
            self.check_volumes(req.volumes, bid.project, bid.region)
            before = set(bid.launch_specification.get("volumes", []))
            after = set(req.volumes)
            for vol in before - after:
                self.volumes[vol].bids.remove(bid.fid)
            for vol in after - before:
                self.volumes[vol].bids.append(bid.fid)
            bid.launch_specification["volumes"] = list(req.volumes)
            if after - before:
                bid.event(now, "Volumes Attached")
            if before - after:
                bid.event(now, "Volumes Removed")
        if req.memory_gb is not None:
            if not auction.adjustable_memory:
                raise ApiError(400, "Memory is not adjustable for this instance type")
            bid.launch_specification["memory_gb"] = req.memory_gb
            bid.event(now, "Memory Adjusted", memory_gb=req.memory_gb)
        if req.paused is True:
            if bid.status == "Paused":
                raise ApiError(400, f"Bid {fid} is already paused")
            self._pause(bid, now)
        elif req.paused is False:
            if bid.status != "Paused":
                raise ApiError(400, f"Bid {fid} is not paused")
            self._set_status(bid, "Open", now)
            bid.event(now, "Resumed")
        return bid

    def cancel_bid(self, fid: str) -> bool:
        """Terminate a bid; False when it already was."""
        bid = self.bid(fid)
        if not bid.live:
            return False
        now = self.now()
        self._set_status(bid, "Terminated", now)
        bid.deactivated_at = now
        bid.event(now, "Terminated")
        for inst in self._instances_of(bid):
            if inst.status not in ENDED and inst.status != "STATUS_STOPPING":
                self._set_instance(inst, "STATUS_STOPPING", now)
        for vol in self.volumes.values():
            if bid.fid in vol.bids:
                vol.bids.remove(bid.fid)
        return True

    def preempt(self, bid: Bid) -> None:
        """Outbid: the bid turns ``Preempting``; its instances stop after the notice period."""
        if bid.status != "Allocated":
            raise ApiError(400, f"Bid {bid.fid} is {bid.status}, not Allocated")
        now = self.now()
        self._set_status(bid, "Preempting", now)
        for inst in self._instances_of(bid):
            if inst.status not in ENDED:
                self._set_instance(inst, "STATUS_PREEMPTING", now)

    def set_market_price(self, auction: Auction, cents: int) -> None:
        """Move the market. Allocated bids whose limit is now below it are preempted."""
        now = self.now()
        for inst in self.instances.values():
            if inst.instance_type == auction.instance_type and inst.region == auction.region:
                self._accrue(inst, now)
                if inst.billed_until is not None and inst.bid is not None:
                    inst.price_cents = cents
                    inst.prices.append((now, cents))
        auction.price_cents = cents
        auction.history.append((now, cents))
        for bid in list(self.bids.values()):
            same = bid.instance_type == auction.instance_type and bid.region == auction.region
            if same and bid.status == "Allocated" and bid.limit_cents < cents:
                self.preempt(bid)

    def fail_instance(self, inst: Instance) -> None:
        now = self.now()
        self._set_instance(inst, "STATUS_ERROR", now)

    def billed_cents(self, bid: Bid) -> float:
        now = self.now()
        total = 0.0
        for inst in self._instances_of(bid, include_past=True):
            self._accrue(inst, now)
            total += inst.billed_cents
        return total

    # ---- time ----------------------------------------------------------------------------

    def tick(self) -> None:
        """Apply every transition that is due at the clock's time."""
        now = self.now()
        for _ in range(100):  # cascades settle in a few rounds; the bound guards a bug
            changed = False
            for inst in list(self.instances.values()):
                changed |= self._advance_instance(inst, now)
            for bid in list(self.bids.values()):
                changed |= self._advance_bid(bid, now)
            changed |= self._run_auctions(now)
            for advance in ORDER_TICKERS:
                changed |= advance(self, now)
            if not changed:
                break
        self._last_tick = now

    def _advance_instance(self, inst: Instance, now: float) -> bool:
        t = self.timing
        script_ended = inst.process is not None and inst.process.poll() is not None
        ends_bid = script_ended and self.options.terminate_when_script_ends and inst.bid
        if ends_bid and self.cancel_bid(inst.bid or ""):
            return True
        steps: dict[str, tuple[float, str]] = {
            "STATUS_NEW": (t.confirm_s, "STATUS_CONFIRMED"),
            "STATUS_CONFIRMED": (t.initialize_s, "STATUS_INITIALIZING"),
            "STATUS_INITIALIZING": (t.start_s, "STATUS_STARTING"),
            "STATUS_STARTING": (t.ssh_s, "STATUS_RUNNING"),
            "STATUS_STOPPING": (t.stop_s, "STATUS_TERMINATED"),
            "STATUS_PREEMPTING": (t.preempt_notice_s, "STATUS_PREEMPTED"),
        }
        if inst.status not in steps:
            return False
        delay, target = steps[inst.status]
        if now < inst.since + delay:
            return False
        self._set_instance(inst, target, inst.since + delay)
        return True

    def _advance_bid(self, bid: Bid, now: float) -> bool:
        if bid.status == "Preempting" and all(i.status in ENDED for i in self._instances_of(bid)):
            self._set_status(bid, "Open", now)
            bid.instances = []
            bid.event(now, "Preempted")
            return True
        return False

    def _run_auctions(self, now: float) -> bool:
        waiting = [
            b
            for b in self.bids.values()
            if b.status == "Open" and now >= b.since + self.timing.allocate_s
        ]
        waiting.sort(key=lambda b: (-b.limit_cents, b.seq))  # highest limit first, then oldest
        changed = False
        for bid in waiting:
            auction = self.auction_for(bid.instance_type, bid.region)
            if auction is None or bid.limit_cents < auction.price_cents:
                continue
            if self.available(auction) < bid.quantity:  # all or nothing
                continue
            # Nothing changed since the last tick (every change ticks first), so the bid has
            # been winning since then: allocate it when it first could have been.
            self._allocate(bid, auction, max(self._last_tick, bid.since + self.timing.allocate_s))
            changed = True
        return changed

    def _allocate(self, bid: Bid, auction: Auction, at: float) -> None:
        self._set_status(bid, "Allocated", at)
        bid.event(at, "Allocated", limit_price=dollars(bid.limit_cents))
        paused = [i for i in self._instances_of(bid) if i.status == "STATUS_PAUSED"]
        if paused:  # resumed: same machines and disks, the startup script does not run again
            for inst in paused:
                inst.price_cents = auction.price_cents
                self._set_instance(inst, "STATUS_STARTING", at)
            return
        bid.instances = []
        for index in range(bid.quantity):
            inst = self.new_instance(
                f"{bid.name}-{index}", bid.project, bid.instance_type, bid.region, at,
                bid=bid.fid, price_cents=auction.price_cents, created_by=bid.created_by,
            )  # fmt: skip
            bid.instances.append(inst.fid)

    def new_instance(
        self,
        name: str,
        project: str,
        instance_type: str,
        region: str,
        at: float,
        *,
        bid: str | None = None,
        reservation: str | None = None,
        price_cents: int = 0,
        created_by: str | None = None,
    ) -> Instance:
        """A new machine in ``STATUS_NEW``; it boots through the usual statuses."""
        seq = self.next_seq()
        inst = Instance(
            fid=self.new_fid("inst"),
            seq=seq,
            name=name,
            project=project,
            created_at=at,
            created_by=created_by or self.user_fid,
            instance_type=instance_type,
            region=region,
            bid=bid,
            reservation=reservation,
            private_ip=f"127.{self.network}.{seq // 250 % 250}.{seq % 250 + 2}",
            price_cents=price_cents,
        )
        self.instances[inst.fid] = inst
        self.set_instance_status(inst, "STATUS_NEW", at)
        return inst

    def set_instance_status(self, inst: Instance, status: str, at: float) -> None:
        self._set_instance(inst, status, at)

    def reboot(self, inst: Instance, at: float) -> None:
        """A restart: the machine goes down (its processes end, SSH sessions too, ``/run`` is
        emptied) and boots again on the same disk, through ``STATUS_STARTING``. Its startup
        script does not run again: it runs once per machine (cloud-init's per-instance scripts;
        Mithril's own client counts on it)."""
        inst.ssh_destination = None
        if self.sandbox is not None and inst.ssh_port is not None:
            self.sandbox.stop_ssh(inst.fid)
            inst.ssh_port = None
        if inst.process is not None:
            inst.process.kill()
            inst.process = None  # not "the script ended": the machine was rebooted
        if self.sandbox is not None:
            self.sandbox.clear_run(inst.fid)
        self._set_instance(inst, "STATUS_STARTING", at)

    def _pause(self, bid: Bid, now: float) -> None:
        self._set_status(bid, "Paused", now)
        bid.event(now, "Paused")
        for inst in self._instances_of(bid):
            if inst.status not in ENDED:
                self._set_instance(inst, "STATUS_PAUSED", now)

    def _set_status(self, bid: Bid, status: str, at: float) -> None:
        bid.status = status
        bid.since = at

    def _set_instance(self, inst: Instance, status: str, at: float) -> None:
        self._accrue(inst, at)
        before = inst.status
        inst.status = status
        inst.since = at
        inst.history.append((at, status))
        if inst.occupying and inst.billed_until is None:
            inst.billed_until = at  # billing runs from allocation until the machine is gone
        if inst.occupying and (not inst.prices or inst.prices[-1][1] != inst.price_cents):
            inst.prices.append((at, inst.price_cents))
        elif not inst.occupying:
            inst.billed_until = None
        if status == "STATUS_INITIALIZING" and not inst.booted:
            inst.booted = True
            self._boot(inst)
        elif status == "STATUS_STARTING" and inst.booted and before != "STATUS_INITIALIZING":
            # resumed or restarted: the machine starts again (not the first boot going on)
            self._attach_volumes(inst)
            self._serve_ssh(inst)
        if status == "STATUS_RUNNING":
            port = f":{inst.ssh_port}" if inst.ssh_port else ""
            inst.ssh_destination = f"{self.options.ssh_host}{port}"
        if status in ENDED:
            inst.end_time = at
        stopped = status in ENDED or status == "STATUS_PAUSED"
        if stopped:
            inst.ssh_destination = None
            if self.sandbox is not None and inst.ssh_port is not None:
                self.sandbox.stop_ssh(inst.fid)
                inst.ssh_port = None
        if stopped and inst.process is not None:
            inst.process.stop(self.options.stop_grace_s)

    def _accrue(self, inst: Instance, now: float) -> None:
        if inst.billed_until is not None and now > inst.billed_until:
            inst.billed_cents += inst.price_cents * (now - inst.billed_until) / 3600
            inst.billed_until = now

    def _boot(self, inst: Instance) -> None:
        script = self.launch_specification(inst).get("startup_script")
        if self.sandbox is None:
            return
        root = self.sandbox.root(inst.fid)
        root.mkdir(parents=True, exist_ok=True)
        self._attach_volumes(inst)
        self._serve_ssh(inst)
        if script:
            inst.process = self.sandbox.boot(inst.fid, script, self._env(inst))

    def _env(self, inst: Instance) -> dict[str, str]:
        env = self.boot_env(inst)
        if self.disks is not None:  # blkid, mkfs.ext4, mount... for emulated volumes
            env = {"PATH": self.disks.path_env(os.environ.get("PATH")), **env}
        return env

    def _attach_volumes(self, inst: Instance) -> None:
        """The bid's volumes appear as disks, found by their serial (:func:`volume_device`)."""
        if self.disks is None or self.sandbox is None:
            return
        root = self.sandbox.root(inst.fid)
        for fid in self.launch_specification(inst).get("volumes", []):
            self.disks.create(fid)  # idempotent: a volume's disk lives as long as the emulator
            self.disks.attach(fid, root, volume_device(fid))

    def _serve_ssh(self, inst: Instance) -> None:
        if not self.ssh or self.sandbox is None:
            return
        keys = self.launch_specification(inst).get("ssh_keys", [])
        public = [self.ssh_keys[k].public_key for k in keys if k in self.ssh_keys]
        inst.ssh_port = self.sandbox.serve_ssh(inst.fid, public, self._env(inst))

    def launch_specification(self, inst: Instance) -> dict[str, Any]:
        """What the instance was launched with: its bid's or its reservation's (CPU VMs: what
        they were created with)."""
        if inst.bid is not None:
            return self.bids[inst.bid].launch_specification
        return self.launch_specs.get(inst.reservation or inst.fid, {})

    def _instances_of(self, bid: Bid, include_past: bool = False) -> list[Instance]:
        if include_past:
            return [i for i in self.instances.values() if i.bid == bid.fid]
        return [self.instances[f] for f in bid.instances if f in self.instances]

    # ---- checks --------------------------------------------------------------------------

    def _limit_price(self, text: str, auction: Auction, loc: tuple[str, ...]) -> int:
        cents = parse_price(text)
        if cents is None:
            raise ApiError(
                422,
                [
                    {
                        "type": "value_error",
                        "loc": list(loc),
                        "input": text,
                        "msg": "Value error, limit price must be a dollar amount like '$25.60'",
                    }
                ],
            )
        if cents < auction.minimum_cents:
            raise ApiError(
                400, f"Limit price below minimum: {dollars(auction.minimum_cents)} per hour"
            )
        return cents

    def check_ssh_keys(self, fids: Iterable[str], project: str) -> None:
        for key_fid in fids:
            if key_fid not in self.ssh_keys or self.ssh_keys[key_fid].project != project:
                raise ApiError(404, f"SSH key {key_fid} not found")

    def order(self, fid: str, kind: type[_Order], label: str) -> _Order:
        """The order ``fid`` of ``kind`` (a reservation, a cluster, ...), else 404."""
        found = self.orders.get(fid)
        if not isinstance(found, kind):
            raise ApiError(404, f"{label} {fid} not found")
        return found

    def check_launch(self, spec: LaunchSpecification, project: str, region: str) -> None:
        """A launch specification's script and volumes, as a bid's are checked."""
        _check_script(spec.startup_script)
        self.check_volumes(spec.volumes, project, region)

    def check_volumes(self, fids: Iterable[str], project: str, region: str) -> None:
        for fid in fids:
            vol = self.volumes.get(fid)
            if vol is None or vol.deleted_at is not None or vol.project != project:
                raise ApiError(404, f"Volume {fid} not found")
            if vol.region != region:
                raise ApiError(400, f"Volume {fid} is in {vol.region}, not in {region}")

    def live_bids(self) -> list[Bid]:
        return [b for b in self.bids.values() if b.live]

    def script_processes(self) -> list[ScriptProcess]:
        return [i.process for i in self.instances.values() if i.process is not None]

    def billing_history(self, fid: str) -> list[tuple[float, bool]]:
        """When the instance was billed: from allocation while it holds capacity."""
        return [(at, status in OCCUPYING) for at, status in self.instance(fid).history]

    def sandbox_root(self, fid: str) -> Path:
        if self.sandbox is None:
            raise ValueError("this emulator does not boot instances (boot=False)")
        self.instance(fid)
        return self.sandbox.root(fid)


def _check_script(script: str | None) -> None:
    if script is None:
        return
    loc = ["body", "launch_specification", "startup_script"]
    errors: list[dict[str, Any]] = []
    if len(script) > MAX_STARTUP_SCRIPT:
        errors.append(
            {
                "type": "string_too_long",
                "loc": loc,
                "input": None,
                "msg": f"String should have at most {MAX_STARTUP_SCRIPT} characters",
                "ctx": {"max_length": MAX_STARTUP_SCRIPT},
            }
        )
    if not script.startswith("#!/bin/bash"):
        errors.append(
            {
                "type": "value_error",
                "loc": loc,
                "input": script[:40],
                "msg": "Value error, startup script must start with #!/bin/bash",
            }
        )
    if errors:
        raise ApiError(422, errors)
