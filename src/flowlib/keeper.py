"""The keeper: one detached process per FLOW_HOME while cloud tasks are live, so a task nobody
watches still has its result kept and its machine released.

A cloud machine is released by a look: a status that reads the workload's exit code keeps the
result home (exit code, log, remote-call results) and deletes the VM (Hyperstack) or lets the
instance release itself (FCP). Without a flowlib process looking, a detached task would bill on.
The keeper is that look, made by nobody in particular:

* ``flow run`` (and any :class:`~flowlib.flow.Flow` that submits to, or lists, a provider whose
  ``needs_keeper`` is true) calls :func:`ensure`: when no keeper holds ``FLOW_HOME/keeper.lock``,
  one is started (``python -m flowlib.keeper``, in its own session), and the submitting process's
  settings reach it through a pipe (never a file, never argv: they hold API keys).
* The keeper refreshes the live tasks of those providers through the lifecycle service, in
  batches (one list call per provider and page, not one per task), every ``interval`` seconds,
  and exits once none has been live for ``idle_s``. It writes what it does to
  ``FLOW_HOME/keeper.json`` (``flow keeper`` shows it) and its messages to ``keeper.log``.
* It is never needed for correctness, only for promptness: any ``flow status`` does the same
  work. ``keeper: false`` in the config (or ``FLOW_KEEPER=0``) turns it off.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowlib.flow import Flow
    from flowlib.models import FlowConfig

__all__ = ["ensure", "read_state", "run_keeper"]

LOCK = "keeper.lock"
STATE = "keeper.json"
LOG = "keeper.log"
INTERVAL_S = 2.0
IDLE_S = 30.0
BATCH = 500


def ensure(flow: Flow) -> bool:
    """Start this home's keeper unless one runs (or the config turns it off); True when a
    keeper runs now."""
    config = flow.config
    if not config.keeper:
        return False
    home = Path(config.home)
    with _try_lock(home) as held:
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


def read_state(home: Path) -> dict[str, Any] | None:
    """What the keeper last wrote (pid, started, last poll, live tasks, polls), with
    ``running`` telling whether it still holds the lock; None if there never was one."""
    try:
        state: dict[str, Any] = json.loads((Path(home) / STATE).read_text())
    except (OSError, ValueError):
        return None
    with _try_lock(Path(home)) as held:
        state["running"] = held is None
    return state


def run_keeper(config: FlowConfig, *, interval: float = INTERVAL_S, idle_s: float = IDLE_S) -> int:
    """The keeper's loop (see the module docstring); returns when nothing was live for
    ``idle_s``, or at once when another keeper holds the lock."""
    from flowlib.flow import Flow
    from flowlib.models import TaskStatus

    home = Path(config.home)
    with _try_lock(home) as held:
        if held is None:
            return 0
        started = _now()
        polls = 0
        idle_since = time.monotonic()
        with Flow(config.model_copy(update={"keeper": False})) as flow:
            while True:
                live = [
                    r
                    for r in flow.store.list(
                        status=[TaskStatus.PENDING, TaskStatus.RUNNING], limit=100_000
                    )
                    if _watched(flow, r.provider)
                ]
                for start in range(0, len(live), BATCH):
                    flow.lifecycle.refresh(live[start : start + BATCH])
                polls += 1
                _write_state(home, started, polls, len(live))
                if live:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= idle_s:
                    return 0
                time.sleep(interval)


def _watched(flow: Flow, provider: str) -> bool:
    from flowlib.errors import FlowError

    try:
        return bool(getattr(flow.provider(provider), "needs_keeper", False))
    except FlowError:  # a provider this keeper cannot build is left to `flow status`
        return False


def _write_state(home: Path, started: datetime, polls: int, live: int) -> None:
    from flowlib.core.files import write_private

    state = {
        "pid": os.getpid(),
        "started_at": started.isoformat(),
        "last_poll_at": _now().isoformat(),
        "polls": polls,
        "live_tasks": live,
    }
    write_private(home / STATE, json.dumps(state).encode())


@contextlib.contextmanager
def _try_lock(home: Path) -> Iterator[IO[bytes] | None]:
    """The keeper lock, held for the block (None: another process holds it)."""
    import fcntl

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


def _revealed(config: FlowConfig) -> dict[str, Any]:
    """The config as JSON, its secrets in clear (for the keeper's pipe only)."""
    from pydantic import SecretStr

    def plain(value: Any) -> Any:
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


def _now() -> datetime:
    return datetime.now(timezone.utc)


def main() -> int:
    from flowlib.models import FlowConfig

    config = FlowConfig.model_validate(json.loads(sys.stdin.read()))
    interval = float(os.environ.get("FLOW_KEEPER_INTERVAL_S", INTERVAL_S))
    idle_s = float(os.environ.get("FLOW_KEEPER_IDLE_S", IDLE_S))
    return run_keeper(config, interval=interval, idle_s=idle_s)


if __name__ == "__main__":
    sys.exit(main())
