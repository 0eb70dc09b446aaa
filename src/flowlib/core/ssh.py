"""The production remote host: the system OpenSSH client (``ssh``), no Python SSH library.

How flowlib talks to a machine it rented (``docs/ssh.md`` tells the user's side):

- ``BatchMode=yes``: never a password or passphrase prompt; a key that does not work fails.
- Host keys go to flowlib's own ``FLOW_HOME/ssh/known_hosts`` with
  ``StrictHostKeyChecking=accept-new``: a new machine is trusted on first use, a changed key for a
  known one is refused. Keys are filed under the instance id (``HostKeyAlias``), so a cloud IP
  reused by a later instance is a new host, not a "host key changed" failure.
- One connection per host is kept open and reused (``ControlMaster``/``ControlPersist``), its
  socket in ``FLOW_HOME/ssh/cm`` (or a private directory under the temp dir when that path is
  too long for a Unix socket).
- While an instance boots, sshd refuses connections: the first command retries with backoff
  (through the :class:`~flowlib.core.seams.Clock` seam) until ``boot_timeout``, then raises
  :class:`~flowlib.errors.ProviderError` with suggestions.

Nothing secret goes on a command line: commands travel as the remote command string, data
(uploads, ``input``) through stdin, and the key by its path.

Absolute paths given to :meth:`OpenSSHHost.read_file` and :meth:`OpenSSHHost.upload` are read as
``${FLOW_ROOT:-}/path`` on the host, like every command flowlib sends: the machine's own path on a
real VM, the instance's disk on an emulated one (its sshd sets ``FLOW_ROOT``).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import re
import shlex
import shutil
import socket
import stat
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flowlib.core.hosts import HostAddress, HostFactory, RemoteHost
from flowlib.core.seams import SYSTEM_CLOCK, Clock, CommandResult, CommandRunner, SubprocessRunner
from flowlib.errors import ProviderError, TimeoutError, ValidationError
from flowlib.telemetry import command_span, record_exit

__all__ = [
    "OpenSSHForward",
    "OpenSSHHost",
    "SshKeyPair",
    "ensure_key_pair",
    "ssh_dir",
    "ssh_factory",
]

# Exit status of the ssh client itself failing (connection, authentication, host key).
SSH_FAILED = 255
# Exit status read_file's remote script uses for "no such file".
_MISSING = 66
# ssh adds a ".XXXXXXXXXXXXXXXX" suffix (17 characters) to a control socket while creating it;
# Unix socket paths must fit in 108 bytes with their terminating NUL.
_SOCKET_PATH_MAX = 107 - 17
_SAFE_ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")

# The remote side of `stream`: run the command in its own process group with stdin from
# /dev/null, and kill that group as soon as our stdin (kept open by the local ssh) reaches EOF,
# i.e. when the local side closes the stream or dies. Without this a `tail -F` on an idle log
# would outlive the connection.
_STREAM_WRAPPER = """\
exec 3<&0 2>/dev/null
set -m
(
%s
) </dev/null 2>&1 &
job=$!
( cat <&3 >/dev/null; kill -TERM -- -$job ) &
watch=$!
exec 3<&-
wait $job; rc=$?
kill -TERM -- -$watch
exit $rc"""


def ssh_dir(home: Path | str) -> Path:
    """``FLOW_HOME/ssh``: flowlib's known_hosts, key pair and connection sockets (mode 0700)."""
    path = Path(home) / "ssh"
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    return path


# -- key pair ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SshKeyPair:
    """flowlib's own key pair. ``public_key`` is the OpenSSH one-line form, safe to show and to
    register with a provider; the private key is only ever referred to by its path."""

    private_key: Path
    public_key: str

    @property
    def public_key_path(self) -> Path:
        return self.private_key.with_name(self.private_key.name + ".pub")

    def __repr__(self) -> str:
        return f"SshKeyPair({str(self.private_key)!r})"


