"""The resources of the emulated Mithril cloud, and how each one looks on the wire."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from .._boot import ScriptProcess
from .._clock import iso

__all__ = [
    "ApiKey",
    "Auction",
    "Bid",
    "Instance",
    "InstanceType",
    "Project",
    "SshKey",
    "Timing",
    "Volume",
    "dollars",
    "launch_json",
    "parse_price",
    "reserved_price",
]

_PRICE = re.compile(r"\$([0-9]{1,7})(?:\.([0-9]{1,2}))?")


def parse_price(text: str) -> int | None:
    """``"$25.60"`` -> 2560 cents; None when it is not a dollar string."""
    match = _PRICE.fullmatch(text.strip())
    if match is None:
        return None
    cents = (match.group(2) or "0").ljust(2, "0")
    return int(match.group(1)) * 100 + int(cents)


def dollars(cents: int) -> str:
    return f"${cents // 100}.{cents % 100:02d}"


def reserved_price(spot_cents: int) -> int:
    """What a reservation pays per instance-hour: a fixed premium over the spot market."""
    return spot_cents * 5 // 4


def launch_json(spec: dict[str, Any]) -> dict[str, Any]:
    """A launch specification as the API shows it: every field, unset ones null."""
    return {
        "volumes": [],
        "ssh_keys": [],
        "startup_script": None,
        "kubernetes_cluster": None,
        "image_version": None,
        "memory_gb": None,
        **spec,
    }


@dataclass(frozen=True)
class Timing:
    """Seconds each transition takes, on the emulator's clock.

    A bid that wins is allocated ``allocate_s`` after it was placed (or became eligible again);
    its instances then go ``STATUS_NEW`` -> (``confirm_s``) ``STATUS_CONFIRMED`` ->
    (``initialize_s``) ``STATUS_INITIALIZING`` (the startup script starts here) ->
    (``start_s``) ``STATUS_STARTING`` -> (``ssh_s``) ``STATUS_RUNNING``. A cancelled bid's
    instances stop for ``stop_s``; a preempted one's get ``preempt_notice_s`` (5 minutes).
    """

    allocate_s: float = 1.0
    confirm_s: float = 1.0
    initialize_s: float = 1.0
    start_s: float = 2.0
    ssh_s: float = 1.0
    stop_s: float = 1.0
    resume_s: float = 2.0
    preempt_notice_s: float = 300.0

    @classmethod
    def instant(cls) -> Timing:
        """Every transition as soon as the clock is looked at (unit tests)."""
        return cls(0, 0, 0, 0, 0, 0, 0, 0)

    @classmethod
    def realistic(cls) -> Timing:
        """Roughly what the documentation says: running within about ten minutes."""
        return cls(30, 30, 60, 300, 60, 60, 120, 300)


@dataclass
class Project:
    fid: str
    name: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {"fid": self.fid, "name": self.name, "created_at": iso(self.created_at)}


@dataclass
class InstanceType:
    fid: str
    name: str
    num_gpus: int
    gpu_type: str
    gpu_memory_gb: int
    num_cpus: int
    ram_gb: int
    local_storage_gb: int
    gpu_socket: str = "SXM5"
    cpu_type: str = "AMD"
    network_type: str | None = None
    ib_count: int = 0
    bridge_count: int = 0
    hourly_price: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "num_cpus": self.num_cpus,
            "cpu_type": self.cpu_type,
            "ram_gb": self.ram_gb,
            "num_gpus": self.num_gpus,
            "gpu_type": self.gpu_type,
            "gpu_memory_gb": self.gpu_memory_gb,
            "gpu_socket": self.gpu_socket,
            "local_storage_gb": self.local_storage_gb,
            "network_type": self.network_type,
            "ib_count": self.ib_count,
            "bridge_count": self.bridge_count,
            "hourly_price": self.hourly_price,
        }


@dataclass
class Auction:
    """One spot market: an instance type in a region, its price and its capacity (instances)."""

    fid: str
    instance_type: str
    region: str
    capacity: int
    price_cents: int  # the market price: what a winning bid pays per instance-hour
    minimum_cents: int  # a limit price below this is refused
    adjustable_memory: bool = False
    default_image_version: str | None = None
    history: list[tuple[float, int]] = field(default_factory=list)  # (since, price_cents)

    @property
    def reserved_cents(self) -> int:
        """What a reservation pays per instance-hour now (:func:`reserved_price`)."""
        return reserved_price(self.price_cents)


@dataclass
class Bid:
    fid: str
    seq: int
    name: str
    project: str
    created_by: str
    created_at: float
    limit_cents: int
    quantity: int
    instance_type: str
    region: str
    launch_specification: dict[str, Any]
    status: str = "Open"
    since: float = 0.0  # when the current status began
    deactivated_at: float | None = None
    instances: list[str] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)

    @property
    def live(self) -> bool:
        """Not terminated: it can still (come to) cost money."""
        return self.status != "Terminated"

    def event(self, at: float, event_type: str, **extra: Any) -> None:
        self.events.append({"timestamp": iso(at), "event_type": event_type, **extra})

    def to_json(self) -> dict[str, Any]:
        spec = launch_json(self.launch_specification)
        return {
            "fid": self.fid,
            "name": self.name,
            "project": self.project,
            "created_by": self.created_by,
            "created_at": iso(self.created_at),
            "deactivated_at": iso(self.deactivated_at) if self.deactivated_at else None,
            "limit_price": dollars(self.limit_cents),
            "instance_quantity": self.quantity,
            "instance_type": self.instance_type,
            "region": self.region,
            "instances": list(self.instances),
            "launch_specification": spec,
            "status": self.status,
        }


# Instance statuses that hold a unit of the auction's capacity.
OCCUPYING = frozenset(
    {
        "STATUS_NEW",
        "STATUS_CONFIRMED",
        "STATUS_INITIALIZING",
        "STATUS_STARTING",
        "STATUS_RUNNING",
        "STATUS_PREEMPTING",
        "STATUS_STOPPING",
        "STATUS_RELOCATING",
    }
)
ENDED = frozenset({"STATUS_TERMINATED", "STATUS_PREEMPTED", "STATUS_REPLACED", "STATUS_ERROR"})


@dataclass
class Instance:
    fid: str
    seq: int
    name: str
    project: str
    created_at: float
    created_by: str
    instance_type: str
    region: str
    bid: str | None  # None: a reservation's or a CPU VM's
    private_ip: str
    reservation: str | None = None
    status: str = "STATUS_NEW"
    since: float = 0.0
    ssh_destination: str | None = None
    ssh_port: int | None = None  # the loopback port of its own sshd, when it runs one
    end_time: float | None = None
    price_cents: int = 0  # the market price it is billed at now
    billed_cents: float = 0.0  # accrued up to ``billed_until``
    billed_until: float | None = None  # None: not billing
    process: ScriptProcess | None = None
    booted: bool = False
    history: list[tuple[float, str]] = field(default_factory=list)
    prices: list[tuple[float, int]] = field(default_factory=list)  # (since, cents per hour)

    @property
    def order_type(self) -> str:
        return "Bid" if self.bid else "Reservation" if self.reservation else "CPU"

    @property
    def occupying(self) -> bool:
        return self.status in OCCUPYING

    @property
    def script_exit_code(self) -> int | None:
        """The startup script's exit status, once it has ended (None while it runs or if it
        never ran)."""
        return self.process.poll() if self.process is not None else None

    def to_json(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "project": self.project,
            "created_at": iso(self.created_at),
            "created_by": self.created_by,
            "instance_type": self.instance_type,
            "region": self.region,
            "bid": self.bid,
            "reservation": self.reservation,
            "ssh_destination": self.ssh_destination,
            "private_ip": self.private_ip,
            "status": self.status,
        }

    def status_json(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "status": self.status,
            "bid": self.bid,
            "reservation": self.reservation,
            "end_time": iso(self.end_time) if self.end_time else None,
        }


@dataclass
class ApiKey:
    fid: str
    name: str
    secret: str
    created_at: float
    expires_at: float
    deactivated_at: float | None = None

    def valid(self, now: float) -> bool:
        return self.deactivated_at is None and now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "created_at": iso(self.created_at),
            "expires_at": iso(self.expires_at),
            "deactivated_at": iso(self.deactivated_at) if self.deactivated_at else None,
            "snippet": self.secret[:9] + "...",
        }


@dataclass
class SshKey:
    fid: str
    name: str
    project: str
    public_key: str
    created_at: float
    required: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "project": self.project,
            "public_key": self.public_key,
            "created_at": iso(self.created_at),
            "required": self.required,
        }


@dataclass
class Volume:
    fid: str
    name: str
    region: str
    created_at: float
    capacity_gb: int
    project: str
    interface: str
    deleted_at: float | None = None
    bids: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "fid": self.fid,
            "name": self.name,
            "region": self.region,
            "created_at": iso(self.created_at),
            "deleted_at": iso(self.deleted_at) if self.deleted_at else None,
            "capacity_gb": self.capacity_gb,
            "project": self.project,
            "interface": self.interface,
            "bids": list(self.bids),
            "reservations": [],
            "attachments": {},
        }
