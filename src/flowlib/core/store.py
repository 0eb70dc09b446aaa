"""The local task store: every task flowlib has submitted, in ``FLOW_HOME/tasks.db``.

A task is recorded here *before* a provider is asked to create anything (see
:mod:`flowlib.providers.base`), so a crash between "resource created" and "resource remembered"
cannot happen: at worst the store holds a task whose resources never came to be, which the
provider reconciles on the next ``status``.

Contract
--------
* One SQLite file, shared by every flow process on the machine (CLI invocations, a running
  ``wait``, the Python API). WAL journal, so readers never wait for a writer; every write is one
  short ``BEGIN IMMEDIATE`` transaction, so writers queue on the busy timeout instead of
  deadlocking, and a failed write leaves no partial row.
* Commits are ``synchronous=FULL``: once :meth:`TaskStore.add` returns, the record survives a
  power loss, not only a process crash (a submit is rare; its fsync is cheap next to a cloud call).
* One SQLite connection per database file per process, whatever the number of
  :class:`TaskStore` handles on it (they share it, reference counted; found by the file's identity,
  so a second path to the same file shares it too), guarded by one lock: handles may be shared by
  the threads of a process. flowlib never opens or closes a descriptor on the file while a
  connection of this process may hold it (closing any descriptor drops the SQLite locks of the
  whole process, and another process may then delete the WAL under it). A handle inherited across
  ``fork`` gets a fresh connection in the child.
* A ``tasks.db`` that exists is a complete flow store: it is built in a private temporary file
  (mode 0600 from its first byte) and linked into place, so a crash or a race never leaves half a
  file. A file that is empty (``store_empty``), shorter than its header says (``store_truncated``),
  not SQLite (``store_corrupt``) or another program's SQLite database (``store_foreign``) is
  refused, never read as a store without tasks.
* Read-modify-write happens inside one transaction: :meth:`TaskStore.update` with ``data=``
  merges keys into ``provider_data`` without losing a concurrent writer's keys, and
  :meth:`TaskStore.modify` decides on the record as stored (compare-and-set).
* Every failure the user can meet is a :class:`~flowlib.errors.FlowError`, never a raw
  ``sqlite3`` error: a corrupt or foreign file, a store locked beyond ``timeout``, an unwritable
  directory, a database written by a newer flowlib (all :class:`~flowlib.errors.StoreError`);
  an unknown task (:class:`~flowlib.errors.TaskNotFoundError`); an ambiguous reference
  (:class:`~flowlib.errors.ValidationError`). Programming mistakes (an unknown field given to
  :meth:`TaskStore.update`, a naive datetime) are ``ValueError``/``TypeError``.
* Datetimes are tz-aware UTC. They are stored as fixed-width ISO-8601 strings
  (``2024-05-01T12:00:00.000000+00:00``): they sort as text and stay readable in ``sqlite3``.
* The schema is versioned with ``PRAGMA user_version``; :data:`_MIGRATIONS` takes any older file
  forward on open. A file from a newer flowlib is refused rather than misread.
"""

from __future__ import annotations

import builtins
import dataclasses
import difflib
import json
import secrets
import sqlite3
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from types import TracebackType
from typing import Any, ClassVar, TypeVar

import pydantic

from flowlib.core import _dbfile
from flowlib.errors import FlowError, StoreError, TaskNotFoundError, ValidationError
from flowlib.models import TaskConfig, TaskStatus

__all__ = ["TaskRecord", "TaskStore", "new_task_id"]

_T = TypeVar("_T")

TASK_ID_PREFIX = "task-"
# "flow" in ASCII: marks the file as ours, so a foreign SQLite file is refused, not migrated.
_APPLICATION_ID = _dbfile.APPLICATION_ID

