"""The local task store: round trips, lookup rules, listing, and every failure as a FlowError."""

from __future__ import annotations

import multiprocessing
import os
import sqlite3
import stat
import sys
import tempfile
import threading
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowlib.core.store import TaskRecord, TaskStore, new_task_id
from flowlib.errors import StoreError, TaskNotFoundError, ValidationError
from flowlib.models import MountSpec, TaskConfig, TaskStatus, VolumeSpec

T0 = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
CONFIG = TaskConfig(command="python train.py --lr 3", env={"SEED": "1"})


def record(
    task_id: str | None = None,
    *,
    name: str = "train",
    minutes: int = 0,
    provider: str = "local",
    status: TaskStatus = TaskStatus.PENDING,
    **kw: Any,
) -> TaskRecord:
    created = T0 + timedelta(minutes=minutes)
    return TaskRecord(
        task_id=task_id or new_task_id(),
        name=name,
        provider=provider,
        config=CONFIG,
        status=status,
        created_at=created,
        updated_at=created,
        **kw,
    )


@pytest.fixture
def store(tmp_path: Path) -> Iterator[TaskStore]:
    with TaskStore(tmp_path / "home" / "tasks.db", timeout=2.0) as s:
        yield s


# -- ids and records -------------------------------------------------------------------------------


def test_new_task_id_shape_and_uniqueness() -> None:
    ids = {new_task_id() for _ in range(2000)}
    assert len(ids) == 2000
    for task_id in ids:
        assert task_id.startswith("task-")
        assert len(task_id) == 17
        assert set(task_id[5:]) <= set("0123456789abcdef")


