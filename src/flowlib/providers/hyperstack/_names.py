"""Names and small readings this package's modules share: the leaf every other module may import.

What a VM is called (a task's, a persistent instance's), where the startup script and the agent
leave their files on a VM, and how their one-line files read.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowlib.providers.hyperstack._shapes import VirtualMachine, VolumeRow

__all__ = [
    "EXIT_CODE",
    "MESSAGE",
    "QUEUE",
    "SSH_RULE",
    "STARTED",
    "STOP_REQUESTED",
    "TASK_LOG",
    "VM_PREFIX",
    "epoch",
    "instance_vm_name",
    "parse_int",
    "region_of",
    "task_of_vm",
    "task_paths",
    "vm_id",
    "vm_name",
]

VM_PREFIX = "flowlib-"
# A one-VM task's files (the startup script of flowlib.core.startup writes them).
TASK_LOG = "/var/log/flow/task.log"
EXIT_CODE = "/var/run/flow/exit_code"
STARTED = "/var/run/flow/started"
MESSAGE = "/var/run/flow/message"
STOP_REQUESTED = "/var/run/flow/stop_requested"
# A persistent instance's queue (the agent of ._agent keeps it).
QUEUE = "/var/lib/flow/queue"
SSH_RULE = {
    "direction": "ingress",
    "ethertype": "IPv4",
    "protocol": "tcp",
    "remote_ip_prefix": "0.0.0.0/0",
    "port_range_min": 22,
    "port_range_max": 22,
}


def vm_name(task_id: str) -> str:
    """The VM of a task: found again by this name after a crash or an ambiguous create."""
    return f"{VM_PREFIX}{task_id}"


def instance_vm_name(name: str) -> str:
    """The VM of a persistent instance (found again by this name)."""
    return f"{VM_PREFIX}{name}"


def task_of_vm(name: str) -> str | None:
    """The task whose VM is called ``name``, or None for another VM (an instance's)."""
    if name.startswith(VM_PREFIX + "task-"):
        return name.removeprefix(VM_PREFIX)
    return None


def task_paths(task_id: str) -> tuple[str, str, str, str]:
    """A queued task's log, exit code, start and message files on its instance."""
    base = f"{QUEUE}/tasks/{task_id}"
    return f"{base}/task.log", f"{base}/exit_code", f"{base}/started", f"{base}/message"


def vm_id(vm: VirtualMachine) -> int:
    return int(vm["id"])


def region_of(row: VirtualMachine | VolumeRow) -> str | None:
    """The region of a VM or a volume (``environment.region``)."""
    return (row.get("environment") or {}).get("region")


def parse_int(data: bytes | str | None) -> int | None:
    """A one-line file (or word) holding an integer; None when empty or not a number."""
    try:
        text = data.decode() if isinstance(data, bytes) else data
        return int(text.strip()) if text else None
    except ValueError:  # UnicodeDecodeError included
        return None


def epoch(data: bytes | str | None) -> datetime | None:
    """A ``started`` marker (epoch seconds) as a time; None when absent or a bare ``1``."""
    value = parse_int(data)
    return datetime.fromtimestamp(value, timezone.utc) if value and value > 1 else None