_COLUMNS = (
    "task_id",
    "name",
    "provider",
    "config",
    "status",
    "created_at",
    "updated_at",
    "started_at",
    "completed_at",
    "exit_code",
    "provider_state",
    "message",
    "provider_data",
    "cancel_requested",
    "instance_type",
)
# Fields a caller may change with update(). task_id and created_at are identity; updated_at is
# the store's to set.
_UPDATABLE = frozenset(_COLUMNS) - {"task_id", "created_at", "updated_at"}
# What a modify() change may name: the updatable fields, and data (merged into provider_data).
_CHANGEABLE = _UPDATABLE | {"data"}
_SELECT = f"SELECT {', '.join(_COLUMNS)} FROM tasks"
_INSERT = f"INSERT INTO tasks ({', '.join(_COLUMNS)}) VALUES ({', '.join('?' * len(_COLUMNS))})"
_UPDATE = f"UPDATE tasks SET {', '.join(f'{c} = ?' for c in _COLUMNS[1:])} WHERE task_id = ?"
# seq breaks ties between tasks created in the same microsecond (bulk imports, tests): insertion
# order. It is the rowid, so every index already carries it and the ORDER BY needs no sort.
_NEWEST_FIRST = "ORDER BY created_at DESC, seq DESC"
# Id prefix matching is a range on the task_id index: [prefix, prefix with its last char + 1).
_COUNT_RANGE = "SELECT COUNT(*) FROM tasks WHERE task_id >= ? AND task_id < ?"
_NEWEST_IN_RANGE = f"{_SELECT} WHERE task_id >= ? AND task_id < ? {_NEWEST_FIRST} LIMIT 5"

# _MIGRATIONS[n] takes a file from user_version n to n + 1. Append only; never edit a shipped step.
_MIGRATIONS: tuple[tuple[str, ...], ...] = (
    (
        """
        CREATE TABLE tasks (
            seq              INTEGER PRIMARY KEY,
            task_id          TEXT    NOT NULL UNIQUE,
            name             TEXT    NOT NULL,
            provider         TEXT    NOT NULL,
            config           TEXT    NOT NULL,
            status           TEXT    NOT NULL,
            created_at       TEXT    NOT NULL,
            updated_at       TEXT    NOT NULL,
            started_at       TEXT,
            completed_at     TEXT,
            exit_code        INTEGER,
            provider_state   TEXT,
            message          TEXT,
            provider_data    TEXT    NOT NULL DEFAULT '{}',
            cancel_requested INTEGER NOT NULL DEFAULT 0,
            instance_type    TEXT
        )
        """,
        # task_id's UNIQUE index serves get() and the prefix range of resolve().
        "CREATE INDEX tasks_created ON tasks (created_at)",
        "CREATE INDEX tasks_name_created ON tasks (name, created_at)",
        "CREATE INDEX tasks_status_created ON tasks (status, created_at)",
        "CREATE INDEX tasks_provider_created ON tasks (provider, created_at)",
        f"PRAGMA application_id = {_APPLICATION_ID}",
    ),
)


def _utcnow() -> datetime:
    return datetime.now(timezone.utc)


def new_task_id() -> str:
    """A fresh task id: ``task-`` and 12 lowercase hex digits (48 random bits from ``secrets``).

    Hex rather than base32 so that ordinary task names (``train``, ``eval-2``) can never read as
    an id prefix in :meth:`TaskStore.resolve`. 48 bits make a clash among a million local tasks
    a ~0.2 % event, and a clash is caught, not silent: :meth:`TaskStore.add` refuses a duplicate.
    """
    return TASK_ID_PREFIX + secrets.token_hex(6)


