"""How fast the task store answers over a large history (100,000 tasks by default).

    python benchmarks/bench_store.py [--rows N] [--runs N] [--path DIR]

Fills a fresh store in one bulk transaction (one TaskConfig JSON reused for every row; ids from
:func:`new_task_id`, so the id index grows in random order as it does in real use), reopens it
through :class:`TaskStore`, and times each operation as the median (and p95) of many runs.
Prints a Markdown table; :func:`run` returns the rows for aggregation by other scripts.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from flowlib.core.store import _INSERT, TaskRecord, TaskStore, _encode_record, new_task_id
from flowlib.errors import TaskNotFoundError, ValidationError
from flowlib.models import TaskConfig, TaskStatus

NAMES = 1000  # distinct task names: each name is reused ~rows/NAMES times
T0 = datetime(2023, 1, 1, tzinfo=timezone.utc)
# A history that is mostly finished, with a few live tasks, as a long-used machine would have.
STATUS_MIX = (
    [TaskStatus.COMPLETED] * 90
    + [TaskStatus.FAILED] * 5
    + [TaskStatus.CANCELLED] * 3
    + [TaskStatus.RUNNING]
    + [TaskStatus.PENDING]
)


def fill(path: Path, rows: int, *, seed: int = 0) -> list[str]:
    """Create a store at ``path`` holding ``rows`` tasks; return their ids in insertion order."""
    rng = random.Random(seed)
    TaskStore(path).close()  # the schema, exactly as the store makes it
    config = TaskConfig(
        command=["python", "train.py", "--epochs", "10"],
        env={"WANDB_PROJECT": "bench", "SEED": "0"},
        instance_type="8xh100",
    )
    template = _encode_record(
        TaskRecord(
            task_id="task-000000000000",
            name="x",
            provider="mithril",
            config=config,
            provider_data={"bid_id": "bid_0123456789", "region": "us-central1-b"},
            instance_type="8xh100",
        )
    )
    ids: list[str] = []
    batch: list[tuple[Any, ...]] = []
    for i in range(rows):
        task_id = new_task_id()
        ids.append(task_id)
        created = (T0 + timedelta(seconds=30 * i)).isoformat(timespec="microseconds")
        status = rng.choice(STATUS_MIX).value
        row = list(template)
        row[0], row[1], row[4], row[5], row[6] = (
            task_id,
            f"job-{i % NAMES:04d}",
            status,
            created,
            created,
        )
        row[2] = "local" if i % 4 == 0 else "mithril"
        batch.append(tuple(row))
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a benchmark fixture, not a record to keep
        conn.execute("BEGIN")
        conn.executemany(_INSERT, batch)
        conn.execute("COMMIT")
    finally:
        conn.close()
    return ids


def _time(fn: Callable[[int], object], runs: int) -> tuple[float, float]:
    """Median and p95 of ``fn(i)`` in milliseconds, after warm-up calls ``fn(runs .. runs+4)``
    (distinct arguments: ``add`` needs a fresh id every call)."""
    for i in range(runs, runs + 5):
        fn(i)
    samples = []
    for i in range(runs):
        start = time.perf_counter_ns()
        fn(i)
        samples.append((time.perf_counter_ns() - start) / 1e6)
    samples.sort()
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def run(rows: int = 100_000, runs: int = 300, path: Path | None = None) -> list[dict[str, Any]]:
    """Fill a store with ``rows`` tasks and time each operation; one dict per operation with
    ``operation``, ``median_ms``, ``p95_ms``, ``runs`` and ``rows``."""
    with tempfile.TemporaryDirectory() as tmp:
        db = (path or Path(tmp)) / "tasks.db"
        if db.exists():
            raise SystemExit(f"{db} exists; give an empty directory")
        started = time.perf_counter()
        ids = fill(db, rows)
        fill_s = time.perf_counter() - started
        rng = random.Random(1)
        sample = [rng.choice(ids) for _ in range(runs + 5)]
        # 8 hex digits: unique among 100,000 random 48-bit ids in all but a handful of cases.
        prefixes = [i[5:13] for i in sample]
        names = [f"job-{rng.randrange(NAMES):04d}" for _ in range(runs + 5)]
        results: list[dict[str, Any]] = [
            {
                "operation": f"fill {rows:,} rows (bulk, one transaction)",
                "median_ms": fill_s * 1000,
                "p95_ms": fill_s * 1000,
                "runs": 1,
                "rows": rows,
            }
        ]

        def prefix_resolve(i: int) -> None:
            with contextlib.suppress(
                ValidationError
            ):  # a rare clash of 8 digits: timed all the same
                store.resolve(prefixes[i])

        def not_found(i: int) -> None:
            with contextlib.suppress(TaskNotFoundError):
                store.resolve(f"nosuch-{i}")

        def ambiguous(i: int) -> None:
            with contextlib.suppress(ValidationError):
                store.resolve(f"{i % 16:x}")  # ~6,000 matches each

        live = [TaskStatus.PENDING, TaskStatus.RUNNING]
        fresh = [new_task_id() for _ in range(runs + 5)]
        config = TaskConfig(command=["python", "train.py"])

        def add(i: int) -> None:
            store.add(
                TaskRecord(task_id=fresh[i], name="bench-add", provider="local", config=config)
            )

        with TaskStore(db) as store:
            operations: list[tuple[str, Callable[[int], object]]] = [
                ("get(task_id)", lambda i: store.get(sample[i])),
                ("resolve(8-digit id prefix)", prefix_resolve),
                ("resolve(name), most recent of ~100", lambda i: store.resolve(names[i])),
                ("resolve(full id)", lambda i: store.resolve(sample[i])),
                ("list(limit=100)", lambda i: store.list(limit=100)),
                ("list(limit=100, offset=1000)", lambda i: store.list(limit=100, offset=1000)),
                (
                    "list(status=[running], limit=100)",
                    lambda i: store.list(status=[TaskStatus.RUNNING]),
                ),
                ("list(status=[pending, running], limit=100)", lambda i: store.list(status=live)),
                ("list(name=..., limit=100)", lambda i: store.list(name=names[i])),
                ("count()", lambda i: store.count()),
                ("count(status=[running])", lambda i: store.count(status=[TaskStatus.RUNNING])),
                ("resolve, ambiguous 1-digit prefix (error)", ambiguous),
                ("resolve, not found (error + suggestions)", not_found),
                ("add (durable commit)", add),
                (
                    "update(status=...) (durable commit)",
                    lambda i: store.update(sample[i], status="running"),
                ),
            ]
            for label, fn in operations:
                median, p95 = _time(fn, runs)
                results.append(
                    {
                        "operation": label,
                        "median_ms": median,
                        "p95_ms": p95,
                        "runs": runs,
                        "rows": rows,
                    }
                )
    return results


def markdown(results: list[dict[str, Any]]) -> str:
    lines = ["| operation | median (ms) | p95 (ms) | runs |", "|---|---:|---:|---:|"]
    for r in results:
        lines.append(
            f"| {r['operation']} | {r['median_ms']:.3f} | {r['p95_ms']:.3f} | {r['runs']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument(
        "--path", type=Path, default=None, help="an empty directory (default: temp)"
    )
    args = parser.parse_args()
    print(f"task store, {args.rows:,} tasks, sqlite {sqlite3.sqlite_version}\n")
    print(markdown(run(args.rows, args.runs, args.path)))


if __name__ == "__main__":
    main()
