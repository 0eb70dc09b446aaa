"""Booting an emulated instance for real: its startup script runs under bash in a sandbox.

Each instance gets a directory that stands for its disk and is passed as ``FLOW_ROOT``, so a
flowlib startup script writes ``$FLOW_ROOT/var/log/flow/task.log`` and friends there. The script
itself is stored where the cloud stores it (``var/lib/foundry/startup_script.sh``) and its own
output goes where the cloud sends it (``var/log/foundry/startup_script.log``).

The script runs in its own session, so stopping an instance signals every process it started
(SIGTERM, then SIGKILL after a grace period), like a VM shutting down.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from flowlib.core import procs
from flowlib.core.files import open_private, write_private

__all__ = ["Sandbox", "ScriptProcess"]

SCRIPT_PATH = "var/lib/foundry/startup_script.sh"
SCRIPT_LOG = "var/log/foundry/startup_script.log"
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

    def __init__(self, base: Path) -> None:
        self.base = base

    def root(self, instance_fid: str) -> Path:
        return self.base / instance_fid

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
        environment = {k: os.environ[k] for k in _PASS_THROUGH if k in os.environ}
        environment.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
        environment.update(
            {"HOME": str(root / "home" / "ubuntu"), "USER": "ubuntu", "FLOW_ROOT": str(root)}
        )
        environment.update(env or {})
        with open_private(log_file, append=True) as log:
            popen = subprocess.Popen(
                ["bash", str(script_file)],
                cwd=root,
                env=environment,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        return ScriptProcess(popen, root)