@dataclass
class TaskRecord:
    """One task as the store knows it.

    ``config`` is stored as its JSON and loaded with :meth:`TaskConfig.model_validate_json`;
    ``provider_data`` (what a provider needs to find its resources again: a pid, a bid id...)
    must be JSON-serialisable and comes back as JSON gives it (tuples become lists).
    Datetimes must be tz-aware; they are normalised to UTC. ``status`` may be given as its
    string value. A record handed out by the store is a snapshot: changing it changes nothing
    stored; use :meth:`TaskStore.update`.
    """

    task_id: str
    name: str
    provider: str
    config: TaskConfig
    status: TaskStatus = TaskStatus.PENDING
    created_at: datetime = field(default_factory=_utcnow)
    updated_at: datetime = field(default_factory=_utcnow)
    started_at: datetime | None = None
    completed_at: datetime | None = None
    exit_code: int | None = None
    provider_state: str | None = None
    message: str | None = None
    provider_data: dict[str, Any] = field(default_factory=dict)
    cancel_requested: bool = False
    instance_type: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.config, TaskConfig):
            raise TypeError(f"config must be a TaskConfig, got {type(self.config).__name__}")
        if not isinstance(self.provider_data, dict):
            raise TypeError(
                f"provider_data must be a dict, got {type(self.provider_data).__name__}"
            )
        self.status = TaskStatus(self.status)
        self.cancel_requested = bool(self.cancel_requested)
        self.created_at = _as_utc(self.created_at, "created_at")
        self.updated_at = _as_utc(self.updated_at, "updated_at")
        # Both default to "now", computed a few microseconds apart; keep updated >= created.
        self.updated_at = max(self.updated_at, self.created_at)
        self.started_at = _as_utc_or_none(self.started_at, "started_at")
        self.completed_at = _as_utc_or_none(self.completed_at, "completed_at")


def _as_utc(value: datetime, what: str) -> datetime:
    if not isinstance(value, datetime):
        raise TypeError(f"{what} must be a datetime, got {type(value).__name__}")
    if value.tzinfo is None or value.utcoffset() is None:
        # A naive value is ambiguous (local time? UTC?); guessing would misorder tasks.
        raise ValueError(f"{what} must be timezone-aware (UTC), got naive {value.isoformat()}")
    return value.astimezone(timezone.utc)


def _as_utc_or_none(value: datetime | None, what: str) -> datetime | None:
    return None if value is None else _as_utc(value, what)


def _dt_text(value: datetime) -> str:
    # Fixed width (always microseconds, always +00:00) so text order is time order.
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def _dt_text_or_none(value: datetime | None) -> str | None:
    return None if value is None else _dt_text(value)


