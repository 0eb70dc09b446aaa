"""The task store shared by real processes: no lost writes, no raw "database is locked", and a
lock held elsewhere surfaces as a StoreError after the timeout."""

from __future__ import annotations

import multiprocessing
import subprocess
import sys
import textwrap
import time
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from flowlib.core.store import TaskRecord, TaskStore
from flowlib.errors import StoreError
from flowlib.models import TaskConfig, TaskStatus

WORKERS = 6
TASKS_EACH = 40


def _worker(path: str, worker: int, barrier: Any, results: Any) -> None:
    """Add TASKS_EACH tasks, move each through running to completed, and touch a shared task."""
    try:
        config = TaskConfig(command=["python", "-c", f"print({worker})"])
        with TaskStore(Path(path), timeout=30.0) as store:
            barrier.wait(timeout=60)
            for i in range(TASKS_EACH):
                task_id = f"task-{worker:04x}{i:08x}"
                store.add(
                    TaskRecord(task_id=task_id, name=f"w{worker}", provider="local", config=config)
                )
                store.update(task_id, status=TaskStatus.RUNNING, provider_data={"pid": worker})
                # Everyone writes the same row too: the hottest contention there is.
                store.update("task-shared000000", message=f"{worker}-{i}")
                store.update(task_id, status=TaskStatus.COMPLETED, exit_code=worker + i)
                store.list(limit=20)
                assert store.resolve(task_id[5:]).task_id == task_id
        results.put((worker, "ok"))
    except BaseException:
        results.put((worker, traceback.format_exc()))


def test_processes_adding_and_updating_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with TaskStore(path) as store:
        store.add(
            TaskRecord(
                task_id="task-shared000000",
                name="shared",
                provider="local",
                config=TaskConfig(command=["true"]),
            )
        )
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_worker, args=(str(path), w, barrier, results)) for w in range(WORKERS)
    ]
    for p in procs:
        p.start()
    outcomes = dict(results.get(timeout=110) for _ in procs)
    for p in procs:
        p.join(30)
    failures = {w: out for w, out in outcomes.items() if out != "ok"}
    assert failures == {}, "\n".join(failures.values())
    assert all(p.exitcode == 0 for p in procs)

    with TaskStore(path) as store:
        assert store.count() == WORKERS * TASKS_EACH + 1
        assert store.count(status=[TaskStatus.COMPLETED]) == WORKERS * TASKS_EACH
        for w in range(WORKERS):
            mine = store.list(name=f"w{w}", limit=1000)
            assert len(mine) == TASKS_EACH
            for rec in mine:
                i = int(rec.task_id[-8:], 16)
                # The last update of each task won, and the earlier ones were not undone by it.
                assert rec.exit_code == w + i
                assert rec.provider_data == {"pid": w}
                assert rec.status is TaskStatus.COMPLETED
        shared = store.get("task-shared000000")
        assert shared.message is not None and shared.message.endswith(f"-{TASKS_EACH - 1}")


_HOLD_LOCK = textwrap.dedent(
    """
    import sqlite3, sys
    conn = sqlite3.connect(sys.argv[1], isolation_level=None)
    conn.execute("BEGIN EXCLUSIVE")
    print("locked", flush=True)
    sys.stdin.read()  # hold the lock until the test closes our stdin
    conn.execute("ROLLBACK")
    """
)


@contextmanager
def _lock_held_elsewhere(path: Path) -> Iterator[None]:
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
        yield
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(10)


def _record(task_id: str) -> TaskRecord:
    return TaskRecord(
        task_id=task_id, name="x", provider="local", config=TaskConfig(command=["true"])
    )


def test_lock_held_by_another_process_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with TaskStore(path) as store:
        store.add(_record("task-000000000001"))

    with _lock_held_elsewhere(path), TaskStore(path, timeout=0.3) as store:
        started = time.monotonic()
        with pytest.raises(StoreError) as info:
            store.add(_record("task-000000000002"))
        waited = time.monotonic() - started
        assert "another flow process" in info.value.message
        assert str(path) in info.value.message
        assert info.value.error_code == "store_locked"
        assert 0.25 <= waited < 5
        with pytest.raises(StoreError, match="another flow process"):
            store.update("task-000000000001", status=TaskStatus.RUNNING)
        # WAL: readers are not blocked by the writer.
        assert store.get("task-000000000001").status is TaskStatus.PENDING
        assert store.count() == 1

    # Released: nothing half-written, and the same store works again.
    with TaskStore(path, timeout=0.3) as store:
        assert store.count() == 1
        store.add(_record("task-000000000002"))
        assert store.update("task-000000000001", status="running").status is TaskStatus.RUNNING
        assert store.count() == 2


def test_lock_on_a_new_file_makes_opening_a_store_error(tmp_path: Path) -> None:
    # A file another process created and holds before any flow store set it up (no WAL yet):
    # waited for like any writer, then refused while it stays locked.
    path = tmp_path / "tasks.db"
    with _lock_held_elsewhere(path), pytest.raises(StoreError, match="another flow process"):
        TaskStore(path, timeout=0.3)
    # Released, and still empty: not a flow store (flowlib never leaves a 0-byte file).
    with pytest.raises(StoreError) as info:
        TaskStore(path)
    assert info.value.error_code == "store_empty"
    path.unlink()
    with TaskStore(path) as store:
        assert store.count() == 0


def _open_and_add(path: str, n: int, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=60)
        # Everyone creates the schema of a brand-new file at the same moment.
        with TaskStore(Path(path), timeout=30.0) as store:
            store.add(_record(f"task-{n:012x}"))
        results.put("ok")
    except BaseException:
        results.put(traceback.format_exc())


def test_processes_creating_the_store_at_once(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "tasks.db"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(WORKERS)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_open_and_add, args=(str(path), n, barrier, results))
        for n in range(WORKERS)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=110) for _ in procs]
    for p in procs:
        p.join(30)
    assert [o for o in outcomes if o != "ok"] == []
    with TaskStore(path) as store:
        assert store.count() == WORKERS
