"""A real OpenSSH server on loopback, for tests of anything that reaches machines over ssh.

:class:`LoopbackSshd` runs ``/usr/sbin/sshd -D`` as the current user on a free port of
127.0.0.1, with a generated config, host key and client key; nothing on the system's own sshd
setup changes. (Run as root, sshd insists on its privilege-separation directory ``/run/sshd``,
which Debian's service unit would create; it is created here the same way.)

Fixtures (imported by ``conftest.py``, so every integration test can ask for them):

- ``sshd``: one running server for the session; ``sshd.address()`` is a ready
  :class:`~flowlib.core.hosts.HostAddress` (key included).
- ``sshd_factory``: makes servers a test starts and stops itself (late start, restarts).

Helpers for what such tests reach through a tunnel: :func:`http_server` (a web page on a
loopback port), :func:`fetch` and :func:`eventually`.

Without sshd the tests skip and say why; with ``FLOWLIB_REQUIRE_SSHD=1`` (CI) they fail instead.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from flowlib.core.hosts import HostAddress

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"

__all__ = [
    "SSHD",
    "LoopbackSshd",
    "eventually",
    "fetch",
    "free_port",
    "http_server",
    "require_sshd",
    "sshd",
    "sshd_factory",
]


def sshd_missing() -> str | None:
    """Why a loopback sshd cannot run here, or None."""
    if not os.access(SSHD, os.X_OK):
        return f"no OpenSSH server at {SSHD} (apt-get install openssh-server)"
    for tool in ("ssh", "ssh-keygen"):
        if shutil.which(tool) is None:
            return f"no `{tool}` (apt-get install openssh-client)"
    return None


def require_sshd() -> None:
    """Skip the calling test when sshd is missing (fail under ``FLOWLIB_REQUIRE_SSHD=1``)."""
    reason = sshd_missing()
    if reason is None:
        return
    if os.environ.get("FLOWLIB_REQUIRE_SSHD") == "1":
        pytest.fail(f"sshd required (FLOWLIB_REQUIRE_SSHD=1) but unavailable: {reason}")
    pytest.skip(f"needs a real sshd: {reason}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def eventually(check: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Poll ``check`` until it is true or ``timeout`` seconds pass; its last answer."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.05)
    return check()


def fetch(url: str, timeout: float = 3.0) -> str | None:
    """The body at ``url``, or None when nothing answers there."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text: str = response.read().decode()
            return text
    except (urllib.error.URLError, OSError):
        return None


@contextlib.contextmanager
def http_server(site: Path, index: str) -> Iterator[int]:
    """``python -m http.server`` on a free loopback port (yielded), serving ``index`` as
    ``site/index.html``; stopped on exit."""
    site.mkdir()
    (site / "index.html").write_text(index)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=site,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert eventually(lambda: fetch(f"http://127.0.0.1:{port}/") is not None, timeout=15)
        yield port
    finally:
        proc.terminate()
        proc.wait()


class LoopbackSshd:
    """An sshd for the current user on ``127.0.0.1:port``; keys and config under ``directory``."""

    def __init__(self, directory: Path, port: int | None = None) -> None:
        self.directory = directory
        self.port = port or free_port()
        self.user = getpass.getuser()
        directory.mkdir(parents=True, exist_ok=True)
        self.host_key = directory / "host_ed25519"
        self.client_key = directory / "client_ed25519"
        for key in (self.host_key, self.client_key):
            if not key.exists():
                _keygen(key)
        self.authorized_keys = directory / "authorized_keys"
        self.authorized_keys.write_text(
            Path(f"{self.client_key}.pub").read_text(), encoding="utf-8"
        )
        self.authorized_keys.chmod(0o600)
        self.config = directory / "sshd_config"
        self.log = directory / "sshd.log"
        self.config.write_text(self._config_text(), encoding="utf-8")
        self._proc: subprocess.Popen[bytes] | None = None

    def _config_text(self) -> str:
        return "\n".join(
            [
                f"Port {self.port}",
                "ListenAddress 127.0.0.1",
                f"HostKey {self.host_key}",
                f"PidFile {self.directory / 'sshd.pid'}",
                f"AuthorizedKeysFile {self.authorized_keys}",
                "PubkeyAuthentication yes",
                "PasswordAuthentication no",
                "KbdInteractiveAuthentication no",
                "PermitRootLogin prohibit-password",  # only keys, and only when run as root
                "UsePAM no",
                "StrictModes no",  # pytest's temporary directories are not sshd-strict
                "AllowTcpForwarding yes",
                "PermitTTY yes",
                "X11Forwarding no",
                "PrintMotd no",
                "MaxStartups 50:30:100",
                # bash sources ~/.bashrc for ssh commands only at shell level 1; a dotfile that
                # hangs (a stale pyenv rehash lock did, in CI) must not hang the suite. The
                # login node's python3 is this interpreter (it has flowlib's extras): else a
                # job staging S3 data pip-installs s3fs into ~/.local, from the network.
                f"SetEnv SHLVL=1 PATH={Path(sys.executable).parent}:/usr/local/bin:/usr/bin:/bin",
                "LogLevel VERBOSE",
                "",
            ]
        )

    def __repr__(self) -> str:
        return f"LoopbackSshd({self.user}@127.0.0.1:{self.port})"

    @property
    def host_public_key(self) -> str:
        return Path(f"{self.host_key}.pub").read_text().strip()

    def address(self, **changes: object) -> HostAddress:
        fields: dict[str, object] = {
            "host": "127.0.0.1",
            "port": self.port,
            "user": self.user,
            "key_path": str(self.client_key),
            "instance_id": f"loopback-{self.port}",
        }
        fields.update(changes)
        return HostAddress(**fields)  # type: ignore[arg-type]

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self, timeout: float = 10.0) -> LoopbackSshd:
        """Start sshd and return once it accepts connections."""
        require_sshd()
        if self.running:
            return self
        if os.geteuid() == 0:
            Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
        self._proc = subprocess.Popen(
            [SSHD, "-D", "-f", str(self.config), "-E", str(self.log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"sshd exited with {self._proc.returncode}:\n{self.log_text()}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=1),
            ):
                return self
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"sshd did not listen on port {self.port}:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop sshd and every connection it serves (each runs in its own session)."""
        if self._proc is None:
            return
        pids = [self._proc.pid, *_descendants(self._proc.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
            self._proc.wait()
        self._proc = None

    def log_text(self) -> str:
        try:
            return self.log.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def __enter__(self) -> LoopbackSshd:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _keygen(path: Path) -> None:
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flowlib-test", "-f", str(path)],
        check=True,
        capture_output=True,
    )


def _descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (sshd's per-connection children and what they run)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    found, todo = [], [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


@pytest.fixture(scope="session")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoopbackSshd]:
    """One running loopback sshd shared by the session's tests."""
    require_sshd()
    server = LoopbackSshd(tmp_path_factory.mktemp("sshd"))
    with server:
        yield server


@pytest.fixture
def sshd_factory(tmp_path: Path) -> Iterator[Callable[..., LoopbackSshd]]:
    """``sshd_factory(port=None)``: a not yet started server, stopped at the end of the test."""
    require_sshd()
    made: list[LoopbackSshd] = []

    def make(port: int | None = None) -> LoopbackSshd:
        server = LoopbackSshd(tmp_path / f"sshd{len(made)}", port)
        made.append(server)
        return server

    yield make
    for server in made:
        server.stop()