def _dt_or_none(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


# A value of a row as written; rows read back are sqlite3's (untyped, so Any).
_SqlValue = str | int | None


def _encode_record(record: TaskRecord) -> tuple[_SqlValue, ...]:
    """The row for ``record``, in :data:`_COLUMNS` order."""
    try:
        provider_data = json.dumps(record.provider_data, separators=(",", ":"), allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"provider_data of {record.task_id} is not JSON-serialisable: {exc}"
        ) from None
    return (
        record.task_id,
        record.name,
        record.provider,
        record.config.model_dump_json(),
        record.status.value,
        _dt_text(record.created_at),
        _dt_text(record.updated_at),
        _dt_text_or_none(record.started_at),
        _dt_text_or_none(record.completed_at),
        record.exit_code,
        record.provider_state,
        record.message,
        provider_data,
        int(record.cancel_requested),
        record.instance_type,
    )


class TaskStore:
    """The task store at ``path``; see the module docstring for the guarantees.

    ``timeout`` is how long (seconds) an operation waits for another process's write before
    giving up with :class:`StoreError`. Opening creates missing parent directories (mode 0700) and
    a missing file, whole (mode 0600: task configs carry ``env`` values).

    Each ``TaskStore`` is a handle on this process's one connection to the file; :meth:`close`
    gives the handle back (the connection closes with the last one), so opening a second handle
    on the same file, in any thread, is cheap and safe.

    Raises :class:`StoreError` when the file is empty, truncated, corrupt or not a flow store, its
    directory is not writable, it is locked beyond ``timeout``, or it was written by a newer
    flowlib (``error_code`` tells which).
    """

    SCHEMA_VERSION: ClassVar[int] = len(_MIGRATIONS)

    def __init__(self, path: Path, *, timeout: float = 10.0) -> None:
        if timeout < 0:
            raise ValueError(f"timeout must be >= 0, got {timeout}")
        self.path = Path(path).expanduser()
        self.timeout = float(timeout)
        self._closed = False
        self._db = _dbfile.attach(self.path, self.timeout, self._connect, _build_schema)
        # A handle dropped without close() still gives its reference back.
        self._finalizer = weakref.finalize(self, _dbfile.collected, self._db)

    @classmethod
    def at_home(cls, home: Path, *, timeout: float = 10.0) -> TaskStore:
        """The store of a flow home directory: ``home / "tasks.db"``."""
        return cls(Path(home) / "tasks.db", timeout=timeout)

    def __repr__(self) -> str:
        return f"TaskStore({str(self.path)!r})"

    # -- public operations ---------------------------------------------------------------------

    def add(self, record: TaskRecord) -> None:
        """Record a new task, durably, in one transaction.

        Raises :class:`StoreError` if a task with ``record.task_id`` already exists (nothing is
        changed), ``ValueError`` if ``provider_data`` is not JSON-serialisable.
        """
        row = _encode_record(record)  # before the transaction: a bad record never takes the lock

        def insert(conn: sqlite3.Connection) -> None:
            try:
                conn.execute(_INSERT, row)
            except sqlite3.IntegrityError:
                raise StoreError(
                    f"task {record.task_id} is already in the task store {self.path}",
                    suggestions=["give the new task a fresh id (flowlib.core.store.new_task_id())"],
                    error_code="store_duplicate",
                    path=str(self.path),
                    task_id=record.task_id,
                ) from None

        self._write("adding a task", insert)

    def get(self, task_id: str) -> TaskRecord:
        """The task with exactly this id; :class:`TaskNotFoundError` (with close ids) if none."""
        row = self._read(
            "reading a task",
            lambda conn: conn.execute(f"{_SELECT} WHERE task_id = ?", (task_id,)).fetchone(),
        )
        if row is None:
            raise self._not_found(task_id)
        return self._decode(row)

    def resolve(self, ref: str) -> TaskRecord:
        """The task a person means by ``ref``: an id, an id prefix, or a name.

        In order: an exact id wins outright. Otherwise the candidates are the tasks whose id starts
        with ``ref`` (with or without the ``task-`` prefix, case-insensitive) plus the most
        recently created task named exactly ``ref``. One candidate is the answer; several raise
        :class:`ValidationError` listing up to five, so that ``flow cancel 3f`` never picks one
        of two tasks by chance (this also covers a name that happens to be another task's id
        prefix). None raise :class:`TaskNotFoundError` with close names and ids as suggestions.
        """
        ref = ref.strip()
        if not ref:
            raise ValidationError(
                "an empty task reference matches no task",
                suggestions=["give a task id, a unique id prefix, or a task name"],
            )

        def lookup(conn: sqlite3.Connection) -> tuple[Any, list[Any], int, Any]:
            exact = conn.execute(f"{_SELECT} WHERE task_id = ?", (ref,)).fetchone()
            if exact is not None:
                return exact, [], 0, None
            newest: list[Any] = []
            total = 0
            for low in prefixes:
                rng = (low, _prefix_upper_bound(low))
                # The count reads the id index only; the rows are the newest few, for the message.
                total += conn.execute(_COUNT_RANGE, rng).fetchone()[0]
                newest.extend(conn.execute(_NEWEST_IN_RANGE, rng).fetchall())
            named = conn.execute(
                f"{_SELECT} WHERE name = ? {_NEWEST_FIRST} LIMIT 1", (ref,)
            ).fetchone()
            return None, newest, total, named

        prefixes = _id_prefixes(ref)
        exact, newest, total, named = self._read("resolving a task", lookup)
        if exact is not None:
            return self._decode(exact)
        if named is not None and not named[0].startswith(tuple(prefixes)):
            # A name that is not among the id matches is one more candidate.
            newest.append(named)
            total += 1
        if total == 1:
            return self._decode(newest[0])
        if total == 0:
            raise self._not_found(ref)
        # Newest first: the task a person most likely meant heads the list.
        shown = sorted(newest, key=lambda r: (r[5], r[0]), reverse=True)[:5]
        raise ValidationError(
            f"'{ref}' is ambiguous: it matches {total} tasks in {self.path}",
            suggestions=[
                *(f"{r[0]}  (name {r[1]}, {r[4]}, created {r[5][:19]}Z)" for r in shown),
                "give more characters of the id, or the full id",
            ],
            error_code="ambiguous_task",
            ref=ref,
        )

    def update(
        self, task_id: str, /, *, data: Mapping[str, object] | None = None, **fields: Any
    ) -> TaskRecord:
        """Change some fields of a task and return the record as now stored.

        ``fields`` are fields of :class:`TaskRecord` other than ``task_id``, ``created_at`` and
        ``updated_at`` (else ``ValueError``, nothing changed), each set to its new value;
        ``provider_data=`` replaces the whole dict. ``data`` is merged into ``provider_data`` key by
        key (top level; after a ``provider_data`` given with it), so keys another writer stored
        meanwhile are kept: ``update(id, data={"vm_id": 7})`` instead of
        ``update(id, provider_data={**stale.provider_data, "vm_id": 7})``. A value of None stores
        JSON null; it does not delete the key. Keys must be strings (else ``TypeError``).

        The read and the write happen in one ``BEGIN IMMEDIATE`` transaction (this is
        :meth:`modify` with a fixed change), so concurrent updates of different fields or keys
        never undo each other. ``updated_at`` is set to now (and always moves forward, even if
        clocks disagree between processes). Nothing to change (no fields, empty ``data``): nothing
        is written, the stored record is returned. Unknown ``task_id``:
        :class:`TaskNotFoundError`. A bad value (``ValueError``/``TypeError``) changes nothing.
        """
        _check_changes(fields)
        changes: dict[str, Any] = dict(fields)
        if data is not None:
            _check_data(data)
            if data:
                changes["data"] = data
        return self.modify(task_id, lambda _stored: changes)

    def modify(
        self, task_id: str, change: Callable[[TaskRecord], Mapping[str, Any] | None]
    ) -> TaskRecord:
        """Change a task after looking at it, atomically: the store's compare-and-set.

        ``change`` is called with the task as stored *inside* the ``BEGIN IMMEDIATE``
        transaction that writes its answer, so no other writer (thread or process) can come
        between what it sees and what it decides. It returns the changes in :meth:`update`'s
        terms: field names to new values, and ``data`` to merge into ``provider_data`` key by key.
        None or an empty mapping: nothing is written and the record is returned as stored.
        Otherwise the record as now stored is returned (``updated_at`` moved forward).

        ``change`` holds the write lock of every flow process while it runs: it must be quick,
        must not use this store, and should have no effect besides its answer: it is normally
        called once, but again if the transaction has to be retried. Whatever it raises
        propagates, and nothing is written. An unknown field in its answer or a bad value:
        ``ValueError``/``TypeError``, nothing written. Unknown ``task_id``:
        :class:`TaskNotFoundError`, ``change`` not called.

        Mark a task cancelled unless it already ended::

            def cancel(t: TaskRecord) -> dict[str, Any] | None:
                return None if t.status.is_terminal else {"status": TaskStatus.CANCELLED}

            store.modify(task_id, cancel)
        """

        def transaction(conn: sqlite3.Connection) -> TaskRecord | None:
            row = conn.execute(f"{_SELECT} WHERE task_id = ?", (task_id,)).fetchone()
            if row is None:
                return None
            old = self._decode(row)
            changes = change(old)
            if not changes:
                return old
            new_row = _encode_record(_changed(old, changes))
            conn.execute(_UPDATE, (*new_row[1:], task_id))
            # Decode what was written, so the answer equals what get() returns (JSON round trip).
            return self._decode(new_row)

        stored = self._write("updating a task", transaction)
        if stored is None:
            raise self._not_found(task_id)
        return stored

    def find(self, key: str, value: str) -> TaskRecord | None:
        """The newest task whose ``provider_data[key]`` is ``value``, or None."""
        row = self._read(
            "finding a task",
            lambda conn: conn.execute(
                f"{_SELECT} WHERE json_extract(provider_data, ?) = ? {_NEWEST_FIRST} LIMIT 1",
                (f"$.{key}", value),
            ).fetchone(),
        )
        return None if row is None else self._decode(row)

    def add_once(self, record: TaskRecord, key: str, value: str) -> TaskRecord:
        """Add ``record`` unless a task whose ``provider_data[key]`` is ``value`` exists: that
        task is answered instead (checked and inserted in one transaction)."""
        row = _encode_record(record)

        def insert(conn: sqlite3.Connection) -> tuple[Any, ...]:
            found = conn.execute(
                f"{_SELECT} WHERE json_extract(provider_data, ?) = ? {_NEWEST_FIRST} LIMIT 1",
                (f"$.{key}", value),
            ).fetchone()
            if found is not None:
                return tuple(found)
            conn.execute(_INSERT, row)
            return row

        return self._decode(self._write("adding a task", insert))

    def list(
        self,
        *,
        status: Iterable[TaskStatus | str] | None = None,
        provider: str | None = None,
        name: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[TaskRecord]:
        """Tasks, newest first, filtered by any of ``status`` (one of these), ``provider`` and
        ``name``; ``limit``/``offset`` page through them. An empty ``status`` matches nothing."""
        if limit < 0 or offset < 0:
            raise ValueError(f"limit and offset must be >= 0, got {limit} and {offset}")
        where, params = _filters(status, provider, name)
        if where is None or limit == 0:
            return []
        rows = self._read(
            "listing tasks",
            lambda conn: conn.execute(
                f"{_SELECT}{where} {_NEWEST_FIRST} LIMIT ? OFFSET ?", (*params, limit, offset)
            ).fetchall(),
        )
        return [self._decode(r) for r in rows]

    def count(
        self,
        *,
        status: Iterable[TaskStatus | str] | None = None,
        provider: str | None = None,
        name: str | None = None,
    ) -> int:
        """How many tasks match the same filters as :meth:`list` (without paging)."""
        where, params = _filters(status, provider, name)
        if where is None:
            return 0
        result: int = self._read(
            "counting tasks",
            lambda conn: conn.execute(f"SELECT COUNT(*) FROM tasks{where}", params).fetchone()[0],
        )
        return result

    def close(self) -> None:
        """Give this handle back: the connection closes when the process's last handle on the
        file goes. Idempotent; any later operation on this handle raises :class:`StoreError`."""
        self._closed = True
        if self._finalizer.detach() is not None:  # None: already given back
            _dbfile.detach(self._db)

    def __enter__(self) -> TaskStore:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- opening -------------------------------------------------------------------------------

    def _connect(self, uri: str) -> sqlite3.Connection:
        """Connect to the existing file (``uri``) and ready it: the process's first connection."""
        try:
            # isolation_level=None: no implicit transactions; every write says BEGIN IMMEDIATE
            # itself, so a reader never upgrades to a writer (that upgrade is what deadlocks).
            conn = sqlite3.connect(
                uri, uri=True, timeout=self.timeout, isolation_level=None, check_same_thread=False
            )
        except sqlite3.Error as exc:
            raise self._translate(exc, "opening the task store") from None
        try:
            self._retry_busy("opening the task store", lambda: self._initialise(conn))
        except BaseException:
            conn.close()  # no other connection of this process holds the file: nothing is dropped
            raise
        return conn

    def _initialise(self, conn: sqlite3.Connection) -> None:
        # The first statement that reads the file: a corrupt file fails here. Ours before anything
        # else, so a foreign file is left exactly as it was.
        self._check_application_id(conn)
        conn.execute("PRAGMA journal_mode = WAL").fetchone()
        conn.execute("PRAGMA synchronous = FULL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version == self.SCHEMA_VERSION:
            return
        self._check_version(version)
        conn.execute("BEGIN IMMEDIATE")
        try:
            # Another process may have migrated while we waited for the lock.
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            self._check_version(version)
            for step in range(version, self.SCHEMA_VERSION):
                for statement in _MIGRATIONS[step]:
                    conn.execute(statement)
                conn.execute(f"PRAGMA user_version = {step + 1}")
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _check_version(self, version: int) -> None:
        if version == 0:
            raise self._foreign()  # flowlib creates a store whole, schema included
        if version > self.SCHEMA_VERSION:
            raise StoreError(
                f"the task store {self.path} has schema version {version}, newer than this "
                f"flowlib understands ({self.SCHEMA_VERSION}): a newer flowlib wrote it",
                suggestions=[
                    "upgrade flowlib (pip install --upgrade flowlib)",
                    "or point FLOW_HOME at another directory to keep using this version",
                ],
                error_code="store_schema_newer",
                path=str(self.path),
                schema_version=version,
            )

    def _check_application_id(self, conn: sqlite3.Connection) -> None:
        if conn.execute("PRAGMA application_id").fetchone()[0] != _APPLICATION_ID:
            raise self._foreign()

    # -- running statements --------------------------------------------------------------------

    def _connection(self) -> sqlite3.Connection:
        # Called with self._db.lock held.
        if self._closed:
            raise StoreError(
                f"the task store {self.path} is closed",
                suggestions=["open a new TaskStore"],
                error_code="store_closed",
                path=str(self.path),
            )
        db = self._db
        if db.conn is None:  # dropped after a fork: this process needs its own
            db.conn = _dbfile.reconnect(db, self.timeout, self._connect)
        if db.busy_timeout != self.timeout:  # handles on one connection may wait differently
            db.conn.execute(f"PRAGMA busy_timeout = {round(self.timeout * 1000)}").fetchone()
            db.busy_timeout = self.timeout
        return db.conn

    def _read(self, action: str, query: Callable[[sqlite3.Connection], _T]) -> _T:
        with self._db.lock:
            conn = self._connection()
            return self._retry_busy(action, lambda: query(conn))

    def _write(self, action: str, body: Callable[[sqlite3.Connection], _T]) -> _T:
        """Run ``body`` in one BEGIN IMMEDIATE transaction: all of it commits, or none of it."""

        def transaction() -> _T:
            conn.execute("BEGIN IMMEDIATE")
            try:
                result = body(conn)
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise
            return result

        with self._db.lock:
            conn = self._connection()
            return self._retry_busy(action, transaction)

    def _retry_busy(self, action: str, attempt: Callable[[], _T]) -> _T:
        """Run ``attempt``, retrying while the file is busy, up to ``timeout`` in all.

        SQLite's busy handler already waits out ordinary lock contention; it gives up at once when
        waiting could deadlock (or while a WAL is recovered), and those are worth another try.
        """
        deadline = time.monotonic() + self.timeout
        pause = 0.005
        while True:
            try:
                return attempt()
            except sqlite3.Error as exc:
                remaining = deadline - time.monotonic()
                if _dbfile.error_kind(exc) == "busy" and remaining > 0:
                    time.sleep(min(pause, remaining))
                    pause = min(pause * 2, 0.1)
                    continue
                raise self._translate(exc, action) from None

    def _decode(self, row: Sequence[Any]) -> TaskRecord:
        try:
            config = TaskConfig.model_validate_json(row[3])
            provider_data = json.loads(row[12])
        except (pydantic.ValidationError, FlowError, ValueError) as exc:
            # One unreadable row must name itself, not break every listing with a pydantic trace.
            raise StoreError(
                f"task {row[0]} in the task store {self.path} cannot be read by this "
                f"flowlib: {exc}",
                suggestions=["upgrade flowlib if a newer version submitted this task"],
                error_code="store_bad_row",
                path=str(self.path),
                task_id=row[0],
            ) from None
        return TaskRecord(
            task_id=row[0],
            name=row[1],
            provider=row[2],
            config=config,
            status=TaskStatus(row[4]),
            created_at=datetime.fromisoformat(row[5]),
            updated_at=datetime.fromisoformat(row[6]),
            started_at=_dt_or_none(row[7]),
            completed_at=_dt_or_none(row[8]),
            exit_code=row[9],
            provider_state=row[10],
            message=row[11],
            provider_data=provider_data,
            cancel_requested=bool(row[13]),
            instance_type=row[14],
        )

    # -- errors --------------------------------------------------------------------------------

    def _not_found(self, ref: str) -> TaskNotFoundError:
        suggestions = ["run `flow status` to list your tasks"]
        try:
            close = self._close_matches(ref)
        except StoreError:
            close = []  # the suggestion is a courtesy; the answer is still "not found"
        suggestions.extend(f"did you mean {c}?" for c in close)
        return TaskNotFoundError(
            f"no task '{ref}' in {self.path}",
            suggestions=suggestions,
            error_code="task_not_found",
            task_id=ref,
        )

    def _close_matches(self, ref: str) -> builtins.list[str]:
        # Only the recent tasks: bounded work however large the store grows, and the ones a
        # person is likely to be typing.
        rows = self._read(
            "looking for similar tasks",
            lambda conn: conn.execute(
                f"SELECT task_id, name FROM tasks {_NEWEST_FIRST} LIMIT 500"
            ).fetchall(),
        )
        words = list(dict.fromkeys(w for row in rows for w in row))
        return difflib.get_close_matches(ref, words, n=3, cutoff=0.6)

    def _translate(self, exc: sqlite3.Error, action: str) -> StoreError:
        return _dbfile.translate(self.path, self.timeout, exc, action)

    def _foreign(self) -> StoreError:
        return _dbfile.foreign(self.path)


def _build_schema(conn: sqlite3.Connection) -> None:
    """The whole schema, in a new empty file that nobody else can see yet."""
    conn.execute("PRAGMA journal_mode = WAL").fetchone()
    conn.execute("PRAGMA synchronous = FULL")
    conn.execute("BEGIN IMMEDIATE")
    for statements in _MIGRATIONS:
        for statement in statements:
            conn.execute(statement)
    conn.execute(f"PRAGMA user_version = {len(_MIGRATIONS)}")
    conn.execute("COMMIT")


def _check_changes(changes: Mapping[str, object]) -> None:
    unknown = sorted(set(changes) - _CHANGEABLE)
    if unknown:
        raise ValueError(
            f"cannot update {', '.join(unknown)}: updatable fields are "
            f"{', '.join(sorted(_UPDATABLE))} (and data, merged into provider_data)"
        )


def _check_data(data: object) -> None:
    if not isinstance(data, Mapping):
        raise TypeError(f"data must be a mapping, got {type(data).__name__}")
    bad = [k for k in data if not isinstance(k, str)]
    if bad:
        raise TypeError(f"data keys must be strings (JSON object keys), got {bad[0]!r}")


def _changed(old: TaskRecord, changes: Mapping[str, Any]) -> TaskRecord:
    """``old`` with ``changes`` (modify()'s terms) applied and ``updated_at`` moved forward."""
    _check_changes(changes)
    fields = dict(changes)
    data = fields.pop("data", None)
    if data is not None:
        _check_data(data)
        base = fields.get("provider_data", old.provider_data)
        if isinstance(base, dict):  # anything else: replace() below says what is wrong
            fields["provider_data"] = {**base, **data}
    bumped = max(_utcnow(), old.updated_at + timedelta(microseconds=1))
    # replace() re-runs __post_init__: the new values are checked like a new record's.
    return dataclasses.replace(old, **fields, updated_at=bumped)


def _id_prefixes(ref: str) -> builtins.list[str]:
    """The id prefixes ``ref`` may stand for. Ids are ASCII; anything else is only a name."""
    if not ref.isascii():
        return []
    ref = ref.lower()
    if ref.startswith(TASK_ID_PREFIX):
        return [ref] if len(ref) > len(TASK_ID_PREFIX) else []
    prefixes = [TASK_ID_PREFIX + ref]
    # A bare prefix also matches ids from elsewhere, except "t", "ta"... which would match all.
    if not TASK_ID_PREFIX.startswith(ref):
        prefixes.append(ref)
    return prefixes


def _prefix_upper_bound(prefix: str) -> str:
    # The smallest string above every string that starts with prefix (ASCII, binary collation).
    return prefix[:-1] + chr(ord(prefix[-1]) + 1)


def _filters(
    status: Iterable[TaskStatus | str] | None, provider: str | None, name: str | None
) -> tuple[str | None, tuple[str, ...]]:
    """A WHERE clause and its parameters; None for a filter that matches nothing."""
    clauses: builtins.list[str] = []
    params: builtins.list[str] = []
    if status is not None:
        wanted = list(dict.fromkeys(TaskStatus(s).value for s in status))
        if not wanted:
            return None, ()
        clauses.append(f"status IN ({', '.join('?' * len(wanted))})")
        params.extend(wanted)
    if provider is not None:
        clauses.append("provider = ?")
        params.append(provider)
    if name is not None:
        clauses.append("name = ?")
        params.append(name)
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)
