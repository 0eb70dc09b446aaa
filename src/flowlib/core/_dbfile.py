"""The task store's file, by SQLite's own rules (private to :mod:`flowlib.core.store`).

* **One connection per database file per process.** Every :class:`~flowlib.core.store.TaskStore`
  handle on a file shares one :class:`Database`, found by the file's identity (``st_dev``,
  ``st_ino``: a second path or a symlink to the same file finds the same one), reference counted;
  the connection closes when the last handle goes. POSIX advisory locks belong to a process and
  an inode, and closing *any* descriptor on the file drops all of them (SQLite, "How To Corrupt
  An SQLite Database File", section 2.2): another process would then believe it is alone,
  checkpoint and delete the WAL under our connection, and committed rows would be lost. So this
  module opens the database file itself only while no connection of this process holds it: to
  read its header before the first connection, and to look for another process's locks on an
  empty file.
* **Creation is atomic.** The schema is built in a private temporary file beside the database
  (mode 0600 from its first byte), synced, then ``os.link``-ed into place; ``EEXIST`` means another
  process won, and its file is used. A database file that exists is therefore a complete store,
  and SQLite is never allowed to create one (``mode=rw``).
* **A damaged file is refused, never read as empty.** Before the first connection: a 0-byte
  file, a file shorter than its header says (beyond what the WAL can explain), a file that is not
  SQLite, and an SQLite file without the store's ``application_id`` each raise
  :class:`~flowlib.errors.StoreError` with its own ``error_code``.

Every error constructor of the store lives here too, so both modules word them alike.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import stat
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from pathlib import Path

from flowlib.errors import StoreError

__all__ = [
    "APPLICATION_ID",
    "Database",
    "attach",
    "collected",
    "detach",
    "error_kind",
    "reconnect",
    "translate",
]

# "flow" in ASCII, in the header of every store: a foreign SQLite file is refused, not migrated.
APPLICATION_ID = 0x666C6F77

_SQLITE_MAGIC = b"SQLite format 3\x00"
_HEADER_SIZE = 100
_WAL_HEADER, _WAL_FRAME_HEADER = 32, 24
# SQLite's lock bytes in the database file (os_unix.c): PENDING at 1 GiB, RESERVED after it,
# then the 510 SHARED bytes. A write lock anywhere there: another process is writing the file.
_PENDING_BYTE, _LOCK_BYTES = 0x40000000, 512

# SQLite primary result codes (sqlite3.Error.sqlite_errorcode & 0xFF, Python 3.11+).
_SQLITE_PERM, _SQLITE_BUSY, _SQLITE_LOCKED, _SQLITE_READONLY = 3, 5, 6, 8
_SQLITE_IOERR, _SQLITE_CORRUPT, _SQLITE_FULL, _SQLITE_CANTOPEN = 10, 11, 13, 14
_SQLITE_CONSTRAINT, _SQLITE_NOTADB = 19, 26

# Connects to an existing database file and readies it (journal mode, checks, migrations).
Opener = Callable[[str], sqlite3.Connection]
# Builds the schema of a new, empty database.
Builder = Callable[[sqlite3.Connection], None]
_Key = tuple[int, int]


class Database:
    """This process's one connection to one database file, shared by every handle on it.

    ``lock`` serialises the threads using ``conn``; ``refs`` counts the open handles (changed
    only under the registry lock). ``conn`` is None after a fork, until the child reconnects.
    """

    def __init__(self, path: Path, key: _Key, conn: sqlite3.Connection, timeout: float) -> None:
        self.path = path
        self.key = key
        self.conn: sqlite3.Connection | None = conn
        self.lock = threading.RLock()
        self.refs = 1
        self.busy_timeout = timeout  # what the connection's busy handler waits now

    def __repr__(self) -> str:
        return f"Database({str(self.path)!r}, refs={self.refs})"


_REGISTRY: dict[_Key, Database] = {}
_REGISTRY_LOCK = threading.Lock()
# Handles collected without close(): their Database is released at the next attach or detach
# (a finalizer must not take the registry lock; the collector may run while it is held).
_COLLECTED: list[Database] = []
# Connections this process must neither use nor close (inherited across fork, or opened on a file
# that was replaced while we opened it): closing could drop locks another connection relies on.
_ABANDONED: list[sqlite3.Connection] = []


def attach(path: Path, timeout: float, opener: Opener, build: Builder) -> Database:
    """The shared :class:`Database` of the file at ``path``, created if missing, with one more
    reference. Raises :class:`StoreError` (the file is refused, unwritable, locked...)."""
    with _REGISTRY_LOCK:
        _release_collected()
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise unwritable(path, exc.strerror or str(exc)) from None
        for _ in range(5):
            st = _stat(path)
            if st is None:
                _create(path, timeout, build)
                continue
            key = (st.st_dev, st.st_ino)
            db = _REGISTRY.get(key)
            if db is not None:
                db.refs += 1
                return db
            conn = _first_connection(path, st, timeout, opener)
            if conn is None:
                continue  # gone while we looked: create it
            if _key(_stat(path)) != key:
                # Replaced between the check and the connect: which file conn holds is unknown.
                _ABANDONED.append(conn)
                continue
            db = _REGISTRY[key] = Database(path, key, conn, timeout)
            return db
    raise StoreError(
        f"the task store {path} kept being replaced while flowlib opened it",
        suggestions=["look for another program moving or deleting the file, then retry"],
        error_code="store_unstable",
        path=str(path),
    )


def detach(db: Database) -> None:
    """Give back one reference; the last closes the connection."""
    with _REGISTRY_LOCK:
        _release_collected()
        _release(db)


def collected(db: Database) -> None:
    """A handle on ``db`` was garbage-collected without ``close()`` (called by its finalizer)."""
    _COLLECTED.append(db)  # list.append is atomic; see _COLLECTED


def reconnect(db: Database, timeout: float, opener: Opener) -> sqlite3.Connection:
    """A new connection for ``db`` in a forked child, whose inherited one was dropped. Called
    with ``db.lock`` held; this process has no other connection to the file."""
    st = _stat(db.path)
    conn = (
        None
        if _key(st) != db.key or st is None
        else _first_connection(db.path, st, timeout, opener)
    )
    if conn is None:
        raise StoreError(
            f"the task store {db.path} was moved or replaced since this process opened it",
            suggestions=["open a new TaskStore"],
            error_code="store_replaced",
            path=str(db.path),
        )
    db.busy_timeout = timeout
    return conn


# -- opening --------------------------------------------------------------------------------------


def _first_connection(
    path: Path, st: os.stat_result, timeout: float, opener: Opener
) -> sqlite3.Connection | None:
    """Check the file, then connect: this process's first connection to it. None if it is gone."""
    if not stat.S_ISREG(st.st_mode):
        raise unwritable(path, "it is not a regular file")
    deadline = time.monotonic() + timeout
    while st.st_size == 0:
        # Another program's SQLite may be writing its first page right now (an older flowlib
        # created the file before its schema): wait for it, as for any other writer.
        locked = _locked_elsewhere(path)
        if not locked:
            raise empty(path)
        if time.monotonic() >= deadline:
            raise locked_error(path, timeout, "opening the task store")
        time.sleep(0.02)
        new = _stat(path)
        if new is None or _key(new) != _key(st):
            return None
        st = new
    _check_header(path, st)
    return opener(_uri(path))


