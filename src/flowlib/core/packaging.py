"""The code upload: a deterministic tar.gz of the user's project directory.

What goes in:

- every file under the root, except what ``.flowignore`` (gitignore syntax) excludes, or, when
  there is no ``.flowignore``, what ``.gitignore`` excludes;
- never :data:`DEFAULT_EXCLUDES` (VCS data, caches, virtualenvs, ``node_modules``, ``.env``
  files), unless ``.flowignore`` re-includes one with ``!pattern`` (``.git`` stays out);
- symlinks whose target stays inside the tree (stored as links); links that leave the tree or
  dangle, and special files (FIFOs, sockets, devices), are skipped.

The same tree gives the same bytes: entries are sorted, times, owners and modes normalised, and
the gzip header carries no time. Walking stops early on a huge directory (a home directory, a
data set), so a mistaken upload costs milliseconds, not minutes.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import tarfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from flowlib.errors import PackagingError

__all__ = [
    "DEFAULT_EXCLUDES",
    "DEFAULT_MAX_BYTES",
    "CodeArchive",
    "extract_archive",
    "package_directory",
    "select_files",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024  # compressed; the FCP reference's limit
DEFAULT_MAX_FILES = 100_000
DEFAULT_MAX_TOTAL_BYTES = 20 * 1024**3
DEFAULT_EXCLUDES: tuple[str, ...] = (
    ".git/",
    ".hg/",
    ".svn/",
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    ".venv/",
    "venv/",
    ".tox/",
    ".nox/",
    "node_modules/",
    ".env",
    ".env.*",
    ".flow/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".ipynb_checkpoints/",
    "*.egg-info/",
    ".DS_Store",
)
_ALWAYS_OUT = {".git"}
_COMPRESS_LEVEL = 6  # what gzip and `tar czf` use: level 9 costs far more time for little size


@dataclass(frozen=True)
class CodeArchive:
    """A packaged directory. ``data`` is the tar.gz; ``sha256`` its hex digest."""

    data: bytes
    sha256: str
    file_count: int
    total_bytes: int
    root: Path


class _Entry(NamedTuple):  # a tuple: tens of thousands are made per upload
    rel: str
    path: str
    link: str | None = None


class _Rules:
    """The ignore rules of one root, compiled once."""

    def __init__(self, root: Path) -> None:
        import pathspec

        lines = list(DEFAULT_EXCLUDES)
        for name in (".flowignore", ".gitignore"):
            path = root / name
            if path.is_file():
                try:
                    lines += path.read_text(encoding="utf-8", errors="replace").splitlines()
                except OSError as exc:
                    raise PackagingError(f"cannot read {path}: {exc}") from None
                self.source: str | None = name
                break
        else:
            self.source = None
        self.spec = pathspec.GitIgnoreSpec.from_lines(lines)
        self._combined = _combine(self.spec)

    def ignored(self, rel: str, is_dir: bool) -> bool:
        if rel.split("/", 1)[0] in _ALWAYS_OUT:
            return True
        path = rel + "/" if is_dir else rel
        if self._combined is not None:
            return self._combined.match(path) is not None
        return bool(self.spec.match_file(path))


def _combine(spec: object) -> re.Pattern[str] | None:
    """One regex for all patterns, when none is a negation (then order cannot matter); else
    None, and pathspec decides pattern by pattern. Matching 10,000 paths one pattern at a time
    is most of the cost of packaging."""
    regexes = []
    for pattern in getattr(spec, "patterns", ()):
        include = getattr(pattern, "include", None)
        regex = getattr(pattern, "regex", None)
        if include is None:
            continue  # blank lines and comments
        if include is False or regex is None:
            return None
        if "(?P=" in regex.pattern:
            return None
        regexes.append("(?:" + re.sub(r"\(\?P<\w+>", "(?:", regex.pattern) + ")")
    return re.compile("|".join(regexes)) if regexes else re.compile("(?!)")


def _walk(root: Path, *, max_files: int, max_total_bytes: int) -> list[_Entry]:
    if not root.is_dir():
        raise PackagingError(
            f"the code directory {root} does not exist or is not a directory",
            suggestions=["run from your project directory, or pass upload_code=False"],
        )
    rules = _Rules(root)
    real_root = os.path.realpath(root)
    entries: list[_Entry] = []
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        directory = os.path.join(root, rel_dir) if rel_dir else str(root)
        try:
            scan = list(os.scandir(directory))
        except OSError as exc:
            raise PackagingError(
                f"cannot read directory {directory}: {exc.strerror}",
                suggestions=[f"add '{rel_dir}/' to .flowignore"],
            ) from None
        for item in scan:
            rel = f"{rel_dir}/{item.name}" if rel_dir else item.name
            try:
                # DirEntry knows the type from the directory listing: no stat per file.
                if item.is_symlink():
                    if not rules.ignored(rel, False):
                        target = _inside_link(item.path, real_root)
                        if target is not None:
                            entries.append(_Entry(rel, item.path, target))
                    continue
                if item.is_dir(follow_symlinks=False):
                    if not rules.ignored(rel, True):
                        stack.append(rel)
                    continue
                if not item.is_file(follow_symlinks=False) or rules.ignored(rel, False):
                    continue  # FIFOs, sockets, devices: never uploaded
            except OSError:
                continue
            entries.append(_Entry(rel, item.path))
            if len(entries) > max_files:
                raise _too_huge(root, len(entries), None, rules.source)
    entries.sort(key=lambda e: e.rel)
    return entries


def _inside_link(path: str, real_root: str) -> str | None:
    """The link's target, relative, if it resolves inside the tree; else None."""
    try:
        target = os.readlink(path)
        resolved = os.path.realpath(path)
    except OSError:
        return None
    if not os.path.exists(resolved):
        return None
    if resolved != real_root and not resolved.startswith(real_root + os.sep):
        return None
    if os.path.isabs(target):  # keep the archive relocatable
        return os.path.relpath(resolved, os.path.realpath(os.path.dirname(path)))
    return target