def test_record_rejects_naive_datetimes_and_normalises_to_utc() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        record(started_at=datetime(2024, 1, 1))
    plus2 = timezone(timedelta(hours=2))
    rec = record(started_at=datetime(2024, 1, 1, 14, 0, tzinfo=plus2), status="running")  # type: ignore[arg-type]
    assert rec.started_at == datetime(2024, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert rec.started_at.tzinfo == timezone.utc
    assert rec.status is TaskStatus.RUNNING


def test_default_timestamps_are_utc_and_ordered() -> None:
    rec = TaskRecord(task_id=new_task_id(), name="a", provider="local", config=CONFIG)
    assert rec.created_at.tzinfo == timezone.utc
    assert rec.updated_at >= rec.created_at


# -- add / get / update --------------------------------------------------------------------------


def test_add_get_round_trip_keeps_every_field(store: TaskStore) -> None:
    config = TaskConfig(
        name="big-run",
        shell="torchrun train.py",
        env={"WANDB_PROJECT": "x", "EMPTY": ""},
        volumes=[VolumeSpec(size_gb=100, mount_path="/data")],
        data_mounts=[MountSpec(source="s3://bucket/ds", target="/ds", mount_type="s3fs")],
        max_price_per_hour=2.5,
        code_dir=Path("/src/proj"),
        instance_type="8xh100",
    )
    rec = TaskRecord(
        task_id=new_task_id(),
        name="big-run",
        provider="mithril",
        config=config,
        status=TaskStatus.RUNNING,
        created_at=T0,
        updated_at=T0 + timedelta(seconds=1),
        started_at=T0 + timedelta(seconds=30),
        completed_at=None,
        exit_code=None,
        provider_state="STATUS_RUNNING",
        message="allocated in us-east",
        provider_data={"bid_id": "bid_123", "nodes": [1, 2], "nested": {"a": None, "b": 1.5}},
        cancel_requested=True,
        instance_type="8xh100",
    )
    store.add(rec)
    got = store.get(rec.task_id)
    assert got == rec
    assert got.config == config
    assert got.config.code_dir == Path("/src/proj")
    assert got.created_at.tzinfo == timezone.utc
    assert got is not rec


def test_config_is_stored_as_its_json(store: TaskStore) -> None:
    rec = record()
    store.add(rec)
    with sqlite3.connect(store.path) as raw:
        (text,) = raw.execute(
            "SELECT config FROM tasks WHERE task_id = ?", (rec.task_id,)
        ).fetchone()
    assert TaskConfig.model_validate_json(text) == CONFIG


def test_add_duplicate_id_raises_store_error_and_keeps_the_first(store: TaskStore) -> None:
    first = record("task-000000000001", name="first")
    store.add(first)
    with pytest.raises(StoreError, match="already in the task store") as info:
        store.add(record("task-000000000001", name="second"))
    assert info.value.error_code == "store_duplicate"
    assert store.get("task-000000000001").name == "first"
    assert store.count() == 1


def test_add_unserialisable_provider_data_writes_nothing(store: TaskStore) -> None:
    with pytest.raises(ValueError, match="JSON"):
        store.add(record(provider_data={"when": datetime.now()}))
    with pytest.raises(ValueError, match="JSON"):
        store.add(record(provider_data={"x": float("nan")}))
    assert store.count() == 0


def test_get_unknown_suggests_flow_status_and_close_ids(store: TaskStore) -> None:
    store.add(record("task-abcdef123456"))
    with pytest.raises(TaskNotFoundError) as info:
        store.get("task-abcdef123457")
    err = info.value
    assert "task-abcdef123457" in err.message
    assert any("flow status" in s for s in err.suggestions)
    assert any("task-abcdef123456" in s for s in err.suggestions)


def test_update_changes_fields_bumps_updated_at_and_persists(store: TaskStore) -> None:
    rec = record(provider_data={"pid": 1})
    store.add(rec)
    done = T0 + timedelta(hours=1)
    new = store.update(
        rec.task_id,
        status=TaskStatus.COMPLETED,
        exit_code=0,
        completed_at=done,
        provider_state="exited",
        provider_data={"pid": 1, "start_ticks": (5, 6)},
        cancel_requested=True,
    )
    assert new.status is TaskStatus.COMPLETED
    assert new.exit_code == 0
    assert new.completed_at == done
    assert new.updated_at > rec.updated_at
    # What update returns is what get returns (the tuple came back as JSON gives it).
    assert new.provider_data == {"pid": 1, "start_ticks": [5, 6]}
    assert store.get(rec.task_id) == new
    # Untouched fields are kept.
    assert new.config == CONFIG and new.name == rec.name and new.created_at == rec.created_at


def test_update_status_as_string_and_clearing_a_field(store: TaskStore) -> None:
    rec = record(message="hello", exit_code=3)
    store.add(rec)
    new = store.update(rec.task_id, status="failed", message=None)
    assert new.status is TaskStatus.FAILED
    assert new.message is None
    assert new.exit_code == 3


def test_updated_at_moves_forward_on_every_update(store: TaskStore) -> None:
    # created in the future: the clock alone would move updated_at backwards.
    future = datetime.now(timezone.utc) + timedelta(days=1)
    rec = record()
    rec.updated_at = future
    store.add(rec)
    stamps = [store.update(rec.task_id, message=str(i)).updated_at for i in range(5)]
    assert stamps[0] > future
    assert stamps == sorted(stamps) and len(set(stamps)) == 5


@pytest.mark.parametrize("bad", ["colour", "task_id", "created_at", "updated_at"])
def test_update_of_unknown_or_fixed_field_raises_and_changes_nothing(
    store: TaskStore, bad: str
) -> None:
    rec = record()
    store.add(rec)
    with pytest.raises(ValueError, match=bad):
        store.update(rec.task_id, status=TaskStatus.RUNNING, **{bad: "x"})
    assert store.get(rec.task_id) == rec


def test_update_with_bad_value_changes_nothing(store: TaskStore) -> None:
    rec = record()
    store.add(rec)
    with pytest.raises(ValueError):
        store.update(rec.task_id, status="exploded")
    with pytest.raises(ValueError, match="timezone-aware"):
        store.update(rec.task_id, started_at=datetime(2024, 1, 1))
    with pytest.raises(TypeError):
        store.update(rec.task_id, config={"command": ["x"]})
    assert store.get(rec.task_id) == rec


def test_update_unknown_task_raises_not_found(store: TaskStore) -> None:
    with pytest.raises(TaskNotFoundError):
        store.update("task-ffffffffffff", status=TaskStatus.RUNNING)


# -- resolve -------------------------------------------------------------------------------------


def test_resolve_exact_id_prefix_and_bare_prefix(store: TaskStore) -> None:
    store.add(record("task-1a2b3c4d5e6f"))
    store.add(record("task-99aa00000000"))
    assert store.resolve("task-1a2b3c4d5e6f").task_id == "task-1a2b3c4d5e6f"
    assert store.resolve("task-1a2").task_id == "task-1a2b3c4d5e6f"
    assert store.resolve("1a2b").task_id == "task-1a2b3c4d5e6f"
    assert store.resolve("1A2B").task_id == "task-1a2b3c4d5e6f"  # ids are lowercase
    assert store.resolve("  99a ").task_id == "task-99aa00000000"


def test_resolve_name_picks_the_most_recent(store: TaskStore) -> None:
    store.add(record(name="train", minutes=0))
    newest = record(name="train", minutes=10)
    store.add(newest)
    store.add(record(name="train", minutes=5))
    store.add(record(name="eval", minutes=20))
    assert store.resolve("train").task_id == newest.task_id


def test_resolve_ambiguous_prefix_lists_up_to_five(store: TaskStore) -> None:
    for i in range(8):
        store.add(record(f"task-abc{i:09d}", minutes=i))
    with pytest.raises(ValidationError) as info:
        store.resolve("abc")
    err = info.value
    assert "ambiguous" in err.message and "8 tasks" in err.message
    listed = [s for s in err.suggestions if s.startswith("task-abc")]
    assert len(listed) == 5
    assert listed[0].startswith("task-abc000000007")  # newest first
    assert any("more characters" in s for s in err.suggestions)


def test_resolve_name_that_is_also_another_tasks_prefix_is_ambiguous(store: TaskStore) -> None:
    # "cafe" names one task and is the id prefix of another: refuse to guess.
    named = record("task-000000000001", name="cafe")
    other = record("task-cafe00000001", name="other")
    store.add(named)
    store.add(other)
    with pytest.raises(ValidationError, match="ambiguous"):
        store.resolve("cafe")
    # The prefix of the named task itself is no conflict.
    store.add(record("task-beef00000001", name="beef"))
    assert store.resolve("beef").task_id == "task-beef00000001"


def test_resolve_partial_task_word_is_not_an_id_prefix(store: TaskStore) -> None:
    store.add(record("task-111111111111", name="a"))
    store.add(record("task-222222222222", name="t"))
    # "t" would prefix-match every "task-..." id; it is only a name here.
    assert store.resolve("t").task_id == "task-222222222222"
    with pytest.raises(TaskNotFoundError):
        store.resolve("task-")


def test_resolve_not_found_suggests_close_names(store: TaskStore) -> None:
    store.add(record(name="finetune-llama"))
    with pytest.raises(TaskNotFoundError) as info:
        store.resolve("finetune-lama")
    assert any("finetune-llama" in s for s in info.value.suggestions)
    assert any("flow status" in s for s in info.value.suggestions)
    with pytest.raises(ValidationError):
        store.resolve("   ")


def test_resolve_non_ascii_ref_is_only_a_name(store: TaskStore) -> None:
    with pytest.raises(TaskNotFoundError):
        store.resolve("tâche\U0010ffff")


# -- list / count --------------------------------------------------------------------------------


@pytest.fixture
def filled(store: TaskStore) -> TaskStore:
    statuses = [TaskStatus.PENDING, TaskStatus.RUNNING, TaskStatus.COMPLETED, TaskStatus.FAILED]
    for i in range(20):
        store.add(
            record(
                f"task-{i:012x}",
                name=f"job{i % 3}",
                minutes=i,
                provider="local" if i % 2 else "mithril",
                status=statuses[i % 4],
            )
        )
    return store


def test_list_is_newest_first_with_paging(filled: TaskStore) -> None:
    everything = filled.list()
    assert [r.task_id for r in everything] == [f"task-{i:012x}" for i in reversed(range(20))]
    page = filled.list(limit=5, offset=5)
    assert [r.task_id for r in page] == [f"task-{i:012x}" for i in (14, 13, 12, 11, 10)]
    assert filled.list(limit=5, offset=100) == []
    assert filled.list(limit=0) == []
    with pytest.raises(ValueError):
        filled.list(limit=-1)


def test_list_ties_on_created_at_keep_insertion_order(store: TaskStore) -> None:
    ids = [new_task_id() for _ in range(5)]
    for task_id in ids:
        store.add(record(task_id, minutes=0))
    assert [r.task_id for r in store.list()] == list(reversed(ids))


def test_list_filters(filled: TaskStore) -> None:
    running = filled.list(status=[TaskStatus.RUNNING])
    assert running and all(r.status is TaskStatus.RUNNING for r in running)
    active = filled.list(status=[TaskStatus.PENDING, "running"])
    assert len(active) == 10
    assert [r.created_at for r in active] == sorted((r.created_at for r in active), reverse=True)
    assert all(r.provider == "local" for r in filled.list(provider="local"))
    assert [r.task_id for r in filled.list(name="job0", provider="mithril")] == [
        f"task-{i:012x}" for i in (18, 12, 6, 0)
    ]
    assert filled.list(status=[]) == []
    assert filled.list(provider="nope") == []
    with pytest.raises(ValueError):
        filled.list(status=["bogus"])


def test_count(filled: TaskStore) -> None:
    assert filled.count() == 20
    assert filled.count(status=[TaskStatus.COMPLETED]) == 5
    assert filled.count(status=[TaskStatus.COMPLETED, TaskStatus.FAILED]) == 10
    assert filled.count(provider="local") == 10
    assert filled.count(status=[TaskStatus.RUNNING], provider="local") == 5
    assert filled.count(name="job1") == 7
    assert filled.count(status=[]) == 0


# -- files, failures -----------------------------------------------------------------------------


def test_creates_private_directory_and_file(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "home" / "tasks.db"
    with TaskStore(path):
        pass
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert raw.execute("PRAGMA user_version").fetchone()[0] == TaskStore.SCHEMA_VERSION


def test_at_home(tmp_path: Path) -> None:
    with TaskStore.at_home(tmp_path) as s:
        assert s.path == tmp_path / "tasks.db"
        s.add(record())
    with TaskStore.at_home(tmp_path) as again:
        assert again.count() == 1


def test_corrupt_file_names_the_path_and_suggests_moving_it(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    path.write_bytes(os.urandom(4096))
    with pytest.raises(StoreError) as info:
        TaskStore(path)
    err = info.value
    assert str(path) in err.message
    assert err.error_code == "store_corrupt"
    assert any("move it aside" in s and str(path) in s for s in err.suggestions)
    assert not isinstance(err.__cause__, sqlite3.Error)


def test_corruption_found_later_is_a_store_error(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with TaskStore(path) as s:
        for i in range(300):
            s.add(record(message="x" * 200, minutes=i))
    data = bytearray(path.read_bytes())
    # Keep the header (so the file opens) and wreck the pages after it.
    data[4096:] = os.urandom(len(data) - 4096)
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as info, TaskStore(path) as s:
        s.list(limit=1000)
        s.add(record())
    assert str(path) in info.value.message


def test_newer_schema_is_refused_with_upgrade_hint(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with TaskStore(path) as s:
        s.add(record())
    with sqlite3.connect(path) as raw:
        raw.execute(f"PRAGMA user_version = {TaskStore.SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError) as info:
        TaskStore(path)
    assert info.value.error_code == "store_schema_newer"
    assert any("upgrade flowlib" in s for s in info.value.suggestions)
    assert str(path) in info.value.message


def test_foreign_sqlite_file_is_refused_not_migrated(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE notes (body TEXT)")
    with pytest.raises(StoreError, match="not a flow task store"):
        TaskStore(path)
    with sqlite3.connect(path) as raw:
        assert raw.execute("PRAGMA user_version").fetchone()[0] == 0
        tables = {r[0] for r in raw.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    assert tables == {"notes"}


def test_parent_that_is_a_file_is_unwritable(tmp_path: Path) -> None:
    blocker = tmp_path / "home"
    blocker.write_text("not a directory")
    with pytest.raises(StoreError) as info:
        TaskStore(blocker / "tasks.db")
    assert info.value.error_code == "store_unwritable"
    assert str(blocker / "tasks.db") in info.value.message


def test_path_that_is_a_directory_is_a_store_error(tmp_path: Path) -> None:
    (tmp_path / "tasks.db").mkdir()
    with pytest.raises(StoreError):
        TaskStore(tmp_path / "tasks.db")


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_read_only_directory_is_unwritable(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    home.chmod(0o500)
    try:
        with pytest.raises(StoreError) as info:
            TaskStore(home / "tasks.db")
        assert info.value.error_code == "store_unwritable"
    finally:
        home.chmod(0o700)


def test_closed_store_raises_store_error(tmp_path: Path) -> None:
    s = TaskStore(tmp_path / "tasks.db")
    with s:
        s.add(record())
    s.close()  # idempotent
    with pytest.raises(StoreError, match="closed"):
        s.count()


def test_negative_timeout_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError):
        TaskStore(tmp_path / "tasks.db", timeout=-1)


def test_unreadable_config_row_names_the_task(store: TaskStore) -> None:
    rec = record()
    store.add(rec)
    with sqlite3.connect(store.path) as raw:
        raw.execute("UPDATE tasks SET config = '{\"frobnicate\": 1}'")
    with pytest.raises(StoreError) as info:
        store.get(rec.task_id)
    assert rec.task_id in info.value.message


# -- threads, fork ---------------------------------------------------------------------------------


def test_one_store_shared_by_threads(store: TaskStore) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(25):
                rec = record(name=f"t{n}", minutes=i)
                store.add(rec)
                store.update(rec.task_id, status=TaskStatus.RUNNING, message=f"{n}-{i}")
                store.list(limit=10)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert store.count() == 200
    assert store.count(status=[TaskStatus.RUNNING]) == 200


def _use_inherited_store(store: TaskStore, queue: Any) -> None:
    rec = record(name="from-child")
    store.add(rec)
    queue.put(store.get(rec.task_id).name)


@pytest.mark.skipif(sys.platform != "linux", reason="fork start method")
def test_store_inherited_across_fork_reopens_in_child(store: TaskStore) -> None:
    store.add(record(name="from-parent"))
    ctx = multiprocessing.get_context("fork")
    queue = ctx.Queue()
    proc = ctx.Process(target=_use_inherited_store, args=(store, queue))
    proc.start()
    assert queue.get(timeout=20) == "from-child"
    proc.join(20)
    assert proc.exitcode == 0
    # The parent's connection is untouched and sees the child's write.
    assert {r.name for r in store.list()} == {"from-parent", "from-child"}


# -- properties ----------------------------------------------------------------------------------

_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    provider_data=st.dictionaries(st.text(max_size=10), _json, max_size=5),
    message=st.none() | st.text(max_size=200),
    name=st.text(min_size=1, max_size=40),
    offset_s=st.integers(-(10**9), 10**9),
)
def test_round_trip_property(
    provider_data: dict[str, Any], message: str | None, name: str, offset_s: int
) -> None:
    with tempfile.TemporaryDirectory() as tmp, TaskStore(Path(tmp) / "tasks.db") as s:
        rec = record(
            name=name,
            provider_data=provider_data,
            message=message,
            started_at=T0 + timedelta(seconds=offset_s, microseconds=7),
        )
        s.add(rec)
        assert s.get(rec.task_id) == rec
        assert s.resolve(rec.task_id) == rec


# -- one connection per file per process ------------------------------------------------------


def _our_locks(path: Path) -> list[str]:
    """This process's POSIX locks on ``path`` (Linux /proc/locks), without each line's ordinal
    (``6:``), which moves as other processes take and drop locks."""
    ino = path.stat().st_ino
    pid = os.getpid()
    with open("/proc/locks") as locks:
        ours = [line for line in locks if f":{ino} " in line and f" {pid} " in line.split("->")[-1]]
    return [line.split(":", 1)[1].strip() for line in ours]


def test_handles_on_one_file_share_one_connection(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    (tmp_path / "link").symlink_to(tmp_path)
    first = TaskStore(path)
    second = TaskStore(tmp_path / "link" / "tasks.db")
    db = first._db
    assert second._db is db and db.refs == 2
    rec = record()
    second.add(rec)
    second.close()
    second.close()  # idempotent: gives back one reference only
    assert db.refs == 1
    assert first.get(rec.task_id) == rec
    with pytest.raises(StoreError, match="closed"):
        second.count()
    first.close()
    assert db.refs == 0 and db.conn is None
    with TaskStore(path) as again:  # a fresh connection once the last handle went
        assert again._db is not db and again.count() == 1


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="needs /proc/locks")
def test_a_second_handle_keeps_the_first_connections_locks(tmp_path: Path) -> None:
    # The defect: opening a second store did os.open + os.close on the file, which drops every
    # POSIX lock this process holds on it, so another process could delete the WAL under us.
    path = tmp_path / "tasks.db"
    with TaskStore(path) as store:
        store.count()
        held = _our_locks(path)
        assert held, "SQLite holds a shared lock on a WAL database while connected"
        for _ in range(3):
            with TaskStore(path) as other:
                other.count()
            assert _our_locks(path) == held
        store.add(record())
        assert _our_locks(path) == held


def test_a_handle_dropped_without_close_gives_its_reference_back(tmp_path: Path) -> None:
    import gc

    path = tmp_path / "tasks.db"
    with TaskStore(path) as kept:
        TaskStore(path).count()  # never closed
        gc.collect()
        with TaskStore(path) as third:  # the next open gives the dropped one back
            assert third._db is kept._db and kept._db.refs == 2


def test_handles_with_different_timeouts_share_a_connection(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with TaskStore(path, timeout=5) as slow, TaskStore(path, timeout=0.25) as quick:
        quick.count()
        assert quick._db.busy_timeout == 0.25
        slow.count()
        assert slow._db.conn is not None
        assert slow._db.conn.execute("PRAGMA busy_timeout").fetchone()[0] == 5000


# -- creation and refusals ---------------------------------------------------------------------


def test_creation_leaves_only_the_store(tmp_path: Path) -> None:
    home = tmp_path / "home"
    with TaskStore(home / "tasks.db") as s:
        s.add(record())
    assert sorted(p.name for p in home.iterdir()) == ["tasks.db"]
    with open(home / "tasks.db", "rb") as f:
        head = f.read(100)
    assert head[:16] == b"SQLite format 3\x00"
    assert (head[18], head[19]) == (2, 2)  # WAL, recorded in the file itself
    assert int.from_bytes(head[68:72], "big") == 0x666C6F77


def test_threads_creating_the_store_at_once_share_one_file(tmp_path: Path) -> None:
    path = tmp_path / "home" / "tasks.db"
    barrier = threading.Barrier(8)
    stores: list[TaskStore] = []
    errors: list[BaseException] = []

    def open_it() -> None:
        try:
            barrier.wait()
            stores.append(TaskStore(path))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=open_it) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len({id(s._db) for s in stores}) == 1
    for s in stores:
        s.add(record())
        s.close()
    with TaskStore(path) as s:
        assert s.count() == 8


def _refused(path: Path) -> StoreError:
    with pytest.raises(StoreError) as info:
        TaskStore(path)
    err = info.value
    assert str(path) in err.message
    assert err.suggestions
    return err


def test_empty_file_is_refused_not_read_as_a_store_without_tasks(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    path.touch()
    err = _refused(path)
    assert err.error_code == "store_empty"
    assert any("restore it from a backup" in s for s in err.suggestions)
    assert any(f"rm {path}" in s for s in err.suggestions)
    # Left exactly as it was: SQLite never touched it.
    assert path.stat().st_size == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["tasks.db"]


def _filled_store(path: Path, rows: int = 300) -> int:
    with TaskStore(path) as s:
        for i in range(rows):
            s.add(record(message="x" * 200, minutes=i))
    return path.stat().st_size


@pytest.mark.parametrize("keep", [0.5, 4096, 50])
def test_truncated_file_is_refused(tmp_path: Path, keep: float) -> None:
    path = tmp_path / "tasks.db"
    size = _filled_store(path)
    cut = int(size * keep) if keep < 1 else int(keep)
    os.truncate(path, cut)
    err = _refused(path)
    assert err.error_code == "store_truncated"
    assert any("move it aside" in s and f"{path}.truncated" in s for s in err.suggestions)
    assert path.stat().st_size == cut


def test_file_cut_inside_a_page_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    size = _filled_store(path, rows=3)
    with open(path, "ab") as f:
        f.write(b"\0" * 100)  # not a whole page, whatever the header says
    assert path.stat().st_size == size + 100
    assert _refused(path).error_code == "store_truncated"


def test_a_store_whose_wal_holds_the_rest_is_not_truncated(tmp_path: Path) -> None:
    # While a connection is open, new pages live in the WAL: the file is shorter than the
    # database, and that is no truncation. Another process's view is simulated with a raw
    # connection that keeps the WAL from being checkpointed.
    path = tmp_path / "tasks.db"
    _filled_store(path, rows=1)
    raw = sqlite3.connect(path, isolation_level=None)
    try:
        raw.execute("PRAGMA wal_autocheckpoint = 0")
        for i in range(200):
            raw.execute(
                "INSERT INTO tasks (task_id, name, provider, config, status, created_at,"
                " updated_at) VALUES (?, 'x', 'local', ?, 'pending', ?, ?)",
                (f"task-{i:012x}", CONFIG.model_dump_json(), "2024", "2024"),
            )
        assert Path(f"{path}-wal").stat().st_size > path.stat().st_size
        with TaskStore(path) as s:
            assert s.count() == 201
    finally:
        raw.close()


def test_foreign_file_is_refused_before_sqlite_changes_it(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    with sqlite3.connect(path) as raw:
        raw.execute("CREATE TABLE notes (body TEXT)")
    raw.close()
    before = path.read_bytes()
    err = _refused(path)
    assert err.error_code == "store_foreign"
    assert path.read_bytes() == before  # not even switched to WAL
    # An empty SQLite database (no flow schema) is foreign too, not a store to fill in.
    other = tmp_path / "empty.db"
    with sqlite3.connect(other) as raw:
        raw.execute("CREATE TABLE t (x)")
        raw.execute("DROP TABLE t")
    raw.close()
    assert other.stat().st_size > 0
    assert _refused(other).error_code == "store_foreign"


def test_refusals_have_distinct_codes(tmp_path: Path) -> None:
    codes = set()
    for n, content in enumerate([b"", b"SQLite format 3\x00abc", os.urandom(4096)]):
        path = tmp_path / f"{n}.db"
        path.write_bytes(content)
        codes.add(_refused(path).error_code)
    assert codes == {"store_empty", "store_truncated", "store_corrupt"}


# -- update(data=...) and modify ---------------------------------------------------------------


def test_update_data_merges_keys_and_keeps_the_others(store: TaskStore) -> None:
    rec = record(provider_data={"pid": 1, "host": "a"})
    store.add(rec)
    new = store.update(rec.task_id, data={"vm": 7, "host": None}, message="m")
    assert new.provider_data == {"pid": 1, "host": None, "vm": 7}  # None is JSON null, kept
    assert new.message == "m"
    assert store.get(rec.task_id) == new
    # provider_data= still replaces; data given with it merges on top of the new dict.
    new = store.update(rec.task_id, provider_data={"x": 1}, data={"y": 2})
    assert new.provider_data == {"x": 1, "y": 2}
    assert store.update(rec.task_id, provider_data={}).provider_data == {}


def test_update_with_nothing_to_change_writes_nothing(store: TaskStore) -> None:
    rec = record()
    store.add(rec)
    assert store.update(rec.task_id) == rec
    assert store.update(rec.task_id, data={}) == rec
    assert store.get(rec.task_id).updated_at == rec.updated_at


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (["not", "a", "mapping"], TypeError),
        ({1: "int key"}, TypeError),
        ({"f": float("nan")}, ValueError),
        ({"o": object()}, ValueError),
    ],
)
def test_update_with_bad_data_changes_nothing(store: TaskStore, data: Any, error: type) -> None:
    rec = record(provider_data={"pid": 1})
    store.add(rec)
    with pytest.raises(error):
        store.update(rec.task_id, data=data, message="never")
    assert store.get(rec.task_id) == rec


def test_update_data_from_two_handles_in_threads_keeps_every_key(tmp_path: Path) -> None:
    # The lost update the engine suffered: each writer merged into a record it read earlier.
    path = tmp_path / "tasks.db"
    rec = record(provider_data={"base": True})
    with TaskStore(path) as s:
        s.add(rec)
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(who: str) -> None:
        try:
            with TaskStore(path) as handle:
                barrier.wait()
                for i in range(40):
                    handle.update(rec.task_id, data={f"{who}{i}": i})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with TaskStore(path) as s:
        data = s.get(rec.task_id).provider_data
    assert data == {"base": True, **{f"{w}{i}": i for w in "ab" for i in range(40)}}


def test_modify_is_compare_and_set(store: TaskStore) -> None:
    def cancel(t: TaskRecord) -> dict[str, Any] | None:
        return None if t.status.is_terminal else {"status": TaskStatus.CANCELLED}

    running = record(status=TaskStatus.RUNNING)
    done = record(status=TaskStatus.COMPLETED, exit_code=0)
    store.add(running)
    store.add(done)
    assert store.modify(running.task_id, cancel).status is TaskStatus.CANCELLED
    assert store.modify(done.task_id, cancel) == done  # ended: nothing written
    assert store.get(done.task_id) == done
    seen: list[TaskRecord] = []
    after = store.modify(running.task_id, lambda t: seen.append(t) or {"data": {"k": 1}})
    assert seen[0].status is TaskStatus.CANCELLED  # called with the record as stored
    assert after.provider_data == {"k": 1} and after.updated_at > seen[0].updated_at


def test_modify_errors_write_nothing(store: TaskStore) -> None:
    rec = record()
    store.add(rec)

    def boom(t: TaskRecord) -> dict[str, Any]:
        raise RuntimeError("changed my mind")

    with pytest.raises(RuntimeError, match="changed my mind"):
        store.modify(rec.task_id, boom)
    with pytest.raises(ValueError, match="colour"):
        store.modify(rec.task_id, lambda t: {"message": "x", "colour": "red"})
    with pytest.raises(ValueError, match="task_id"):
        store.modify(rec.task_id, lambda t: {"task_id": "task-000000000000"})
    assert store.get(rec.task_id) == rec
    called: list[TaskRecord] = []
    with pytest.raises(TaskNotFoundError):
        store.modify("task-ffffffffffff", lambda t: called.append(t) or {})
    assert called == []
    # The store is usable after each failure: every transaction was rolled back.
    assert store.update(rec.task_id, message="ok").message == "ok"


def test_modify_from_threads_and_handles_never_loses_an_increment(tmp_path: Path) -> None:
    path = tmp_path / "tasks.db"
    rec = record(provider_data={"n": 0})
    with TaskStore(path) as s:
        s.add(rec)
    errors: list[BaseException] = []

    def bump() -> None:
        try:
            with TaskStore(path) as handle:
                for _ in range(25):
                    handle.modify(rec.task_id, lambda t: {"data": {"n": t.provider_data["n"] + 1}})
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=bump) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with TaskStore(path) as s:
        assert s.get(rec.task_id).provider_data == {"n": 150}
