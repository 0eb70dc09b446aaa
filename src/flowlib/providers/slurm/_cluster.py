"""Where SLURM commands run: on this machine (through the command-runner seam) or on a login
node (through the remote-host seam). Both give the provider the same five operations, so the
provider never knows which one it talks to.

Files (job scripts, code archives, markers, logs) live in the job directory, which must be on a
filesystem the compute nodes share with the machine that submits (as on every SLURM cluster).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from flowlib.core.files import write_private
from flowlib.core.startup import Markers, read_markers
from flowlib.errors import ProviderError

if TYPE_CHECKING:
    from flowlib.core.hosts import RemoteHost
    from flowlib.core.seams import CommandResult, CommandRunner

__all__ = ["Cluster", "LocalCluster", "Markers", "RemoteCluster"]

# Variables of the submitting process that must not reach sbatch: credentials, and SLURM's own
# input variables (flowlib may itself run inside a SLURM job, whose SBATCH_*/SLURM_* would
# silently change what is submitted).
_DROPPED_PREFIXES = ("SLURM_", "SBATCH_", "SALLOC_", "SRUN_")
_DROPPED = ("FLOW_API_KEY", "FLOW_ROOT")


class Cluster(Protocol):
    """The machine that submits: it runs SLURM's commands and reaches the job directory."""

    where: str

    def command(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        secret_env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        """Run a SLURM command (``sbatch``, ``squeue`` ...) to completion. ``secret_env``
        (credentials for ``sbatch``, which passes its environment on to the job) goes into the
        command's environment only: never into its command line, a file or a log."""
        ...

    def home(self) -> str:
        """The user's home directory there (the default job directory lives under it)."""
        ...

    def write(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        """Create ``path`` (and its parent directories) with ``data``."""
        ...

    def read_from(self, path: str, offset: int = 0) -> bytes | None:
        """The bytes of ``path`` from ``offset`` on; None when the file does not exist."""
        ...

    def markers(self, run_dirs: Mapping[str, str]) -> dict[str, Markers]:
        """Markers of many tasks at once (key -> its ``var/run/flow`` directory)."""
        ...


def _clean_env(environ: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    env = {
        k: v
        for k, v in environ.items()
        if k not in _DROPPED and not k.startswith(_DROPPED_PREFIXES)
    }
    env.update(extra)
    return env


def _unreachable(where: str, argv: Sequence[str], exc: Exception) -> ProviderError:
    return ProviderError(
        f"cannot run {argv[0]} on {where}: {exc}",
        suggestions=[
            "install the SLURM client commands (sbatch, squeue, scancel) where flowlib runs",
            "or set providers.slurm.login_host to a login node that has them",
        ],
        provider="slurm",
    )


class LocalCluster:
    """SLURM's commands on this machine, through a :class:`CommandRunner`."""

    where = "this machine"

    def __init__(self, runner: CommandRunner, env: Mapping[str, str] | None = None) -> None:
        self.runner = runner
        self.env = dict(env or {})

    def command(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        secret_env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        env = _clean_env(os.environ, {**self.env, **(secret_env or {})})
        try:
            return self.runner.run(argv, timeout=timeout, env=env)
        except FileNotFoundError as exc:
            raise _unreachable(self.where, argv, exc) from exc
        except subprocess.TimeoutExpired as exc:
            raise ProviderError(
                f"{argv[0]} did not answer within {timeout:g} s on {self.where}",
                suggestions=["check that the SLURM controller is up: `scontrol ping`"],
                provider="slurm",
            ) from exc

    def home(self) -> str:
        return str(Path.home())

    def write(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_private(target, data, mode=mode)

    def read_from(self, path: str, offset: int = 0) -> bytes | None:
        try:
            with open(path, "rb") as fh:
                fh.seek(offset)
                return fh.read()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def markers(self, run_dirs: Mapping[str, str]) -> dict[str, Markers]:
        return {key: read_markers(Path(d)) for key, d in run_dirs.items()}


def _int(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


# One line per task: KEY<TAB>exit code<TAB>started mtime<TAB>exit_code mtime<TAB>message
_MARKERS_SH = r"""for pair in "$@"; do
  key=${pair%%=*} d=${pair#*=}
  code=$(cat "$d/exit_code" 2>/dev/null | head -n 1)
  s=$(stat -c %Y "$d/started" 2>/dev/null)
  e=$(stat -c %Y "$d/exit_code" 2>/dev/null)
  m=$(head -n 1 "$d/message" 2>/dev/null | tr '\t' ' ')
  printf '%s\t%s\t%s\t%s\t%s\n' "$key" "$code" "$s" "$e" "$m"
done"""


class RemoteCluster:
    """SLURM's commands on a login node, through the remote-host seam (``RemoteHost.run``)."""

    def __init__(self, host: RemoteHost, env: Mapping[str, str] | None = None) -> None:
        self.host = host
        self.env = dict(env or {})
        self.where = str(host.address)

    def _run(self, command: str, *, timeout: float, input: bytes | None = None) -> CommandResult:
        try:
            return self.host.run(command, timeout=timeout, input=input)
        except subprocess.TimeoutExpired as exc:
            raise ProviderError(
                f"the login node {self.where} did not answer within {timeout:g} s",
                suggestions=["check that the SLURM controller is up: `scontrol ping`"],
                provider="slurm",
            ) from exc

    def command(
        self,
        argv: Sequence[str],
        *,
        timeout: float,
        secret_env: Mapping[str, str] | None = None,
    ) -> CommandResult:
        prefix = "".join(f"{k}={shlex.quote(v)} " for k, v in self.env.items())
        unset = "unset ${!SLURM_@} ${!SBATCH_@} 2>/dev/null; "
        secrets = None
        if secret_env:  # read from stdin by the login node's shell: not on any command line
            unset += 'eval "$(cat)"; '
            secrets = "".join(
                f"export {k}={shlex.quote(v)}\n" for k, v in secret_env.items()
            ).encode()
        result = self._run(f"{unset}{prefix}{shlex.join(argv)}", timeout=timeout, input=secrets)
        if result.returncode == 127 and "not found" in result.stderr:
            raise _unreachable(self.where, argv, FileNotFoundError(result.stderr.strip()))
        return result

    def home(self) -> str:
        result = self._run('printf %s "$HOME"', timeout=30)
        if result.returncode != 0 or not result.stdout.startswith("/"):
            raise ProviderError(
                f"cannot find the home directory on {self.where}: {result.stderr.strip()}",
                suggestions=["set providers.slurm.job_dir to an absolute path there"],
                provider="slurm",
            )
        return result.stdout

    def write(self, path: str, data: bytes, *, mode: int = 0o644) -> None:
        q = shlex.quote(path)
        parent = shlex.quote(str(Path(path).parent))
        result = self._run(
            # umask 077: the new file is private until chmod gives it ``mode``
            f"mkdir -p {parent} && rm -f {q}.tmp && (umask 077 && cat > {q}.tmp) && "
            f"chmod {mode:o} {q}.tmp && mv -f {q}.tmp {q}",
            timeout=120,
            input=data,
        )
        if result.returncode != 0:
            raise ProviderError(
                f"cannot write {path} on {self.where}: {result.stderr.strip()}",
                suggestions=["check providers.slurm.job_dir: it must be writable there"],
                provider="slurm",
            )

    def read_from(self, path: str, offset: int = 0) -> bytes | None:
        q = shlex.quote(path)
        result = self._run(f"[ -f {q} ] || exit 3; tail -c +{offset + 1} {q}", timeout=60)
        if result.returncode == 3:
            return None
        return result.stdout.encode("utf-8", "surrogateescape")

    def markers(self, run_dirs: Mapping[str, str]) -> dict[str, Markers]:
        if not run_dirs:
            return {}
        pairs = " ".join(shlex.quote(f"{k}={d}") for k, d in run_dirs.items())
        result = self._run(f"set -- {pairs}\n{_MARKERS_SH}", timeout=60)
        found: dict[str, Markers] = {}
        for line in result.stdout.splitlines():
            key, code, started, ended, message = (line.split("\t") + [""] * 5)[:5]
            found[key] = Markers(
                exit_code=_int(code or None),
                started_at=_epoch(started),
                completed_at=_epoch(ended) if _int(code or None) is not None else None,
                message=message or None,
            )
        return found


def _epoch(text: str) -> datetime | None:
    value = _int(text or None)
    return datetime.fromtimestamp(value, timezone.utc) if value is not None else None
