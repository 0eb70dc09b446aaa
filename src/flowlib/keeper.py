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

import json
import logging
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from flowlib.core.files import write_private
from flowlib.core.keeper_process import STATE, KeeperState, ensure, read_state, try_lock
from flowlib.errors import FlowError
from flowlib.flow import Flow
from flowlib.models import FlowConfig, TaskStatus

__all__ = ["ensure", "poll", "read_state", "run_keeper"]

log = logging.getLogger(__name__)

INTERVAL_S = 2.0
IDLE_S = 30.0
BATCH = 10_000  # tasks per refresh: each provider answers them in one status call
PAGE = 100  # machines per list page (Hyperstack, FCP)
RATE_SHARE = 0.5  # the keeper uses at most half a provider's rate limit


def run_keeper(config: FlowConfig, *, interval: float = INTERVAL_S, idle_s: float = IDLE_S) -> int:
    """The keeper's loop (see the module docstring); returns when nothing was live for
    ``idle_s``, or at once when another keeper holds the lock."""
    home = Path(config.home)
    with try_lock(home) as held:
        if held is None:
            return 0
        started = _now()
        polls = 0
        idle_since = time.monotonic()
        with Flow(config.model_copy(update={"keeper": False})) as flow:
            while True:
                try:
                    live, pause = poll(flow, interval)
                except Exception:  # the keeper outlives any one bad look (a store busy...)
                    log.exception("keeper: a look at the live tasks failed; trying again")
                    live, pause = 1, interval
                polls += 1
                _write_state(home, started, polls, live, flow.lifecycle.unanswered)
                if live:
                    idle_since = time.monotonic()
                elif time.monotonic() - idle_since >= idle_s:
                    return 0
                time.sleep(pause)


def poll(flow: Flow, interval: float = INTERVAL_S) -> tuple[int, float]:
    """One look at every live task of the watched providers: one status call per provider
    with all of its live tasks (a provider lists its machines a page at a time: the calls grow
    with pages, not tasks). Returns the number of live tasks and how long to wait before the
    next look: ``interval``, or longer where a provider's rate limit (``requests_per_minute``)
    would be more than half used by looking that often."""
    live = [
        r
        for r in flow.store.list(status=[TaskStatus.PENDING, TaskStatus.RUNNING], limit=100_000)
        if _watched(flow, r.provider)
    ]
    by_provider: dict[str, int] = {}
    for r in live:
        by_provider[r.provider] = by_provider.get(r.provider, 0) + 1
    for start in range(0, len(live), BATCH):
        flow.lifecycle.refresh(live[start : start + BATCH])
    pause = interval
    for name, count in by_provider.items():
        limit = getattr(flow.provider(name), "requests_per_minute", None)
        if limit:
            calls = -(-count // PAGE) + 1  # a page of machines per 100 tasks, and some slack
            pause = max(pause, calls * 60.0 / (limit * RATE_SHARE))
    return len(live), pause


def _watched(flow: Flow, provider: str) -> bool:
    try:
        return bool(getattr(flow.provider(provider), "needs_keeper", False))
    except FlowError:  # a provider this keeper cannot build is left to `flow status`
        return False


def _write_state(
    home: Path, started: datetime, polls: int, live: int, unanswered: dict[str, str]
) -> None:
    state: KeeperState = {
        "pid": os.getpid(),
        "started_at": started.isoformat(),
        "last_poll_at": _now().isoformat(),
        "polls": polls,
        "live_tasks": live,
        "unanswered": unanswered,
    }
    write_private(home / STATE, json.dumps(state).encode())


def _now() -> datetime:
    return datetime.now(timezone.utc)


def main() -> int:
    config = FlowConfig.model_validate(json.loads(sys.stdin.read()))
    interval = float(os.environ.get("FLOW_KEEPER_INTERVAL_S", INTERVAL_S))
    idle_s = float(os.environ.get("FLOW_KEEPER_IDLE_S", IDLE_S))
    return run_keeper(config, interval=interval, idle_s=idle_s)


if __name__ == "__main__":
    sys.exit(main())
