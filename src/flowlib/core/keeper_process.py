"""Start this home's keeper (:mod:`flowlib.keeper`) and find it again: its lock, state and log
files under ``FLOW_HOME`` and the pipe its settings travel through.

The engine starts a keeper while cloud tasks are live (:meth:`flowlib.Flow.run` calls
:func:`ensure`); ``flow keeper`` reads what it is doing (:func:`read_state`). The keeper's loop
itself drives a :class:`flowlib.Flow`, so it is a layer above the engine and lives in
:mod:`flowlib.keeper`; this module is what the engine needs of it, and imports nothing above.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import IO, TYPE_CHECKING, TypedDict

from pydantic import SecretStr

if TYPE_CHECKING:
    from flowlib.models import FlowConfig

__all__ = ["LOCK", "LOG", "STATE", "KeeperState", "ensure", "read_state", "try_lock"]

LOCK = "keeper.lock"
STATE = "keeper.json"
LOG = "keeper.log"


def ensure(config: FlowConfig) -> bool:
    """Start this home's keeper unless one runs (or the config turns it off); True when a
    keeper runs now."""
    if not config.keeper:
        return False
    home = Path(config.home)
    with try_lock(home) as held:
        if held is None:
            return True  # a keeper holds the lock
    env = {k: v for k, v in os.environ.items() if k != "FLOW_API_KEY"}
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    log = os.open(home / LOG, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "flowlib.keeper"],
            stdin=subprocess.PIPE,
            stdout=log,
            stderr=log,
            start_new_session=True,
            close_fds=True,
            env=env,
            cwd=home,
        )
    finally:
        os.close(log)
    assert proc.stdin is not None
    with proc.stdin:
        proc.stdin.write(json.dumps(_revealed(config)).encode())
    return True


class _Written(TypedDict):
    pid: int
    started_at: str  # ISO times, UTC
    last_poll_at: str
    polls: int
    live_tasks: int


class KeeperState(_Written, total=False):
    """``FLOW_HOME/keeper.json``: what the keeper writes after each look, and, as
    :func:`read_state` answers it (``flow keeper --json``), ``running``."""

    running: bool  # it still holds the lock
    unanswered: dict[str, str]  # the providers its last look could not ask, and why


def read_state(home: Path) -> KeeperState | None:
    """What the keeper last wrote (pid, started, last poll, live tasks, polls), with
    ``running`` telling whether it still holds the lock; None if there never was one."""
    try:
        state: KeeperState = json.loads((Path(home) / STATE).read_text())
    except (OSError, ValueError):
        return None
    with try_lock(Path(home)) as held:
        state["running"] = held is None
    return state


@contextlib.contextmanager
def try_lock(home: Path) -> Iterator[IO[bytes] | None]:
    """The keeper lock, held for the block (None: another process holds it)."""
    home.mkdir(parents=True, exist_ok=True, mode=0o700)
    fd = os.open(home / LOCK, os.O_RDWR | os.O_CREAT, 0o600)
    handle = os.fdopen(fd, "r+b")
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield None
            return
        yield handle
    finally:
        handle.close()


def _revealed(config: FlowConfig) -> dict[str, object]:
    """The config as JSON, its secrets in clear (for the keeper's pipe only)."""

    def plain(value: object) -> object:
        if isinstance(value, SecretStr):
            return value.get_secret_value()
        if isinstance(value, Mapping):
            return {str(k): plain(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [plain(v) for v in value]
        if isinstance(value, Path):
            return str(value)
        return value

    return {name: plain(getattr(config, name)) for name in type(config).model_fields}