def _too_huge(root: Path, files: int, total: int | None, ignore: str | None) -> PackagingError:
    home = Path.home()
    what = "your home directory" if root.resolve() == home.resolve() else str(root)
    return PackagingError(
        f"{what} is too big to upload as code: stopped after {files:,} files"
        + (f", {_human(total)}" if total is not None else "")
        + " (this looks like a home or data directory)",
        suggestions=[
            "run flowlib from your project directory",
            "add a .flowignore (gitignore syntax) listing data, checkpoints and caches"
            + (f" (today only {ignore} applies)" if ignore else ""),
            "or pass upload_code=False and fetch code in the command (git clone, a volume)",
        ],
        files_seen=files,
        bytes_seen=total,
    )


def select_files(
    root: Path,
    *,
    max_files: int = DEFAULT_MAX_FILES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> list[Path]:
    """The files (and in-tree links) that would be uploaded, relative to ``root``, sorted."""
    return [
        Path(e.rel) for e in _walk(Path(root), max_files=max_files, max_total_bytes=max_total_bytes)
    ]


def package_directory(
    root: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
) -> CodeArchive:
    """Package ``root`` as a deterministic tar.gz. Raises :class:`PackagingError` when the
    directory is missing, huge, unreadable, or the archive exceeds ``max_bytes``."""
    root = Path(root)
    entries = _walk(root, max_files=max_files, max_total_bytes=max_total_bytes)
    writer = _GzipTarWriter()
    dirs_done: set[str] = set()
    total = 0
    try:
        for entry in entries:
            parts = entry.rel.split("/")[:-1]
            for i in range(1, len(parts) + 1):
                name = "/".join(parts[:i])
                if name not in dirs_done:
                    dirs_done.add(name)
                    writer.add(name + "/", DIRTYPE, 0o755)
            if entry.link is not None:
                writer.add(entry.rel, SYMTYPE, 0o777, link=entry.link)
                continue
            mode, content = _read(entry, max_total_bytes - total)
            total += len(content)
            writer.add(entry.rel, REGTYPE, 0o755 if mode & 0o111 else 0o644, content=content)
            if writer.compressed_size > max_bytes:
                break  # already too big: say so without compressing the rest
        data = writer.finish()
    except _TooMuch:
        writer.finish()
        raise _too_huge(root, len(entries), max_total_bytes, None) from None
    except BaseException:
        writer.finish()
        raise
    if len(data) > max_bytes or writer.compressed_size > max_bytes:
        raise _too_big(root, entries, len(data), max_bytes)
    return CodeArchive(data, hashlib.sha256(data).hexdigest(), len(entries), total, root)


REGTYPE, DIRTYPE, SYMTYPE = b"0", b"5", b"2"


class _TooMuch(Exception):
    pass


def _read(entry: _Entry, budget: int) -> tuple[int, bytes]:
    """The file's mode and bytes (os-level calls: builtin open() costs more than the read)."""
    try:
        fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW)
        try:
            st = os.fstat(fd)
            if st.st_size > budget:
                raise _TooMuch
            chunks = []
            remaining = st.st_size
            while True:
                chunk = os.read(fd, max(remaining, 65536))
                if not chunk:
                    break
                chunks.append(chunk)
                remaining -= len(chunk)
            return st.st_mode, chunks[0] if len(chunks) == 1 else b"".join(chunks)
        finally:
            os.close(fd)
    except OSError as exc:
        raise PackagingError(
            f"cannot read {entry.rel}: {exc.strerror}",
            suggestions=[f"add '{entry.rel}' to .flowignore, or fix its permissions"],
        ) from None


