"""What the cloud providers (fcp, hyperstack) share: checking their settings' keys, creating a
named resource exactly once, and keeping a task's results when its machine is released.

How instances are reached (``remote_host``) is the registry's: :func:`flowlib.providers.
check_remote_host` and :func:`flowlib.providers.host_factory`.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

from flowlib.core._results_location import FILES, LOG, location_of
from flowlib.errors import ConfigError, FlowError

if TYPE_CHECKING:
    from flowlib.core.hosts import RemoteHost
    from flowlib.core.store import TaskRecord

__all__ = [
    "FORMER_REMOTE_HOSTS",
    "RESULTS_DIR",
    "RETIRED_KEYS",
    "KeptResults",
    "create_once",
    "retired_keys",
    "unknown_keys",
]

_EMULATOR_HOSTS = (
    "remote_host: flowlib.testing.emulators:sandbox with remote_host_options: "
    "{{dir: <the instances directory>}}; `python -m flowlib.testing.emulators {provider} "
    "--flow-config PATH` writes both"
)
# Provider keys that are gone, with what replaced them ({provider}: the section's provider): a
# config written before still has them.
RETIRED_KEYS = {
    "sandbox_dir": "the emulators' sandbox hosts come from their plugin now: " + _EMULATOR_HOSTS,
}
# remote_host values that were built in and are a plugin's now, with how to name that plugin.
FORMER_REMOTE_HOSTS = {"sandbox": "the emulators' sandbox hosts: " + _EMULATOR_HOSTS}
RESULTS_DIR = ".flow-remote"  # under the working directory: what remote Python calls leave
T = TypeVar("T")


def retired_keys(provider: str, given: Collection[str]) -> None:
    """Raise a ConfigError for a key of ``given`` that is no longer a setting, saying what
    replaced it (:data:`RETIRED_KEYS`)."""
    retired = sorted(set(given) & set(RETIRED_KEYS))
    if retired:
        raise ConfigError(
            f"providers.{provider}.{retired[0]} is no longer a setting",
            suggestions=[RETIRED_KEYS[key].format(provider=provider) for key in retired],
            provider=provider,
        )


def unknown_keys(provider: str, given: Collection[str], known: Collection[str]) -> None:
    """Raise a ConfigError naming the keys of ``given`` not in ``known`` (with a close match
    for each, when there is one); a retired key is named with what replaced it."""
    retired_keys(provider, given)
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

    def adopt(self, record: TaskRecord, node: str = "0") -> tuple[int, bool] | None:
        """The machine is gone: keep what the task uploaded to its results location (exit
        code, log, remote-call results), so the kept copy answers as if the machine had been
        read before it went. Returns the exit code and whether a stop had reached it, or None
        when the task has no results location or its exit code never got there. ``node``
        names the kept exit code (FCP: the instance's FID). Raises
        FlowError when the location cannot be read."""
        from flowlib.core.files import write_private

        location = location_of(record)
        found = location.exit() if location is not None else None
        if location is None or found is None:
            return None
        task_id = record.task_id
        log = location.read(LOG)
        if log is not None:
            write_private(self.log_path(task_id), log)
        for name in location.files():
            if name.startswith(FILES + "/"):
                data = location.read(name)
                target = self.root / task_id / RESULTS_DIR / name[len(FILES) + 1 :]
                if data is not None and ".." not in Path(name).parts:
                    write_private(target, data)
        self.keep_exit(task_id, node, *found)
        return found
