"""Booting an emulated instance for real: its startup script runs under bash in a sandbox.

Each instance gets a directory that stands for its disk and is passed as ``FLOW_ROOT``, so a
flowlib startup script writes ``$FLOW_ROOT/var/log/flow/task.log`` and friends there. The script
itself is stored where the cloud stores it (``var/lib/foundry/startup_script.sh``) and its own
output goes where the cloud sends it (``var/log/foundry/startup_script.log``).

The script runs in its own session, so stopping an instance signals every process it started
(SIGTERM, then SIGKILL after a grace period), like a VM shutting down.

An instance may also be reachable by real OpenSSH: :meth:`Sandbox.serve_ssh` starts its own
``sshd`` on a loopback port (``_sshd.py``), whose sessions get the same environment as the
startup script.

With ``vm_paths`` (``Sandbox(base, vm_paths=True)``, root only) the script and the sshd run in a
private mount namespace where the instance's disk is at a VM's absolute paths (``_vm.py``), for
vendors' scripts and tools that write and read ``/var/log/...`` rather than ``$FLOW_ROOT/...``.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flowlib.core import procs
from flowlib.core.files import open_private, write_private

from ._sshd import InstanceSshd, start_sshd
from ._vm import VM_HOME, prepare_vm, shims_dir, vm_command

__all__ = ["Sandbox", "ScriptProcess"]

SCRIPT_PATH = "var/lib/foundry/startup_script.sh"
SCRIPT_LOG = "var/log/foundry/startup_script.log"
CLOUD_INIT_LOG = "var/log/cloud-init-output.log"  # the same output, with vm_paths
# Variables passed through from the emulator's own environment; the rest of a VM's environment
# is what its script sets.
_PASS_THROUGH = ("PATH", "LANG", "LC_ALL", "TZ", "TMPDIR")


@dataclass
class ScriptProcess:
    """A running (or ended) startup script."""

    popen: subprocess.Popen[bytes]
    root: Path
    exit_code: int | None = None
    _stopping: bool = field(default=False, repr=False)

    def poll(self) -> int | None:
        if self.exit_code is None:
            self.exit_code = self.popen.poll()
        return self.exit_code

    @property
    def running(self) -> bool:
        return self.poll() is None

    def stop(self, grace_s: float = 2.0) -> None:
        """SIGTERM the script's session now; SIGKILL what is left after ``grace_s`` (in the
        background: this never blocks)."""
        if self._stopping:
            return
        self._stopping = True
        _signal_group(self.popen.pid, signal.SIGTERM)
        threading.Thread(target=self._reap, args=(grace_s,), daemon=True).start()

    def kill(self) -> None:
        _signal_group(self.popen.pid, signal.SIGKILL)
        self._wait(5.0)

    def wait(self, timeout: float) -> int | None:
        """Wait up to ``timeout`` real seconds for the script to end; its exit status or None."""
        return self._wait(timeout)

    def _wait(self, timeout: float) -> int | None:
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            return None
        return self.poll()

    def _reap(self, grace_s: float) -> None:
        self._wait(grace_s)
        # Whatever is left of the session after the grace period (the script itself, or a
        # workload it started that ignored SIGTERM) is killed: a stopped VM runs nothing.
        _signal_group(self.popen.pid, signal.SIGKILL)
        self._wait(5.0)


def _signal_group(pid: int, sig: signal.Signals) -> None:
    """Signal every process of the script's session, like a VM going down: also those that moved
    to a process group of their own (``timeout`` does), which ``killpg`` alone would miss."""
    procs.signal_session(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


class Sandbox:
    """Per-instance root directories under ``base``."""

    def __init__(self, base: Path, *, vm_paths: bool = False) -> None:
        self.base = base
        self.vm_paths = vm_paths
        self._sshd: dict[str, InstanceSshd] = {}
        self._lock = threading.Lock()

    def root(self, instance_fid: str) -> Path:
        return self.base / instance_fid

    def environment(
        self, instance_fid: str, env: Mapping[str, str] | None = None
    ) -> dict[str, str]:
        """What the instance's processes (its startup script, its SSH sessions) start with."""
        root = self.root(instance_fid)
        environment = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
        environment.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        environment.update(
            {"HOME": str(root / "home" / "ubuntu"), "USER": "ubuntu", "FLOW_ROOT": str(root)}
        )
        if self.vm_paths:  # the same directories, at the VM's paths (see _vm.py)
            environment["HOME"] = VM_HOME
        environment.update(env or {})
        if self.vm_paths:  # the emulator's shims come first (see _vm.py)
            environment["PATH"] = f"{shims_dir(root)}:{environment['PATH']}"
        return environment

    def serve_ssh(
        self,
        instance_fid: str,
        public_keys: Iterable[str],
        env: Mapping[str, str] | None = None,
        *,
        address: str = "127.0.0.1",
        port: int | None = None,
    ) -> int:
        """Start (or keep) the instance's sshd at ``address`` (``port`` None: a free one),
        logging in with ``public_keys``; its port."""
        with self._lock:
            running = self._sshd.get(instance_fid)
            if running is not None and running.running:
                return running.port
            environment = self.environment(instance_fid, env)
            environment.pop("USER", None)  # sessions run as the emulator's user
            if self.vm_paths:
                prepare_vm(self.root(instance_fid), self.base.parent)
            server = start_sshd(
                self.root(instance_fid), public_keys, environment,
                address=address, port=port, vm_paths=self.vm_paths,
            )  # fmt: skip
            self._sshd[instance_fid] = server
            return server.port

    def clear_run(self, instance_fid: str) -> None:
        """Empty the instance's ``run`` (and a ``var/run`` of its own), as a reboot does."""
        root = self.root(instance_fid)
        for run in (root / "run", root / "var" / "run"):
            if run.is_symlink() or not run.is_dir():
                continue
            for entry in run.iterdir():
                if entry.is_dir() and not entry.is_symlink():
                    shutil.rmtree(entry, ignore_errors=True)
                else:
                    entry.unlink(missing_ok=True)

    def stop_ssh(self, instance_fid: str | None = None) -> None:
        """Stop the instance's sshd and its sessions (``None``: every instance's)."""
        with self._lock:
            fids = list(self._sshd) if instance_fid is None else [instance_fid]
            servers = [self._sshd.pop(f) for f in fids if f in self._sshd]
        for server in servers:
            server.stop()

    def boot(
        self,
        instance_fid: str,
        script: str,
        env: Mapping[str, str] | None = None,
        *,
        script_path: str = SCRIPT_PATH,
        log_path: str = SCRIPT_LOG,
    ) -> ScriptProcess:
        """Write ``script`` into the instance's disk (at ``script_path``, relative to its root)
        and start it with bash, its output appended to ``log_path``."""
        root = self.root(instance_fid)
        script_file = root / script_path
        log_file = root / log_path
        script_file.parent.mkdir(parents=True, exist_ok=True)
        log_file.parent.mkdir(parents=True, exist_ok=True)
        (root / "home" / "ubuntu").mkdir(parents=True, exist_ok=True)
        write_private(script_file, script, mode=0o700)
        environment = self.environment(instance_fid, env)
        argv = ["bash", str(script_file)]
        if self.vm_paths:
            prepare_vm(root, self.base.parent)
            argv = vm_command(root, ["bash", f"/{script_path}"])
            log_file.touch(mode=0o600)
            cloud_init = root / CLOUD_INIT_LOG
            if not cloud_init.exists():  # where cloud-init puts a script's output on a VM
                os.link(log_file, cloud_init)
        with open_private(log_file, append=True) as log:
            popen = subprocess.Popen(
                argv,
                cwd=root,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return ScriptProcess(popen, root)
