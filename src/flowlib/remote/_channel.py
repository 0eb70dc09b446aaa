"""The result channel: how the client reads the files a remote call leaves on the far side.

Contract (the same on every provider): the payload travels inside the code upload at
``<working_dir>/.flow-remote/payload.pkl``; the runner writes ``result.pkl`` beside it before
the task's workload exits. A channel only has to fetch a named file from that directory.

- :class:`TaskDirChannel` reads it from the task's directory on this machine. It serves
  providers whose task record carries ``provider_data["root"]`` (the task's ``FLOW_ROOT``), or
  ``provider_data["dir"]`` with ``FLOW_ROOT`` at ``<dir>/root`` (how the local provider records
  its tasks), and shared filesystems.
- A cloud provider will fetch the same path over its remote-host seam (``cat`` or ``scp`` of
  ``${FLOW_ROOT:-}<working_dir>/.flow-remote/result.pkl`` after the workload ends).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from flowlib.errors import UnsupportedError
from flowlib.remote._payload import REMOTE_DIR

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord

__all__ = ["ResultChannel", "TaskDirChannel", "channel_for"]


class ResultChannel(Protocol):
    """Fetches the files of a remote call from the task's workspace."""

    def fetch(self, record: TaskRecord, name: str) -> bytes | None:
        """The bytes of ``<working_dir>/.flow-remote/<name>`` of the task, or None when the
        file is not there (not written yet, or never: the task was killed)."""
        ...


class TaskDirChannel:
    """Reads the task's directory on this machine (local provider, shared filesystems)."""

    @staticmethod
    def supports(record: TaskRecord) -> bool:
        return "root" in record.provider_data or "dir" in record.provider_data

    def path(self, record: TaskRecord, name: str) -> Path:
        data = record.provider_data
        root = Path(data["root"]) if "root" in data else Path(data["dir"]) / "root"
        return root / record.config.working_dir.lstrip("/") / REMOTE_DIR / name

    def fetch(self, record: TaskRecord, name: str) -> bytes | None:
        try:
            return self.path(record, name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None


def channel_for(record: TaskRecord) -> ResultChannel:
    """The channel that reaches ``record``'s task, or :class:`UnsupportedError`."""
    if TaskDirChannel.supports(record):
        return TaskDirChannel()
    raise UnsupportedError(
        f"cannot bring results back from provider '{record.provider}' yet: its tasks have no "
        "directory on this machine",
        suggestions=["run remote functions on the local provider for now"],
        provider=record.provider,
        task_id=record.task_id,
    )
