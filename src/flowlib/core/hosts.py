"""The remote-host seam: how a provider reaches a machine it rented.

Cloud providers never shell out to ``ssh`` themselves. They are given a :data:`HostFactory` and ask
it for a :class:`RemoteHost` for an instance's :class:`HostAddress`; the host runs commands there,
reads files, streams output, copies files in, opens an interactive shell and forwards ports.

Two implementations:

- :class:`SandboxHost` stands for a machine whose "disk" is a local directory (``FLOW_ROOT``):
  commands run locally under bash with ``FLOW_ROOT`` set, so the very same command lines work
  on a real VM (where ``FLOW_ROOT`` is empty), in the local provider and in an emulated cloud's
  instance (the emulators' plugin offers it as the remote-host kind ``sandbox``:
  ``flowlib.testing.emulators``).
- The production OpenSSH host (``flowlib.core.ssh``), tested against a real sshd on loopback.

Paths given to a host are the instance's absolute paths (``/var/log/flow/task.log``); a sandbox
maps them under its root. Commands should write paths as ``"${FLOW_ROOT:-}/var/..."``.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from flowlib.core.files import write_private
from flowlib.core.seams import CommandResult
from flowlib.errors import ProviderError, TimeoutError, ValidationError
from flowlib.telemetry import command_span, record_exit

if TYPE_CHECKING:
    from flowlib.models import PortForward  # a Task handle's tunnel: it lives with Task

__all__ = [
    "Booting",
    "HostAddress",
    "HostFactory",
    "RemoteHost",
    "SandboxHost",
    "reach",
]


@dataclass(frozen=True)
class HostAddress:
    """Where an instance is reachable. ``instance_id`` is the provider's id for it (emulated hosts
    find their sandbox by it); ``key_path`` is the private key to log in with."""

    host: str
    port: int = 22
    user: str = "ubuntu"
    key_path: str | None = None
    instance_id: str = ""
    extra: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        port = f":{self.port}" if self.port != 22 else ""
        return f"{self.user}@{self.host}{port}"


@runtime_checkable
class Booting(Protocol):
    """A host that may still be booting: its first command waits for it (OpenSSH, up to its
    ``boot_timeout``). A caller in a hurry waits less by asking first."""

    def wait_until_reachable(self, timeout: float | None = None) -> None:
        """Return once a login works; :class:`~flowlib.errors.ProviderError` after ``timeout``
        seconds (None: the host's own boot timeout)."""
        ...


class RemoteHost(Protocol):
    address: HostAddress

    def run(
        self, command: str, *, timeout: float | None = None, input: bytes | None = None
    ) -> CommandResult:
        """Run ``command`` (a bash command line) to completion on the host. Raises
        :class:`flowlib.errors.ProviderError` when the host cannot be reached at all, and
        :class:`flowlib.errors.TimeoutError` when it runs past ``timeout`` seconds; a command
        that fails is a result with its return code."""
        ...

    def read_file(self, path: str) -> bytes | None:
        """The file's bytes, or None if it does not exist."""
        ...

    def stream(self, command: str) -> Iterator[str]:
        """Lines of ``command``'s output as they come (``tail -F`` for logs); closing the iterator
        stops the command."""
        ...

    def upload(self, local: Path, path: str, *, mode: int = 0o600) -> None:
        """Copy a local file to ``path`` on the host."""
        ...

    def interactive(self, command: str | None = None) -> int:
        """A shell (or ``command``) attached to this terminal; returns its exit code."""
        ...

    def forward(self, remote_port: int, local_port: int = 0) -> PortForward:
        """Make ``remote_port`` on the host reachable at ``127.0.0.1:local_port`` here (0: any
        free port; see ``local_port`` on the result)."""
        ...


HostFactory = Callable[[HostAddress], RemoteHost]


def reach(host: RemoteHost, timeout: float = 0) -> RemoteHost:
    """``host``, reached within ``timeout`` seconds (0: one try) when it is one that may still
    be booting: for a command to a machine that may be going away, which must not wait out a
    boot (the caller may be a cancel, the machine billing meanwhile).
    :class:`~flowlib.errors.ProviderError` when it does not answer."""
    if isinstance(host, Booting):
        host.wait_until_reachable(timeout=timeout)
    return host


# Variables a sandboxed command inherits from this process; the rest is what the command sets.
_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR", "TERM")


class SandboxHost:
    """An emulated instance whose disk is the directory ``root``."""

    def __init__(self, address: HostAddress, root: Path) -> None:
        self.address = address
        self.root = root

    def __repr__(self) -> str:
        return f"SandboxHost({self.address.instance_id or self.address.host!r}, root={self.root})"

    def _env(self) -> dict[str, str]:
        env = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
        env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        home = self.root / "home" / self.address.user
        env.update({"FLOW_ROOT": str(self.root), "HOME": str(home), "USER": self.address.user})
        return env

    def _argv(self, command: str) -> list[str]:
        return ["bash", "-c", command]

    def _path(self, path: str) -> Path:
        return self.root / path.lstrip("/")

    def run(
        self, command: str, *, timeout: float | None = None, input: bytes | None = None
    ) -> CommandResult:
        self._require_root()
        with command_span(command, kind="remote", **{"server.address": self.address.host}) as s:
            try:
                proc = subprocess.run(
                    self._argv(command),
                    cwd=self.root,
                    env=self._env(),
                    input=input,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
            except subprocess.TimeoutExpired:
                raise TimeoutError(
                    f"a command on {self.address.instance_id or self.address.host} ran longer "
                    f"than {timeout:g} s",
                    suggestions=["give it a longer timeout, or run it in the background"],
                ) from None
            record_exit(s, proc.returncode)
        return CommandResult(
            ("bash", "-c", command),
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )

    def read_file(self, path: str) -> bytes | None:
        try:
            return self._path(path).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def stream(self, command: str) -> Iterator[str]:
        self._require_root()
        proc = subprocess.Popen(
            self._argv(command),
            cwd=self.root,
            env=self._env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        assert proc.stdout is not None
        try:
            for raw in proc.stdout:
                yield raw.decode("utf-8", "replace").rstrip("\n")
        finally:
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=2)
                except subprocess.TimeoutExpired:
                    proc.kill()
            proc.stdout.close()

    def upload(self, local: Path, path: str, *, mode: int = 0o600) -> None:
        target = self._path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_private(target, local.read_bytes(), mode=mode)

    def interactive(self, command: str | None = None) -> int:
        self._require_root()
        argv = self._argv(command) if command is not None else ["bash", "-i"]
        return subprocess.call(argv, cwd=self.root, env=self._env())

    def forward(self, remote_port: int, local_port: int = 0) -> PortForward:
        # An emulated instance's ports are this machine's ports: nothing to forward.
        if local_port not in (0, remote_port):
            raise ValidationError(
                f"an emulated instance's port {remote_port} is already 127.0.0.1:{remote_port}; "
                f"it cannot be moved to {local_port}",
                suggestions=[f"use local port {remote_port} (or 0)"],
            )
        return _SamePort(remote_port)

    def _require_root(self) -> None:
        if not self.root.is_dir():
            raise ProviderError(
                f"instance {self.address.instance_id or self.address.host} is not reachable "
                f"(no sandbox at {self.root})",
                suggestions=["wait until the instance is running"],
            )


@dataclass
class _SamePort:
    remote_port: int
    local_port: int = 0
    opened_at: float = field(default_factory=time.monotonic)

    def __post_init__(self) -> None:
        self.local_port = self.remote_port

    def close(self) -> None:
        pass

    def is_open(self) -> bool:
        return True

    def __enter__(self) -> _SamePort:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