def ensure_key_pair(
    home: Path | str,
    *,
    name: str = "id_ed25519",
    comment: str = "flowlib",
    runner: CommandRunner | None = None,
) -> SshKeyPair:
    """The key pair ``FLOW_HOME/ssh/<name>``: loaded if present, else made with
    ``ssh-keygen -t ed25519`` (no passphrase: flowlib connects unattended) with mode 0600.
    Providers that must register a key with the cloud use its ``public_key``.

    Safe to call from many processes and threads at once: callers take turns on an exclusive
    ``flock`` of ``ssh/<name>.lock``; the first generates the pair in a private temporary
    directory and links it into place, so no caller sees half a key, and every caller returns the
    pair on disk. A private key whose public half is missing (a crash in between) gets it
    derived again. Raises :class:`~flowlib.errors.ProviderError` when ``ssh-keygen`` is missing
    or fails."""
    directory = ssh_dir(home)
    private = directory / name
    public = private.with_name(name + ".pub")
    runner = runner or SubprocessRunner()
    with _locked(directory / f"{name}.lock"):
        if not private.exists():
            _create_key_pair(private, comment, runner)
        if stat.S_IMODE(private.stat().st_mode) != 0o600:
            private.chmod(0o600)
        text = public.read_text().strip() if public.exists() else ""
        if not text:
            text = _derive_public_key(private, runner)
    return SshKeyPair(private, text)


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Hold an exclusive ``flock`` on ``path``. Each call opens its own descriptor, so threads of
    one process exclude each other as processes do; closing it releases the lock."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _create_key_pair(private: Path, comment: str, runner: CommandRunner) -> None:
    # Called under the lock. A public half without its private key is a crash's leftover; it
    # must go first, or a crash after the link below would pair it with the new key.
    public = private.with_name(private.name + ".pub")
    public.unlink(missing_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{private.name}.", dir=private.parent))
    try:
        made = work / private.name
        try:
            result = runner.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(made)],
                timeout=60,
            )
        except FileNotFoundError:
            raise ProviderError(
                "cannot create an SSH key: `ssh-keygen` is not installed",
                suggestions=[
                    "install the OpenSSH client (Debian/Ubuntu: apt-get install "
                    "openssh-client; macOS has it)"
                ],
            ) from None
        if result.returncode != 0:
            raise ProviderError(
                f"ssh-keygen failed to create {private}: {result.stderr.strip()}",
                suggestions=[f"check that {private.parent} is writable"],
            )
        made.chmod(0o600)
        try:
            os.link(made, private)  # never replaces: a key someone else made is kept
        except FileExistsError:
            return  # made outside the lock (an older flowlib): its public half is derived
        os.replace(made.with_name(made.name + ".pub"), public)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _derive_public_key(private: Path, runner: CommandRunner) -> str:
    result = runner.run(["ssh-keygen", "-y", "-f", str(private)], timeout=60)
    if result.returncode != 0:
        raise ProviderError(
            f"cannot read the SSH key {private}: {result.stderr.strip()}",
            suggestions=[f"remove {private} to let flowlib create a new key"],
        )
    text = result.stdout.strip()
    public = private.with_name(private.name + ".pub")
    fd, name = tempfile.mkstemp(prefix=f".{public.name}.", dir=public.parent)
    try:
        with os.fdopen(fd, "w") as out:
            out.write(text + "\n")
        os.chmod(name, 0o644)
        os.replace(name, public)
    except BaseException:
        Path(name).unlink(missing_ok=True)
        raise
    return text


