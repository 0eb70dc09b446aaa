"""What the cloud providers (fcp, hyperstack) share: the settings that choose how instances are
reached, the host factory they choose, creating a named resource exactly once, and keeping a
task's results when its machine is released.

``remote_host: ssh`` reaches real instances over OpenSSH; ``remote_host: sandbox`` reaches an
emulated cloud's instances, one directory per instance id under ``sandbox_dir``.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from flowlib.core.seams import SYSTEM_CLOCK, Clock
from flowlib.errors import ConfigError, FlowError

if TYPE_CHECKING:
    from flowlib.core.hosts import HostFactory, RemoteHost

__all__ = [
    "REMOTE_HOSTS",
    "RESULTS_DIR",
    "KeptResults",
    "check_remote_host",
    "create_once",
    "host_factory",
    "unknown_keys",
]

REMOTE_HOSTS = ("ssh", "sandbox")
RESULTS_DIR = ".flow-remote"  # under the working directory: what remote Python calls leave
T = TypeVar("T")


def unknown_keys(provider: str, given: Collection[str], known: Collection[str]) -> None:
    """Raise a ConfigError naming the keys of ``given`` not in ``known`` (with a close match
    for each, when there is one)."""
    unknown = sorted(set(given) - set(known))
    if not unknown:
        return
    import difflib

    valid = sorted(known)
    tips = [
        f"did you mean '{close[0]}'?"
        for key in unknown
        if (close := difflib.get_close_matches(key, valid, n=1))
    ]
    raise ConfigError(
        f"unknown setting(s) for provider {provider}: {', '.join(unknown)}",
        suggestions=tips or [f"valid keys: {', '.join(valid)}"],
        provider=provider,
    )


def check_remote_host(provider: str, remote_host: str, sandbox_dir: Path | None) -> None:
    """``remote_host`` is ssh or sandbox, and sandbox comes with its ``sandbox_dir``."""
    if remote_host not in REMOTE_HOSTS:
        raise ConfigError(
            f"providers.{provider}.remote_host must be 'ssh' or 'sandbox', got {remote_host!r}",
            suggestions=["ssh reaches real instances; sandbox is for the emulator"],
            provider=provider,
        )
    if remote_host == "sandbox" and sandbox_dir is None:
        raise ConfigError(
            f"providers.{provider}.remote_host=sandbox needs providers.{provider}.sandbox_dir",
            suggestions=["set sandbox_dir to the emulator's instances directory (it prints it)"],
            provider=provider,
        )


def host_factory(
    remote_host: str, sandbox_dir: Path | None, home: Path, *, clock: Clock = SYSTEM_CLOCK
) -> HostFactory:
    """The host factory the settings ask for: OpenSSH, or the emulator's sandboxes (one root
    per instance id under ``sandbox_dir``)."""
    if remote_host == "sandbox":
        from flowlib.core.hosts import sandbox_factory

        base = Path(sandbox_dir) if sandbox_dir is not None else None
        assert base is not None  # checked with the settings
        return sandbox_factory(lambda a: base / a.instance_id)
    from flowlib.core.ssh import ssh_factory

    return ssh_factory(home, clock=clock)


def create_once(
    create: Callable[[], T],
    find: Callable[[], T | None],
    *,
    attempts: int,
    retry: Callable[[FlowError], bool] | None = None,
) -> T:
    """``create()`` a named resource exactly once. After a failure that leaves unknown whether it
    took effect (an :class:`~flowlib.core.http.AmbiguousRequestError`) ``find()`` looks the
    resource up by its name (and may clean up an orphan, returning None) before the create is
    sent again; after the last attempt too. A refusal that ``retry`` accepts (one saying the
    name is taken) is looked up the same way.

    When nothing is found after the last attempt, the last failure is raised. When the look-up
    itself fails, an :class:`~flowlib.core.http.AmbiguousRequestError` is raised: the outcome is
    unknown, and the caller must look again later rather than call the create failed."""
    from flowlib.core.http import AmbiguousRequestError

    failure: FlowError | None = None
    for _ in range(attempts):
        try:
            return create()
        except AmbiguousRequestError as exc:
            failure = exc
        except FlowError as exc:
            if retry is None or not retry(exc):
                raise
            failure = exc
        try:
            found = find()
        except FlowError as exc:
            if isinstance(failure, AmbiguousRequestError):
                raise failure from exc
            raise
        if found is not None:
            return found
    assert failure is not None
    raise failure


class KeptResults:
    """The files a task leaves in ``<working_dir>/.flow-remote/`` (what a remote Python call
    returns), copied to ``<home>/<provider>/kept/<task id>/`` before its machine is released, so
    they outlive it. A cloud provider's ``read_file`` answers from here once the machine is gone.
    """

    def __init__(self, home: Path, provider: str) -> None:
        self.root = Path(home) / provider / "kept"

    def keep(self, task_id: str, working_dir: str, host: RemoteHost) -> None:
        """Copy the task's results directory home (one command on the host; nothing when the
        task left none). Raises FlowError when the host cannot be reached."""
        import base64
        import io
        import shlex
        import tarfile

        where = '"${FLOW_ROOT:-}"' + shlex.quote(working_dir)
        found = host.run(
            f"cd {where} 2>/dev/null && [ -d {RESULTS_DIR} ] && "
            f"tar czf - {RESULTS_DIR} | base64 -w0 || true",
            timeout=120,
        )
        packed = found.stdout.strip()
        if not packed:
            return
        target = self.root / task_id
        target.mkdir(parents=True, exist_ok=True, mode=0o700)
        with tarfile.open(fileobj=io.BytesIO(base64.b64decode(packed)), mode="r:gz") as tar:
            tar.extractall(target, filter="data")

    def keep_log(self, task_id: str, host: RemoteHost, path: str) -> None:
        """Copy the task's log (``path`` on its machine) home before the machine goes or
        sleeps. Raises FlowError when the host cannot be reached."""
        from flowlib.core.files import write_private

        data = host.read_file(path)
        if data is not None:
            write_private(self.log_path(task_id), data)

    def log_path(self, task_id: str) -> Path:
        """Where the task's kept log is (it may not exist)."""
        return self.root / task_id / "task.log"

    def log(self, task_id: str) -> bytes | None:
        """The task's kept log, or None when none was kept."""
        try:
            return self.log_path(task_id).read_bytes()
        except (FileNotFoundError, NotADirectoryError):
            return None

    def keep_exit(self, task_id: str, node: str, code: int, stopped: bool) -> None:
        """Keep a node's exit code (and whether a stop had reached it) before its machine may
        go: a status whose answer is lost afterwards still finds the task's real result."""
        from flowlib.core.files import write_private

        write_private(self.root / task_id / "exit" / node, f"{code} {int(stopped)}\n".encode())

    def exits(self, task_id: str) -> dict[str, tuple[int, bool]]:
        """The exit codes kept for the task, by node: ``{node: (code, stopped)}``."""
        found: dict[str, tuple[int, bool]] = {}
        folder = self.root / task_id / "exit"
        if not folder.is_dir():
            return found
        for path in folder.iterdir():
            try:
                code, stopped = path.read_text().split()
                found[path.name] = (int(code), stopped == "1")
            except (OSError, ValueError):
                continue
        return found

    def read(self, task_id: str, working_dir: str, path: str) -> bytes | None:
        """The kept copy of ``path`` (an absolute path on the task's machine), or None."""
        import posixpath

        relative = posixpath.relpath(posixpath.normpath(path), working_dir)
        if not relative.startswith(RESULTS_DIR + "/"):
            return None
        try:
            return (self.root / task_id / relative).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None