class _GzipTarWriter:
    """A tar stream (ustar headers, PAX where a name needs it) gzipped on a second thread.

    Headers are built directly: tarfile's general machinery costs more per member than reading
    a small source file does. zlib releases the GIL, so compression overlaps the reading, as
    gzip does beside tar in `tar czf`."""

    BLOCK = 256 * 1024

    def __init__(self) -> None:
        import queue
        import threading

        # wbits 31: a gzip container; header mtime 0 and no file name, so output is reproducible.
        self._zip = zlib.compressobj(_COMPRESS_LEVEL, zlib.DEFLATED, 31)
        self._out: list[bytes] = []
        self._pending: list[bytes] = []
        self._pending_size = 0
        self.compressed_size = 0
        self._queue: queue.Queue[bytes | None] = queue.Queue(maxsize=16)
        self._thread = threading.Thread(target=self._compress, daemon=True)
        self._thread.start()

    def _compress(self) -> None:
        while (block := self._queue.get()) is not None:
            chunk = self._zip.compress(block)
            if chunk:
                self._out.append(chunk)
                self.compressed_size += len(chunk)

    def _write(self, data: bytes) -> None:
        self._pending.append(data)
        self._pending_size += len(data)
        if self._pending_size >= self.BLOCK:
            self._queue.put(b"".join(self._pending))
            self._pending, self._pending_size = [], 0

    def add(
        self, name: str, kind: bytes, mode: int, *, content: bytes = b"", link: str = ""
    ) -> None:
        self._write(_header(name, kind, mode, len(content), link))
        if content:
            self._write(content)
            pad = -len(content) % 512
            if pad:
                self._write(_ZEROS[:pad])

    def finish(self) -> bytes:
        self._write(_ZEROS * 2)  # end-of-archive marker
        self._queue.put(b"".join(self._pending))
        self._queue.put(None)
        self._thread.join()
        self._out.append(self._zip.flush())
        return b"".join(self._out)


_ZEROS = bytes(512)
_UID_GID = b"0000000\0" * 2
_MTIME = b"00000000000\0"
_MAGIC = b"ustar\x0000" + bytes(247)


def _header(name: str, kind: bytes, mode: int, size: int, link: str) -> bytes:
    raw, raw_link = name.encode("utf-8"), link.encode("utf-8")
    if len(raw) > 100 or len(raw_link) > 100 or not (name + link).isascii():
        info = tarfile.TarInfo(name)
        info.type, info.mode, info.size, info.linkname = kind, mode, size, link
        info.mtime, info.uid, info.gid, info.uname, info.gname = 0, 0, 0, "", ""
        return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")
    head = raw.ljust(100, b"\0") + b"%07o\0" % mode + _UID_GID + b"%011o\0" % size + _MTIME
    tail = kind + raw_link.ljust(100, b"\0") + _MAGIC
    checksum = sum(head) + sum(tail) + 8 * 32  # the checksum field counts as eight spaces
    return head + b"%06o\0 " % checksum + tail


def _too_big(root: Path, entries: list[_Entry], size: int, limit: int) -> PackagingError:
    sizes = {e.rel: _size(e.path) for e in entries if e.link is None}
    largest = sorted(sizes, key=lambda rel: sizes[rel], reverse=True)[:5]
    listing = ", ".join(f"{rel} ({_human(sizes[rel])})" for rel in largest)
    return PackagingError(
        f"the code upload from {root} is {_human(size)} compressed; the limit is "
        f"{_human(limit)}. Largest files: {listing}",
        suggestions=[
            "add them to .flowignore: " + " ".join(largest[:3]),
            "put data and checkpoints in a volume or a data mount, not in the code",
            "or pass upload_code=False",
        ],
        archive_bytes=size,
        limit=limit,
    )


def _size(path: str) -> int:
    try:
        return os.lstat(path).st_size
    except OSError:
        return 0


def _human(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GB"


def extract_archive(data: bytes, dest: Path) -> None:
    """Extract a code archive into ``dest``, refusing absolute paths, ``..`` and links that
    leave ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
            for m in members:
                parts = m.name.split("/")
                if m.name.startswith("/") or ".." in parts:
                    raise PackagingError(f"code archive has an unsafe path: {m.name}")
                if m.issym() or m.islnk():
                    target = os.path.normpath(os.path.join(os.path.dirname(m.name), m.linkname))
                    if m.linkname.startswith("/") or target.startswith(".."):
                        raise PackagingError(f"code archive has a link out of the tree: {m.name}")
            tar.extractall(dest, members=members, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise PackagingError(f"cannot extract the code archive: {exc}") from None