# -- the host -------------------------------------------------------------------------------
class OpenSSHHost:
    """A machine reached with the system ``ssh`` client. See the module docstring."""

    def __init__(
        self,
        address: HostAddress,
        *,
        home: Path | str,
        clock: Clock = SYSTEM_CLOCK,
        boot_timeout: float = 300.0,
        connect_timeout: float = 10.0,
        control_persist_s: int = 120,
        ssh_program: str = "ssh",
    ) -> None:
        self.address = address
        self.home = Path(home)
        self.clock = clock
        self.boot_timeout = boot_timeout
        self.connect_timeout = connect_timeout
        self.control_persist_s = control_persist_s
        self.ssh_program = ssh_program
        self._reached = False
        self._socket: str | bool | None = False  # False: not worked out yet

    @property
    def _control_path(self) -> str | None:
        if self._socket is False:
            self._socket = _control_path(self.home, self.address)
        return self._socket if isinstance(self._socket, str) else None

    def __repr__(self) -> str:
        return f"OpenSSHHost({str(self.address)!r})"

    # -- command lines ------------------------------------------------------------------
    @property
    def known_hosts(self) -> Path:
        return ssh_dir(self.home) / "known_hosts"

    @property
    def host_key_alias(self) -> str | None:
        """The name the host's key is filed under: ``flow-<instance id>`` when there is one."""
        iid = self.address.instance_id
        return f"flow-{iid}" if iid and _SAFE_ALIAS.fullmatch(iid) else None

    def options(self, *, reuse: bool = True) -> list[str]:
        """The ``-o``/``-i``/``-p`` options every connection uses (``reuse``: through the shared
        control connection)."""
        a = self.address
        opts = [
            "-o", "BatchMode=yes",
            "-o", f"ConnectTimeout={max(1, round(self.connect_timeout))}",
            "-o", "StrictHostKeyChecking=accept-new",
            "-o", f"UserKnownHostsFile={self.known_hosts}",
            "-o", "LogLevel=ERROR",
            "-o", "ServerAliveInterval=15",
            "-o", "ServerAliveCountMax=4",
        ]  # fmt: skip
        if self.host_key_alias:
            opts += ["-o", f"HostKeyAlias={self.host_key_alias}"]
        if reuse and self._control_path is not None:
            opts += [
                "-o", "ControlMaster=auto",
                "-o", f"ControlPath={self._control_path}",
                "-o", f"ControlPersist={self.control_persist_s}",
            ]  # fmt: skip
        else:
            opts += ["-o", "ControlMaster=no", "-o", "ControlPath=none"]
        if a.key_path:
            opts += ["-i", str(Path(a.key_path).expanduser()), "-o", "IdentitiesOnly=yes"]
        if a.port != 22:
            opts += ["-p", str(a.port)]
        return opts

    @property
    def destination(self) -> str:
        return f"{self.address.user}@{self.address.host}"

    def argv(
        self, command: str | None = None, *, tty: bool = False, reuse: bool = True
    ) -> list[str]:
        """The full ``ssh`` argv; ``command`` (a bash command line) runs under ``bash -c``."""
        argv = [self.ssh_program, *self.options(reuse=reuse), "-t" if tty else "-T"]
        argv.append(self.destination)
        if command is not None:
            argv.append("bash -c " + shlex.quote(command))
        return argv

    def command_line(self) -> str:
        """What a user can paste into a terminal to log in the way flowlib does."""
        return shlex.join([self.ssh_program, *self.options(reuse=False), self.destination])

    # -- reaching the host ----------------------------------------------------------------
    def _probe(self) -> CommandResult:
        argv = [*self.argv(), "true"]
        try:
            proc = subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=self.connect_timeout * 3 + 5,
                check=False,
            )
        except FileNotFoundError:
            raise ProviderError(
                f"cannot reach {self.address}: the OpenSSH client `{self.ssh_program}` is not "
                "installed",
                suggestions=["install it (Debian/Ubuntu: apt-get install openssh-client)"],
            ) from None
        except subprocess.TimeoutExpired:
            return CommandResult(tuple(argv), SSH_FAILED, "", "ssh did not answer in time")
        return CommandResult(
            tuple(argv), proc.returncode, "", proc.stderr.decode("utf-8", "replace")
        )

    def wait_until_reachable(self, timeout: float | None = None) -> None:
        """Block until an ssh login works, retrying with backoff while the machine boots;
        :class:`ProviderError` after ``timeout`` (default ``boot_timeout``) seconds."""
        timeout = self.boot_timeout if timeout is None else timeout
        start = self.clock.monotonic()
        delay, attempts = 0.25, 0
        while True:
            attempts += 1
            result = self._probe()
            if result.returncode == 0:
                self._reached = True
                return
            waited = self.clock.monotonic() - start
            if waited + delay > timeout:
                raise self._unreachable(result, attempts, waited)
            self.clock.sleep(delay)
            delay = min(delay * 2, 5.0)

    def _ensure_reachable(self) -> None:
        if not self._reached:
            self.wait_until_reachable()

    def _check_after_failure(self, returncode: int) -> None:
        """After exit status 255: the command's own, or the connection's? Ask once more."""
        if returncode != SSH_FAILED:
            return
        result = self._probe()
        if result.returncode != 0:
            self._reached = False
            raise self._unreachable(result, 1, 0.0, lost=True)

    def _unreachable(
        self, result: CommandResult, attempts: int, waited: float, *, lost: bool = False
    ) -> ProviderError:
        reason = _last_line(result.stderr) or f"ssh exited with {result.returncode}"
        what = "lost the connection to" if lost else "cannot reach"
        tries = "" if lost else f" (tried {attempts} times over {waited:.0f} s)"
        tips = [
            "check that the task's instance is running: `flow status TASK`",
            "a machine that just started may still be booting: try again in a minute",
        ]
        if self.address.key_path:
            tips.append(
                f"check that the key {self.address.key_path} is the one registered with the "
                "provider"
            )
        tips.append(f"try it by hand: {self.command_line()} true")
        return ProviderError(
            f"{what} {self.address} over ssh{tries}: {reason}",
            suggestions=tips,
            host=str(self.address),
            attempts=attempts,
        )

    # -- RemoteHost ----------------------------------------------------------------------
    def run(
        self, command: str, *, timeout: float | None = None, input: bytes | None = None
    ) -> CommandResult:
        """Run ``command`` under bash on the host. ``timeout``: :class:`TimeoutError` when it
        runs longer (the local ssh is stopped). The command line is visible in process lists
        here and there: pass secrets through ``input``, never in ``command``."""
        self._ensure_reachable()
        argv = self.argv(command)
        try:
            with command_span(command, kind="remote", **{"server.address": self.address.host}) as s:
                proc = subprocess.run(
                    argv,
                    input=input,
                    stdin=subprocess.DEVNULL if input is None else None,
                    capture_output=True,
                    timeout=timeout,
                    check=False,
                )
                record_exit(s, proc.returncode)
        except subprocess.TimeoutExpired:
            raise TimeoutError(
                f"a command on {self.address} ran longer than {timeout:g} s",
                suggestions=["give it a longer timeout, or run it in the background"],
                host=str(self.address),
            ) from None
        self._check_after_failure(proc.returncode)
        return CommandResult(
            tuple(argv),
            proc.returncode,
            proc.stdout.decode("utf-8", "replace"),
            proc.stderr.decode("utf-8", "replace"),
        )

    def read_file(self, path: str) -> bytes | None:
        self._ensure_reachable()
        script = f'f={_remote_path(path)}; [ -f "$f" ] || exit {_MISSING}; exec cat -- "$f"'
        proc = subprocess.run(
            self.argv(script),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=self.connect_timeout * 3 + 300,
            check=False,
        )
        if proc.returncode == 0:
            return proc.stdout
        if proc.returncode == _MISSING:
            return None
        self._check_after_failure(proc.returncode)
        raise ProviderError(
            f"cannot read {path} on {self.address}: "
            f"{_last_line(proc.stderr.decode('utf-8', 'replace'))}",
            suggestions=["check the file's permissions on the instance"],
            host=str(self.address),
        )

    def stream(self, command: str) -> Iterator[str]:
        self._ensure_reachable()
        proc = subprocess.Popen(
            self.argv(_STREAM_WRAPPER % command),
            stdin=subprocess.PIPE,  # never written: its EOF tells the remote side to stop
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        assert proc.stdout is not None and proc.stdin is not None
        finished = False
        try:
            for raw in proc.stdout:
                yield raw.decode("utf-8", "replace").rstrip("\n")
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=10)  # the output ended: so does ssh, with the exit status
            finished = True
        finally:
            _stop(proc)
        if finished:  # not when the caller closed the stream early
            self._check_after_failure(proc.returncode)

    def upload(self, local: Path, path: str, *, mode: int = 0o600) -> None:
        """Copy ``local`` to ``path`` (parents created): written to a private temporary file
        next to it, given ``mode``, then renamed, so a reader never sees half a file."""
        local = Path(local)
        if not local.is_file():
            raise ValidationError(
                f"cannot upload {local}: no such file",
                suggestions=["check the path"],
            )
        self._ensure_reachable()
        script = (
            f"set -e; p={_remote_path(path)}; "
            'mkdir -p -- "$(dirname -- "$p")"; '
            't=$(mktemp -- "$p.flow-XXXXXX"); '
            "trap 'rm -f -- \"$t\"' EXIT; "
            f'cat > "$t"; chmod {mode:o} -- "$t"; mv -f -- "$t" "$p"'
        )
        with local.open("rb") as data:
            proc = subprocess.run(self.argv(script), stdin=data, capture_output=True, check=False)
        if proc.returncode == 0:
            return
        self._check_after_failure(proc.returncode)
        raise ProviderError(
            f"cannot upload {local.name} to {path} on {self.address}: "
            f"{_last_line(proc.stderr.decode('utf-8', 'replace'))}",
            suggestions=["check that the target directory is writable on the instance"],
            host=str(self.address),
        )

    def interactive(self, command: str | None = None) -> int:
        """A login shell (or ``command``) on this terminal. A terminal is allocated on the host
        only when stdin here is one, so ``flow ssh TASK -- cmd | grep x`` stays clean."""
        self._ensure_reachable()
        tty = _stdin_is_tty()
        returncode = subprocess.call(self.argv(command, tty=tty))
        self._check_after_failure(returncode)
        return returncode

    def forward(self, remote_port: int, local_port: int = 0) -> OpenSSHForward:
        """``ssh -N -L 127.0.0.1:LOCAL:localhost:REMOTE`` on its own connection (closing it
        ends the forward); returns once the local port accepts connections."""
        if not 0 < remote_port <= 65535 or not 0 <= local_port <= 65535:
            raise ValidationError(
                f"not a TCP port: {remote_port if not 0 < remote_port <= 65535 else local_port}",
                suggestions=["ports are 1 to 65535 (a local port of 0: any free one)"],
            )
        if local_port and not _port_is_free(local_port):
            raise ValidationError(
                f"local port {local_port} is already in use on this machine",
                suggestions=["choose another local port, or 0 to let flow pick a free one"],
                port=local_port,
            )
        self._ensure_reachable()
        last = ""
        for _ in range(3):  # a port picked for 0 may be taken before ssh binds it
            port = local_port or _free_port()
            fwd = self._start_forward(remote_port, port)
            if fwd.wait_open(self.clock, self.connect_timeout * 3 + 5):
                return fwd
            last = fwd.error_text()
            fwd.close()
            if local_port:
                break
        self._check_after_failure(SSH_FAILED)
        raise ProviderError(
            f"cannot forward port {remote_port} of {self.address}: {last or 'ssh exited'}",
            suggestions=["check that AllowTcpForwarding is enabled in the instance's sshd"],
            host=str(self.address),
        )

    def _start_forward(self, remote_port: int, local_port: int) -> OpenSSHForward:
        # ssh's complaints, read if it fails; a file, not a pipe nobody drains. Closed by
        # OpenSSHForward.close().
        errors = tempfile.TemporaryFile()  # noqa: SIM115
        argv = [
            self.ssh_program,
            *self.options(reuse=False),
            "-N",
            "-o", "ExitOnForwardFailure=yes",
            "-L", f"127.0.0.1:{local_port}:localhost:{remote_port}",
            self.destination,
        ]  # fmt: skip
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=errors,
            start_new_session=True,
        )
        return OpenSSHForward(proc, local_port, remote_port, errors)

    def close(self) -> None:
        """End the shared connection now instead of after ``control_persist_s`` idle seconds."""
        if self._control_path is None or not Path(self._control_path).exists():
            return
        with contextlib.suppress(OSError, subprocess.TimeoutExpired):
            subprocess.run(
                [self.ssh_program, *self.options(), "-O", "exit", self.destination],
                stdin=subprocess.DEVNULL,
                capture_output=True,
                timeout=10,
                check=False,
            )
        self._reached = False

    def __enter__(self) -> OpenSSHHost:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class OpenSSHForward:
    """A running ``ssh -N -L``: ``127.0.0.1:local_port`` here reaches ``remote_port`` there."""

    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        local_port: int,
        remote_port: int,
        errors: IO[bytes],
    ) -> None:
        self._proc = proc
        self.local_port = local_port
        self.remote_port = remote_port
        self._errors = errors

    def __repr__(self) -> str:
        state = "open" if self.is_open() else "closed"
        return f"OpenSSHForward({self.url} -> remote port {self.remote_port}, {state})"

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.local_port}"

    def is_open(self) -> bool:
        return self._proc.poll() is None

    def wait_open(self, clock: Clock, timeout: float) -> bool:
        """Wait until the local port accepts a connection (True) or ssh gives up (False)."""
        deadline = clock.monotonic() + timeout
        delay = 0.01
        while self.is_open():
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.local_port), timeout=1),
            ):
                return True
            if clock.monotonic() >= deadline:
                return False
            clock.sleep(delay)
            delay = min(delay * 2, 0.25)
        return False

    def error_text(self) -> str:
        with contextlib.suppress(OSError, ValueError):
            self._errors.seek(0)
            return _last_line(self._errors.read().decode("utf-8", "replace"))
        return ""

    def close(self) -> None:
        _stop(self._proc)
        self._errors.close()

    def __enter__(self) -> OpenSSHForward:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def ssh_factory(
    home: Path | str | None = None,
    *,
    clock: Clock = SYSTEM_CLOCK,
    boot_timeout: float = 300.0,
    connect_timeout: float = 10.0,
) -> HostFactory:
    """A :data:`~flowlib.core.hosts.HostFactory` of :class:`OpenSSHHost` (production).
    ``home``: flowlib's home (known_hosts, sockets); default ``FLOW_HOME``, else ``~/.flow``."""
    if home is None:
        home = Path(os.environ.get("FLOW_HOME") or Path.home() / ".flow").expanduser()

    def factory(address: HostAddress) -> RemoteHost:
        return OpenSSHHost(
            address,
            home=home,
            clock=clock,
            boot_timeout=boot_timeout,
            connect_timeout=connect_timeout,
        )

    return factory


