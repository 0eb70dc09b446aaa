"""Real OpenSSH into an emulated instance: one unprivileged ``sshd`` per instance on loopback.

An instance that boots with SSH gets, inside its disk (the sandbox root, ``FLOW_ROOT``), what a
VM's sshd has::

    etc/ssh/sshd_config              Port <free port>, ListenAddress 127.0.0.1, keys only
    etc/ssh/ssh_host_ed25519_key     its own host key (a new instance is a new host)
    home/ubuntu/.ssh/authorized_keys the public keys of the bid's (or VM's) SSH keys
    etc/flow-login                   the ForceCommand: enter the instance (below)
    var/log/sshd.log                 sshd's own log

``sshd -D`` runs as the emulator's user (unprivileged: any free port above 1024, only that user
can log in), so clients log in as that user, not ``ubuntu``. Every session goes through
``etc/flow-login``, which gives it the instance's environment (``FLOW_ROOT``, ``HOME``, the
``PATH`` its startup script had) and working directory, then runs the client's command
(``SSH_ORIGINAL_COMMAND``) or a login shell. Port forwards (``ssh -L``) reach this machine's
loopback, which is the instance's too. Stopping the instance stops its sshd and every session.

With ``vm_paths`` sshd itself runs through ``etc/flow-vm`` (``_vm.py``), so every session sees
the instance's disk at a VM's absolute paths, and ``ubuntu`` (the user vendors' clients log in
as, given the emulator's uid there) is let in beside the emulator's user.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from flowlib.core.files import write_private

from ._vm import vm_command

__all__ = ["InstanceSshd", "free_port", "sshd_missing", "start_sshd"]

SSHD = "/usr/sbin/sshd"
_LOGIN = """#!/bin/bash
# flowlib emulator: every SSH session of this instance starts here (sshd ForceCommand)
%(exports)s
cd "$HOME" 2> /dev/null || cd "$FLOW_ROOT"
if [ -n "${SSH_ORIGINAL_COMMAND:-}" ]; then exec bash -c "$SSH_ORIGINAL_COMMAND"; fi
exec bash -l
"""


def sshd_program() -> str | None:
    found = shutil.which("sshd") or (SSHD if os.access(SSHD, os.X_OK) else None)
    return found


def sshd_missing() -> str | None:
    """Why an instance cannot get a real sshd here (None: it can)."""
    if sshd_program() is None:
        return "no OpenSSH server (apt-get install openssh-server)"
    if shutil.which("ssh-keygen") is None:
        return "no ssh-keygen (apt-get install openssh-client)"
    return None


@dataclass
class InstanceSshd:
    """A running sshd of one instance."""

    popen: subprocess.Popen[bytes]
    port: int
    root: Path
    user: str

    @property
    def running(self) -> bool:
        return self.popen.poll() is None

    def stop(self) -> None:
        """Stop sshd and every session it serves (each runs in a session of its own)."""
        pids = [self.popen.pid, *_descendants(self.popen.pid)]
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        for pid in pids[1:]:  # a session that ignored SIGTERM: the machine is off
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)


def start_sshd(
    root: Path,
    public_keys: Iterable[str],
    env: Mapping[str, str],
    *,
    address: str = "127.0.0.1",
    port: int | None = None,
    attempts: int = 5,
    timeout: float = 10.0,
    vm_paths: bool = False,
) -> InstanceSshd:
    """Start the instance's sshd (see the module docstring) on ``address`` (a loopback address)
    at ``port`` (None: a free one, tried ``attempts`` times) and return once it accepts
    connections. ``env``: the instance's environment for every session. ``vm_paths``: sshd and
    its sessions see the instance as a VM (see the module docstring; ``_vm.prepare_vm`` first)."""
    program = sshd_program()
    if program is None:
        raise RuntimeError(sshd_missing())
    etc = root / "etc" / "ssh"
    etc.mkdir(parents=True, exist_ok=True)
    host_key = etc / "ssh_host_ed25519_key"
    if not host_key.exists():
        _host_key(host_key, root.name)
    home = (
        root / "home" / "ubuntu" if vm_paths else Path(env.get("HOME") or root / "home" / "ubuntu")
    )
    authorized = home / ".ssh" / "authorized_keys"
    authorized.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    write_private(authorized, "".join(f"{k.strip()}\n" for k in public_keys if k.strip()))
    login = root / "etc" / "flow-login"
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in env.items())
    write_private(login, _LOGIN % {"exports": exports}, mode=0o700)
    log = root / "var" / "log" / "sshd.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    argv = [program]
    if vm_paths:  # its /run/sshd is the instance's (made by prepare_vm, called first)
        argv = vm_command(root, [program])
    elif os.geteuid() == 0:  # sshd run by root insists on its privilege-separation directory
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)
    user = getpass.getuser()
    users = f"{user} ubuntu" if vm_paths and user != "ubuntu" else user
    failure = ""
    fixed = port
    for _ in range(1 if fixed else attempts):
        port = fixed or free_port(address)
        config = etc / "sshd_config"
        text = _config(address, port, host_key, authorized, login, root, users)
        config.write_text(text, "utf-8")
        popen = subprocess.Popen(
            [*argv, "-D", "-f", str(config), "-E", str(log)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        if _listening(popen, address, port, timeout):
            return InstanceSshd(popen, port, root, user)
        with contextlib.suppress(ProcessLookupError):
            popen.kill()
        popen.wait()
        failure = log.read_text(errors="replace")[-2000:] if log.exists() else ""
    raise RuntimeError(f"the instance's sshd did not start:\n{failure}")


def _host_key(path: Path, instance: str) -> None:
    """The instance's host key. Derived from its id when ``cryptography`` is there: emulators
    hand out the same ids run after run (they are seeded), and a client that met an instance
    of an earlier run must find the same key, not a "host key changed" alarm; else random."""
    try:
        import hashlib

        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    except ImportError:
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "flowlib-emulator",
             "-f", str(path)],
            check=True, capture_output=True, timeout=30,
        )  # fmt: skip
        return
    seed = hashlib.sha256(f"flowlib-emulator-host-key|{instance}".encode()).digest()
    key = Ed25519PrivateKey.from_private_bytes(seed)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    write_private(path, private.decode())
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    Path(f"{path}.pub").write_text(public.decode() + " flowlib-emulator\n", encoding="utf-8")


def _config(
    address: str, port: int, host_key: Path, authorized: Path, login: Path, root: Path, users: str
) -> str:
    return "\n".join(
        [
            f"Port {port}",
            f"ListenAddress {address}",
            f"HostKey {host_key}",
            f"PidFile {root / 'var' / 'run' / 'sshd.pid'}",
            f"AuthorizedKeysFile {authorized}",
            f"AllowUsers {users}",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "PermitRootLogin prohibit-password",  # keys only, and only when run as root
            "UsePAM no",
            "StrictModes no",  # the sandbox lives in temporary directories
            "AllowTcpForwarding local",
            "PermitTTY yes",
            "X11Forwarding no",
            "PrintMotd no",
            "PrintLastLog no",
            "MaxStartups 50:30:100",
            f"ForceCommand {login}",
            # sshd runs the command through the user's shell; bash, seeing SSH_CLIENT at shell
            # level 1, would source this machine's ~/.bashrc, whose hangs (a stale pyenv lock)
            # would hang every instance. Level 2 keeps the sandbox free of the host's dotfiles.
            "SetEnv SHLVL=1",
            "LogLevel VERBOSE",
            "",
        ]
    )


def free_port(address: str = "127.0.0.1") -> int:
    """A TCP port nothing listens on at ``address`` now."""
    with socket.socket() as s:
        s.bind((address, 0))
        port: int = s.getsockname()[1]
        return port


def _listening(popen: subprocess.Popen[bytes], address: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if popen.poll() is not None:
            return False
        with (
            contextlib.suppress(OSError),
            socket.create_connection((address, port), timeout=1),
        ):
            return True
        time.sleep(0.01)
    return False


def _children() -> dict[int, list[int]]:
    children: dict[int, list[int]] = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", encoding="utf-8", errors="replace") as fh:
                stat = fh.read()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    return children


def _descendants(pid: int) -> list[int]:
    """Processes below ``pid`` (sshd's per-connection children and what they run)."""
    children = _children()
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found
