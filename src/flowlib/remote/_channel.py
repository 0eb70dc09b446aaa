"""The result channel: how the client reads the files a remote call leaves on the far side.

Contract (the same on every provider): the payload travels inside the code upload at
``<working_dir>/.flow-remote/payload.pkl``; the runner writes its results beside it before the
task's workload exits. A channel only has to fetch a named file from that directory.

Chosen by capability, in this order (:func:`channel_for`):

- :class:`ProviderFileChannel` asks the task's provider: a provider that can read a file of its
  task's machine has a method ``read_file(record, path) -> bytes | None`` (see
  :class:`ReadsTaskFiles`); ``path`` is the machine's absolute path
  (``/workspace/.flow-remote/result.pkl``). The local provider reads its task directory; a
  cloud provider reads over its remote-host seam (:meth:`flowlib.core.hosts.RemoteHost.read_file`
  on the task's instance), before it releases the instance.
- :class:`TaskDirChannel` reads the task's directory on this machine, for providers without
  ``read_file`` whose task record carries ``provider_data["root"]`` (the task's ``FLOW_ROOT``)
  or ``provider_data["dir"]`` with ``FLOW_ROOT`` at ``<dir>/root``: shared filesystems.
"""

from __future__ import annotations

import posixpath
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from flowlib.errors import UnsupportedError
from flowlib.providers.base import TaskFiles
from flowlib.remote._payload import REMOTE_DIR

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord

__all__ = [
    "ProviderFileChannel",
    "ReadsTaskFiles",
    "ResultChannel",
    "TaskDirChannel",
    "channel_for",
    "remote_path",
]


class ResultChannel(Protocol):
    """Fetches the files of a remote call from the task's workspace."""

    def fetch(self, record: TaskRecord, name: str) -> bytes | None:
        """The bytes of ``<working_dir>/.flow-remote/<name>`` of the task, or None when the
        file is not there (not written yet, or never: the task was killed)."""
        ...


ReadsTaskFiles = TaskFiles  # the provider capability, under its earlier name


def remote_path(record: TaskRecord, name: str) -> str:
    """The absolute path of a remote-call file on the task's machine."""
    return posixpath.join(record.config.working_dir, REMOTE_DIR, name)


class ProviderFileChannel:
    """Reads through the provider's ``read_file`` (local directory, or the remote-host seam)."""

    def __init__(self, provider: TaskFiles) -> None:
        self.provider = provider

    def fetch(self, record: TaskRecord, name: str) -> bytes | None:
        return self.provider.read_file(record, remote_path(record, name))


class TaskDirChannel:
    """Reads the task's directory on this machine (shared filesystems)."""

    @staticmethod
    def supports(record: TaskRecord) -> bool:
        return "root" in record.provider_data or "dir" in record.provider_data

    def path(self, record: TaskRecord, name: str) -> Path:
        data = record.provider_data
        root = Path(data["root"]) if "root" in data else Path(data["dir"]) / "root"
        return root / remote_path(record, name).lstrip("/")

    def fetch(self, record: TaskRecord, name: str) -> bytes | None:
        try:
            return self.path(record, name).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None


def channel_for(record: TaskRecord, provider: Any = None) -> ResultChannel:
    """The channel that reaches ``record``'s task (``provider``: the task's provider object),
    or :class:`UnsupportedError`."""
    if isinstance(provider, TaskFiles):
        return ProviderFileChannel(provider)
    if TaskDirChannel.supports(record):
        return TaskDirChannel()
    raise UnsupportedError(
        f"cannot bring results back from provider '{record.provider}': it cannot read its "
        "tasks' files (no `read_file` method) and they have no directory on this machine",
        suggestions=[
            "run remote functions on a provider that can (local, or one whose docs say so)",
            "provider authors: add `read_file(record, path)` (see docs/functions.md)",
        ],
        provider=record.provider,
        task_id=record.task_id,
    )