def _uri(path: Path) -> str:
    # mode=rw: SQLite must never create the file; only _create makes one, complete.
    return f"file:{urllib.parse.quote(str(path.absolute()))}?mode=rw"


def _check_header(path: Path, st: os.stat_result) -> None:
    """Refuse a file that is not SQLite, is shorter than its header says (beyond what the WAL
    can explain), or is an SQLite database of something else. Reads only the first 100 bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise unwritable(path, exc.strerror or str(exc)) from None
    try:
        head = os.pread(fd, _HEADER_SIZE, 0)
    finally:
        os.close(fd)
    if head[: len(_SQLITE_MAGIC)] != _SQLITE_MAGIC[: len(head)]:
        raise corrupt(path, "it does not start with the SQLite header")
    if len(head) < _HEADER_SIZE:
        raise truncated(path, f"it has {st.st_size} bytes, fewer than an SQLite header")
    page_size = int.from_bytes(head[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    if page_size < 512 or page_size & (page_size - 1):
        raise corrupt(path, f"its header gives an impossible page size ({page_size})")
    wal = _stat(Path(f"{path}-wal"))
    wal_bytes = wal.st_size - _WAL_HEADER if wal else 0
    wal_frames = max(0, wal_bytes // (page_size + _WAL_FRAME_HEADER))
    pages = int.from_bytes(head[28:32], "big")
    # The page count in the header is valid when the change counter matches "version valid for".
    if pages and head[24:28] == head[92:96]:
        expected = pages * page_size
        missing = -(-(expected - st.st_size) // page_size)
        if missing > wal_frames:
            raise truncated(
                path,
                f"its header says {pages} pages of {page_size} bytes ({expected} bytes) but it "
                f"has {st.st_size} bytes"
                + (f" and its WAL {wal_frames} pages" if wal_frames else ""),
            )
    if st.st_size % page_size and not wal_frames:
        raise truncated(path, f"its size ({st.st_size} bytes) is not a whole number of pages")
    # The header in the file is the last checkpoint's: with frames in the WAL the application id
    # may not have reached it yet, and the opener asks SQLite instead.
    if not wal_frames and int.from_bytes(head[68:72], "big") != APPLICATION_ID:
        raise foreign(path)


def _locked_elsewhere(path: Path) -> bool:
    """Whether another process holds a SQLite write lock (pending, reserved or exclusive) on
    ``path``. Only called while this process has no connection to it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return False
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_SH | fcntl.LOCK_NB, _LOCK_BYTES, _PENDING_BYTE)
        except OSError:
            return True
        fcntl.lockf(fd, fcntl.LOCK_UN, _LOCK_BYTES, _PENDING_BYTE)
        return False
    finally:
        os.close(fd)


