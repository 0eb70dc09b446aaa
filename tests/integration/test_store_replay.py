"""The Hyperstack pattern replayed by many processes: a second TaskStore opened and closed on the
same file, in the same process, while the first is still in use.

Before the store shared one connection per file per process, opening the second store did
``os.open`` + ``os.close`` on the database file, which drops the POSIX locks SQLite holds for the
process's first connection; another process then believed it was alone, checkpointed and deleted
the WAL under the first connection, and rows that ``add()`` had returned were lost (with
``disk I/O error`` and a failing ``PRAGMA integrity_check``).
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import sys
import traceback
from pathlib import Path
from typing import Any

import pytest

from flowlib.core.store import TaskRecord, TaskStore
from flowlib.models import TaskConfig

PROCESSES = 60
ROWS_EACH = 10
CONFIG = TaskConfig(command=["true"])


def _replay(path: str, n: int, ids_file: str, barriers: Any, results: Any) -> None:
    """Add rows, opening and closing a second store on the same file after the first one; half
    the processes close their first store (their last connection) while the others hold theirs,
    and open a new one."""
    try:
        # Every id goes to our own file as soon as add() returned: the claim to check later.
        with open(ids_file, "a") as log:

            def add(store: TaskStore, i: int) -> None:
                task_id = f"task-{n:06x}{i:06x}"
                store.add(TaskRecord(task_id=task_id, name=f"p{n}", provider="x", config=CONFIG))
                log.write(task_id + "\n")
                log.flush()
                if i % 3 == 0:  # what the Hyperstack provider's _record_intent does per VM
                    with TaskStore(Path(path), timeout=30.0) as second:
                        second.count()

            store = TaskStore(Path(path), timeout=30.0)
            add(store, 0)
            barriers[0].wait(timeout=60)
            if n % 2:
                store.close()
                store = TaskStore(Path(path), timeout=30.0)
            barriers[1].wait(timeout=60)
            for i in range(1, ROWS_EACH):
                add(store, i)
            store.close()
        results.put((n, "ok"))
    except BaseException:
        results.put((n, traceback.format_exc()))


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method: 60 spawns are slow")
def test_second_store_in_the_same_process_loses_no_row(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with TaskStore(path) as store:
        assert store.count() == 0
    ctx = multiprocessing.get_context("fork")
    barriers = (ctx.Barrier(PROCESSES), ctx.Barrier(PROCESSES))
    results = ctx.Queue()
    ids = [tmp_path / f"ids-{n}" for n in range(PROCESSES)]
    procs = [
        ctx.Process(target=_replay, args=(str(path), n, str(ids[n]), barriers, results))
        for n in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=100) for _ in procs)
    for p in procs:
        p.join(30)

    claimed = {line for f in ids if f.exists() for line in f.read_text().split()}
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        stored = {r[0] for r in raw.execute("SELECT task_id FROM tasks")}
    raw.close()
    assert sorted(claimed - stored) == [], "rows whose add() returned are gone"
    failures = {n: out for n, out in outcomes.items() if out != "ok"}
    assert failures == {}, "\n".join(failures.values())
    assert len(stored) == PROCESSES * ROWS_EACH