# -- helpers --------------------------------------------------------------------------------
def _remote_path(path: str) -> str:
    """``path`` as a shell word on the host: an absolute path is the machine's own, under
    ``${FLOW_ROOT:-}`` (empty on a real VM; an emulated instance's sessions set it to its
    disk), as :class:`~flowlib.core.hosts.SandboxHost` maps it."""
    quoted = shlex.quote(path)
    return f'"${{FLOW_ROOT:-}}"{quoted}' if path.startswith("/") else quoted


def _control_path(home: Path, address: HostAddress) -> str | None:
    """A short socket path for the shared connection, or None (no sharing) when no private
    directory short enough can be had."""
    ident = f"{home}|{address.user}@{address.host}:{address.port}|{address.key_path}"
    name = hashlib.sha256(ident.encode()).hexdigest()[:16]
    candidates = [home / "ssh" / "cm", Path(tempfile.gettempdir()) / f"flow-ssh-{os.getuid()}"]
    for directory in candidates:
        path = f"{directory}/{name}"
        if len(path) <= _SOCKET_PATH_MAX and _private_dir(directory):
            return path
    return None


def _private_dir(directory: Path) -> bool:
    """``directory`` exists (created 0700), is ours and nobody else's (sockets are keys)."""
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = directory.lstat()
    except OSError:
        return False
    return stat.S_ISDIR(st.st_mode) and st.st_uid == os.getuid() and not st.st_mode & 0o077


def _stop(proc: subprocess.Popen[bytes]) -> None:
    for stream in (proc.stdin, proc.stdout):
        if stream is not None:
            with contextlib.suppress(OSError):
                stream.close()
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _port_is_free(port: int) -> bool:
    with socket.socket() as s:
        # As ssh binds its listener: a port whose last connections linger in TIME_WAIT is free.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _stdin_is_tty() -> bool:
    try:
        return os.isatty(0)
    except OSError:
        return False


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[-1] if lines else ""