def _create(path: Path, timeout: float, build: Builder) -> None:
    """Make the store at ``path`` whole or not at all; another process may win the race."""
    try:
        fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".new", dir=path.parent)
        os.close(fd)  # a private file of our own, not the database: closing it drops nothing
    except OSError as exc:
        raise unwritable(path, exc.strerror or str(exc)) from None
    try:
        conn = sqlite3.connect(name, timeout=timeout, isolation_level=None)
        try:
            build(conn)
        finally:
            conn.close()  # the last connection: checkpoints and removes the temporary WAL
        fd = os.open(name, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(name, path)
        except FileExistsError:
            return  # another process created it first: theirs is as complete as ours
        _fsync_directory(path.parent)
    except sqlite3.Error as exc:
        raise translate(path, timeout, exc, "creating the task store") from None
    except OSError as exc:
        raise unwritable(path, exc.strerror or str(exc)) from None
    finally:
        for suffix in ("", "-wal", "-shm", "-journal"):
            with contextlib.suppress(OSError):
                os.unlink(name + suffix)


def _fsync_directory(directory: Path) -> None:
    # The new name must survive a power loss as the content does; not every file system can.
    try:
        fd = os.open(directory, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise unwritable(path, exc.strerror or str(exc)) from None


def _key(st: os.stat_result | None) -> _Key | None:
    return None if st is None else (st.st_dev, st.st_ino)


def _release(db: Database) -> None:
    # Called with _REGISTRY_LOCK held.
    db.refs -= 1
    if db.refs > 0:
        return
    if _REGISTRY.get(db.key) is db:
        del _REGISTRY[db.key]
    with db.lock:
        conn, db.conn = db.conn, None
        if conn is not None:
            conn.close()


def _release_collected() -> None:
    while _COLLECTED:
        _release(_COLLECTED.pop())


# -- fork safety ------------------------------------------------------------------------------
# A SQLite connection must not be used on both sides of a fork, and a lock held by another thread
# at fork time would never be released in the child. The child drops both and reconnects lazily.
# The dropped connections are kept referenced, never closed: closing would let the child's SQLite
# tidy up (checkpoint, delete the WAL) a file the parent is still using.


def _after_fork_in_child() -> None:
    global _REGISTRY_LOCK
    _REGISTRY_LOCK = threading.Lock()
    for db in _REGISTRY.values():
        db.lock = threading.RLock()
        if db.conn is not None:
            _ABANDONED.append(db.conn)
            db.conn = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


# -- errors -----------------------------------------------------------------------------------


def translate(path: Path, timeout: float, exc: sqlite3.Error, action: str) -> StoreError:
    """The :class:`StoreError` for a ``sqlite3`` error met while ``action``."""
    kind = error_kind(exc)
    if kind == "busy":
        return locked_error(path, timeout, action)
    if kind == "corrupt":
        return corrupt(path, str(exc))
    if kind == "unwritable":
        return unwritable(path, str(exc))
    if kind == "full":
        return StoreError(
            f"the disk holding the task store {path} is full",
            suggestions=["free some space, then retry"],
            error_code="store_full",
            path=str(path),
        )
    return StoreError(
        f"the task store {path} failed while {action}: {exc}",
        suggestions=["retry; if it persists, check the disk and the file's permissions"],
        error_code="store_error",
        path=str(path),
    )


def locked_error(path: Path, timeout: float, action: str) -> StoreError:
    return StoreError(
        f"the task store {path} is locked: another flow process holds it "
        f"(waited {timeout:g}s while {action})",
        suggestions=[
            "wait for the other flow command to finish, then retry",
            "look for a stuck flow process holding the file",
        ],
        error_code="store_locked",
        path=str(path),
    )


def _move_aside(path: Path, suffix: str) -> str:
    return (
        f"move it aside (mv {path} {path}.{suffix}); flowlib then starts an empty store, and "
        "tasks recorded in the old file are no longer tracked"
    )


def corrupt(path: Path, detail: str) -> StoreError:
    return StoreError(
        f"the task store {path} is corrupt or not a SQLite database ({detail})",
        suggestions=[_move_aside(path, "corrupt")],
        error_code="store_corrupt",
        path=str(path),
    )


def empty(path: Path) -> StoreError:
    return StoreError(
        f"the task store {path} is an empty file (0 bytes): flowlib never leaves one, so it was "
        "truncated or made by something else, and it is not read as a store without tasks",
        suggestions=[
            "if it held your tasks, restore it from a backup: until then flowlib does not know "
            "their machines, which may still be running (and billed) at your providers",
            f"otherwise remove it (rm {path}); flowlib then creates a new store",
        ],
        error_code="store_empty",
        path=str(path),
    )


def truncated(path: Path, detail: str) -> StoreError:
    return StoreError(
        f"the task store {path} is truncated: {detail}",
        suggestions=[
            "restore it from a backup if you have one",
            _move_aside(path, "truncated"),
        ],
        error_code="store_truncated",
        path=str(path),
    )


def foreign(path: Path) -> StoreError:
    return StoreError(
        f"{path} is a SQLite database but not a flow task store",
        suggestions=[f"move it aside (mv {path} {path}.other) or set FLOW_HOME elsewhere"],
        error_code="store_foreign",
        path=str(path),
    )


def unwritable(path: Path, reason: str) -> StoreError:
    return StoreError(
        f"cannot create or write the task store {path}: {reason}",
        suggestions=[
            f"check that {path.parent} is a directory you can write",
            "or set FLOW_HOME to a writable directory",
        ],
        error_code="store_unwritable",
        path=str(path),
    )


def error_kind(exc: sqlite3.Error) -> str:
    """Classify a sqlite3 error: busy, corrupt, unwritable, full, or other."""
    code = getattr(exc, "sqlite_errorcode", None)  # Python 3.11+
    if code is not None:
        primary = code & 0xFF
        if primary in (_SQLITE_BUSY, _SQLITE_LOCKED):
            return "busy"
        if primary in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
            return "corrupt"
        if primary in (_SQLITE_READONLY, _SQLITE_CANTOPEN, _SQLITE_PERM):
            return "unwritable"
        if primary == _SQLITE_FULL:
            return "full"
        if primary in (_SQLITE_IOERR, _SQLITE_CONSTRAINT):
            return "other"
    text = str(exc).lower()  # Python 3.10: only the message tells
    if "locked" in text or "busy" in text:
        return "busy"
    if "not a database" in text or "malformed" in text:
        return "corrupt"
    if "readonly" in text or "unable to open" in text:
        return "unwritable"
    if "disk is full" in text:
        return "full"
    return "other"
