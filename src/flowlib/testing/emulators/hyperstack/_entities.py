"""The resources of the emulated Hyperstack cloud, its timing and options, and its errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .._boot import ScriptProcess
from .._clock import iso
from .._wire import ApiError, WireResponse
from ._catalog import FlavorSpec

__all__ = [
    "BILLED",
    "Environment",
    "Flavor",
    "HyperstackError",
    "Keypair",
    "Options",
    "SecurityRule",
    "Timing",
    "Vm",
    "Volume",
]

# The documented ``error_reason`` slug of each status.
REASONS: Mapping[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "not_allowed",
    409: "already_exist",
    429: "too_many_requests",
    500: "server_error",
}


class HyperstackError(ApiError):
    """An error answer: ``{"status": false, "message": ..., "error_reason": ...}``."""

    def __init__(self, status: int, message: str, reason: str | None = None) -> None:
        super().__init__(status, message)
        self.message = message
        self.reason = reason or REASONS.get(status, "bad_request")

    def response(self) -> WireResponse:
        body = {"status": False, "message": self.message, "error_reason": self.reason}
        return WireResponse(self.status, body, dict(self.headers))


@dataclass(frozen=True)
class Timing:
    """Seconds each transition takes, on the emulator's clock.

    Create: ``CREATING`` -(``create_s``)-> ``BUILD`` -(``build_s``)-> ``ACTIVE``; the floating
    IP is attached ``ip_s`` after ``ACTIVE``. Each action's transitional status lasts its own
    time: ``stop_s``, ``start_s``, ``hibernate_s``, ``restore_s``, ``reboot_s``; a deleted VM
    is ``DELETING`` for ``delete_s``, then gone (404). Volumes are ``creating`` for ``volume_s``.
    """

    create_s: float = 1.0
    build_s: float = 2.0
    ip_s: float = 1.0
    stop_s: float = 1.0
    start_s: float = 1.0
    hibernate_s: float = 2.0
    restore_s: float = 2.0
    reboot_s: float = 1.0
    delete_s: float = 1.0
    volume_s: float = 1.0

    @classmethod
    def instant(cls) -> Timing:
        """Every transition as soon as the clock is looked at (unit tests)."""
        return cls(0, 0, 0, 0, 0, 0, 0, 0, 0, 0)

    @classmethod
    def realistic(cls) -> Timing:
        """Roughly what the documentation says: a few minutes to ACTIVE."""
        return cls(10, 120, 20, 30, 60, 90, 180, 60, 30, 10)


@dataclass(frozen=True)
class Options:
    """Behaviour the documentation leaves open, chosen per emulator."""

    rate_limit_per_minute: int | None = 500  # None: no limit
    user_data_limit: int = 65_535  # bytes (Nova: 64 KiB after base64; kept generous)
    reject_duplicate_names: bool = False  # the real API takes a second VM with the same name
    default_page_size: int = 20  # when ``page`` is given without ``pageSize``
    stop_grace_s: float = 2.0  # real seconds between SIGTERM and SIGKILL of a VM's scripts


@dataclass
class Flavor:
    id: int
    spec: FlavorSpec
    created_at: float

    @property
    def name(self) -> str:
        return self.spec.name

    def to_json(self, stock_available: bool) -> dict[str, Any]:
        s = self.spec
        return {
            "id": self.id,
            "name": s.name,
            "display_name": None,
            "region_name": s.region,
            "cpu": s.cpu,
            "ram": s.ram,
            "disk": s.disk,
            "ephemeral": s.ephemeral,
            "gpu": s.gpu,
            "gpu_count": s.gpu_count,
            "stock_available": stock_available,
            "created_at": iso(self.created_at),
            "labels": [{"id": i + 1, "label": label} for i, label in enumerate(s.labels)],
            "features": {"hibernation": s.hibernation},
        }

    def instance_json(self) -> dict[str, Any]:
        s = self.spec
        return {
            "id": self.id,
            "name": s.name,
            "cpu": s.cpu,
            "ram": s.ram,
            "disk": s.disk,
            "ephemeral": s.ephemeral,
            "gpu": s.gpu,
            "gpu_count": s.gpu_count,
            "labels": [],
            "features": {},
        }


_FEATURES = {"green_status": "GREEN", "network_optimised": True}


@dataclass
class Environment:
    id: int
    name: str
    region: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "region": self.region,
            "created_at": iso(self.created_at),
            "features": dict(_FEATURES),
        }


@dataclass
class Keypair:
    id: int
    name: str
    environment: Environment
    public_key: str
    fingerprint: str
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "environment": self.environment.to_json(),
            "public_key": self.public_key,
            "fingerprint": self.fingerprint,
            "created_at": iso(self.created_at),
        }


@dataclass
class SecurityRule:
    id: int
    direction: str
    ethertype: str
    protocol: str
    remote_ip_prefix: str
    port_range_min: int | None
    port_range_max: int | None
    created_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "direction": self.direction,
            "ethertype": self.ethertype,
            "protocol": self.protocol,
            "remote_ip_prefix": self.remote_ip_prefix,
            "port_range_min": self.port_range_min,
            "port_range_max": self.port_range_max,
            "status": "ACTIVE",
            "created_at": iso(self.created_at),
        }


@dataclass
class Volume:
    id: int
    name: str
    environment: Environment
    size: int
    volume_type: str
    description: str | None
    created_at: float
    status: str = "creating"
    since: float = 0.0
    attached_to: int | None = None  # VM id
    attachment_id: int | None = None
    device: str | None = None
    protected: bool = False

    def to_json(self, *, listed: bool = False) -> dict[str, Any]:
        """The volume as GET/POST show it; in a list (``listed``) without ``os_image``, which
        the list model of the API lacks."""
        attachments = []
        if self.attached_to is not None:
            attachments.append(
                {
                    "id": self.attachment_id,
                    "instance_id": self.attached_to,
                    "device": self.device,
                    "status": "attached",
                    "protected": self.protected,
                }
            )
        body = {
            "id": self.id,
            "name": self.name,
            "size": self.size,
            "volume_type": self.volume_type,
            "status": self.status,
            "bootable": False,
            "description": self.description,
            "image_id": None,
            "os_image": None,
            "environment": {
                "name": self.environment.name,
                "region": self.environment.region,
                "features": dict(_FEATURES),
            },
            "attachments": attachments,
            "callback_url": None,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.since or self.created_at),
        }
        if listed:
            del body["os_image"]
        return body


# Statuses in which a VM holds its GPUs and is billed for them (hibernated: disk and IP only).
BILLED = frozenset(
    {"BUILD", "ACTIVE", "STOPPING", "SHUTOFF", "STARTING", "REBOOTING", "HIBERNATING", "RESTORING"}
)


@dataclass
class Vm:
    id: int
    name: str
    environment: Environment
    flavor: Flavor
    image_name: str | None
    key_name: str
    user_data: str | None
    assign_floating_ip: bool
    labels: list[str]
    fixed_ip: str
    created_at: float
    price_per_hour: float
    callback_url: str | None = None
    status: str = "CREATING"
    since: float = 0.0
    floating_ip: str | None = None
    floating_ip_status: str | None = None
    ip_due: float | None = None  # when the floating IP attaches (after ACTIVE)
    retain_ip: bool = True  # of the hibernation in progress
    security_rules: list[SecurityRule] = field(default_factory=list)
    booted: bool = False
    processes: list[ScriptProcess] = field(default_factory=list)
    billed_dollars: float = 0.0
    billed_until: float | None = None
    deleted_at: float | None = None  # the VM is gone (GET answers 404)
    history: list[tuple[float, str]] = field(default_factory=list)

    @property
    def gone(self) -> bool:
        return self.deleted_at is not None

    @property
    def script_exit_code(self) -> int | None:
        """The user_data script's exit status once it ended (None while it runs, or never ran)."""
        return self.processes[0].poll() if self.processes else None
