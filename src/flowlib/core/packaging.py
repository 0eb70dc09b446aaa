"""The code upload: a deterministic tar.gz of the user's working directory.

A provider ships :attr:`CodeArchive.data` with the task; the startup script checks its sha256 and
extracts it into the task's working directory on the instance.

What goes in
    Every regular file, directory and in-tree symlink under the root, except what the ignore rules
    leave out:

    - ``.flowignore`` at the root (gitignore syntax) if there is one; otherwise ``.gitignore`` at
      the root and in every directory walked (each relative to its own directory, deeper files
      overriding shallower ones, as git does). A ``.flowignore`` replaces the ``.gitignore``
      files entirely, so a project can upload what git ignores (a generated config, say).
    - :data:`DEFAULT_EXCLUDES` always apply, before the file's own lines: a ``!pattern`` in the
      ignore file brings one back (``!.env.example``), except ``.git``, which never goes in.
    - A directory holding ``pyvenv.cfg`` is a virtualenv whatever its name (``env/``,
      ``.venv-3.11/``) and stays out, unless an ignore file re-includes it by name (``!env/``).
      So does a directory tagged as a cache (a ``CACHEDIR.TAG`` with the standard signature,
      as ``tar --exclude-caches`` reads it: pytest's cache, an emulator's work directory).
    - The directories in ``exclude`` stay out wherever they lie inside the root, whatever they
      are called: the providers pass flowlib's home (``FLOW_HOME``), whose tasks' own code
      archives would otherwise nest inside every later upload.
    - Rules follow git: the last matching pattern decides, and nothing under an excluded
      directory can be re-included. Excluded directories are not descended into, so a
      ``node_modules`` of 100,000 files costs one directory listing.

Links and special files
    A symlink whose target resolves inside the tree is stored as a symlink, with a relative
    target; one that points outside the tree, or dangles, is skipped. Symlinked directories are
    stored as links, never followed. FIFOs, sockets and devices are skipped. A file that cannot
    be read raises :class:`~flowlib.errors.PackagingError` naming it.

Determinism
    The same tree gives the same bytes, wherever it lives and whatever its timestamps, owners or
    umask: entries are sorted, every header has mtime :data:`ARCHIVE_MTIME`, uid/gid 0 and empty
    owner names, files are mode 0o755 if any execute bit is set else 0o644, directories 0o755,
    and the gzip header carries no time and a fixed OS byte. (The compressed bytes also depend
    on the zlib build; the same machine always agrees with itself.)

Hard links
    Paths that are one file (hard links to the same inode) are stored once: the first in
    archive order as a file, the others as hard links to it (``tar`` does the same).

Limits
    Walking stops as soon as more than ``max_files`` files or ``max_total_bytes`` bytes are seen
    (a home or data directory), before anything is read. Then the real size is checked, before
    anything is read: what the upload unpacks to on the machine (each file's apparent size,
    hard links once) may not pass ``max_unpacked_bytes``. A sparse file counts at its full
    length (a 2 GiB sparse file packs to a few megabytes but is written out in full); the error
    says how little of it is on disk. Compression stops as soon as the archive passes
    ``max_bytes``. Either error lists the largest files, and suggests ``.flowignore`` lines for
    only as many of them as it takes to get under the limit.

Speed
    Within about 1.5x of ``tar czf`` on a 10,000-file tree (``benchmarks/bench_packaging.py``):
    tar headers are written directly (``tarfile`` costs more per member than reading a small
    file does), the walk uses ``os.scandir``'s file types, each file is opened and read once,
    and zlib compresses at level 6 (gzip's default) on a second thread while files are read.
"""

from __future__ import annotations

import hashlib
import io
import os
import posixpath
import queue
import stat
import struct
import tarfile
import threading
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from flowlib.core._ignore import Pattern, RuleSet, parse_lines
from flowlib.errors import PackagingError

__all__ = [
    "ARCHIVE_MTIME",
    "DEFAULT_EXCLUDES",
    "DEFAULT_MAX_BYTES",
    "DEFAULT_MAX_FILES",
    "DEFAULT_MAX_TOTAL_BYTES",
    "DEFAULT_MAX_UNPACKED_BYTES",
    "CodeArchive",
    "extract_archive",
    "package_directory",
    "select_files",
    "tag_as_cache",
]

DEFAULT_MAX_BYTES = 10 * 1024 * 1024
"""Largest compressed archive accepted (the FCP reference's limit)."""

DEFAULT_MAX_UNPACKED_BYTES = 100 * 1024 * 1024
"""Largest real size accepted: what the upload unpacks to (apparent sizes, hard links once)."""

DEFAULT_MAX_FILES = 100_000
"""More files than this and the directory is taken for a home or data directory."""

DEFAULT_MAX_TOTAL_BYTES = 20 * 1024**3
"""More uncompressed bytes than this and the directory is taken for a data directory."""

DEFAULT_EXCLUDES: tuple[str, ...] = (
    # version control (.git is also refused by name, at any depth, even when re-included)
    ".git/",
    ".hg/",
    ".svn/",
    # Python byte code, caches, tool state
    "__pycache__/",
    "*.pyc",
    "*.pyo",
    "*.egg-info/",
    ".mypy_cache/",
    ".pytest_cache/",
    ".ruff_cache/",
    ".hypothesis/",
    ".ipynb_checkpoints/",
    ".tox/",
    ".nox/",
    # environments (any directory holding pyvenv.cfg is skipped too, whatever its name)
    ".venv/",
    "venv/",
    "node_modules/",
    # secrets: credentials must travel as task secrets, never inside the code
    ".env",
    ".env.*",
    # flowlib's own state, OS litter
    ".flow/",
    ".DS_Store",
)
"""Gitignore-syntax patterns that always apply, before the ignore file's own lines."""

ARCHIVE_MTIME = 946_684_800
"""The modification time of every member: 2000-01-01T00:00:00Z. Fixed for reproducibility; not
0, because extracted files dated 1970 break zip-based tools (building a wheel from the tree
raises "ZIP does not support timestamps before 1980")."""

_COMPRESS_LEVEL = 6  # gzip's and tar's default: level 9 costs far more time for ~1% less size
_STREAM_CHUNK = 512 * 1024  # files larger than this are read and compressed piece by piece
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
_OPEN_FLAGS |= getattr(os, "O_CLOEXEC", 0)

# Entry kinds; an entry is (sort key, rel, kind, path, size, mode, link target).
_DIR, _FILE, _LINK = 0, 1, 2
_Entry = tuple[str, str, int, str, int, int, str]


@dataclass(frozen=True)
class CodeArchive:
    """A packaged working directory.

    ``data`` is the tar.gz and ``sha256`` its hex digest (the startup script checks it).
    ``file_count`` counts regular files and symlinks (not directories); ``total_bytes`` is the
    uncompressed size of the regular files (apparent sizes, hard links once: what the upload
    unpacks to); ``allocated_bytes`` what they take on this disk (less for sparse files).
    ``root`` is the absolute directory packaged.
    """

    data: bytes
    sha256: str
    file_count: int
    total_bytes: int
    root: Path
    allocated_bytes: int = 0


def select_files(
    root: Path,
    *,
    max_files: int = DEFAULT_MAX_FILES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    exclude: Iterable[Path] = (),
) -> list[Path]:
    """The files and in-tree symlinks :func:`package_directory` would upload, as paths relative
    to ``root``, sorted (``sorted()`` order of :class:`~pathlib.Path`). Nothing is read.

    Raises :class:`~flowlib.errors.PackagingError` when ``root`` is not a directory, a directory
    or ignore file cannot be read, or the tree passes ``max_files`` files or ``max_total_bytes``
    bytes (checked while walking: the walk stops there).
    """
    tree = _walk(
        _absolute(root), max_files=max_files, max_total_bytes=max_total_bytes, exclude=exclude
    )
    return [Path(e[1]) for e in tree.entries if e[2] != _DIR]


def package_directory(
    root: Path,
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_files: int = DEFAULT_MAX_FILES,
    max_total_bytes: int = DEFAULT_MAX_TOTAL_BYTES,
    max_unpacked_bytes: int = DEFAULT_MAX_UNPACKED_BYTES,
    exclude: Iterable[Path] = (),
) -> CodeArchive:
    """Package ``root`` as a deterministic tar.gz (see the module documentation for the rules).

    Members are named relative to ``root`` (``src/model.py``, no leading ``./``); empty
    directories that are not ignored are kept; directories in ``exclude`` (flowlib's home)
    are left out when they lie inside ``root``.

    Raises :class:`~flowlib.errors.PackagingError` (with suggestions) when ``root`` does not
    exist or is not a directory; when the walk passes ``max_files`` files or ``max_total_bytes``
    bytes (a home or data directory: nothing is read); when the files' real size passes
    ``max_unpacked_bytes`` (nothing is read); when a file or directory cannot be read, or a
    file shrinks while it is read; when the compressed archive passes ``max_bytes``. The size
    errors list the five largest files.
    """
    root = _absolute(root)
    tree = _walk(root, max_files=max_files, max_total_bytes=max_total_bytes, exclude=exclude)
    if tree.total > max_unpacked_bytes:
        raise _too_big(root, tree, tree.total, max_unpacked_bytes, stopped=False, packed=False)
    sink = _GzipSink()
    first_link: dict[tuple[int, int], str] = {}  # an inode -> the path that holds its data
    total = 0
    stopped = False
    # Members are gathered here and handed to the compressor in blocks: one list append per
    # piece is the whole per-file cost of writing.
    parts: list[bytes] = []
    add = parts.append
    pending = 0
    try:
        for _key, rel, kind, path, size, mode, link in tree.entries:
            inode = tree.inodes.get(rel) if kind == _FILE else None
            if inode is not None and inode in first_link:
                add(_header(rel, b"1", 0o755 if mode & 0o111 else 0o644, 0, first_link[inode]))
                pending += 512
            elif kind == _FILE:
                if inode is not None:
                    first_link[inode] = rel
                add(_header(rel, b"0", 0o755 if mode & 0o111 else 0o644, size))
                if size <= _STREAM_CHUNK:
                    add(_read_file(root, rel, path, size))
                else:
                    sink.put(b"".join(parts))
                    parts.clear()
                    _stream_file(root, rel, path, size, sink, max_bytes)
                total += size
                padding = -size % 512
                if padding:
                    add(_ZEROS[:padding])
                pending += 512 + size + padding
            elif kind == _DIR:
                add(_header(rel + "/", b"5", 0o755, 0))
                pending += 512
            else:
                add(_header(rel, b"2", 0o777, 0, link))
                pending += 512
            if pending >= _GzipSink.BLOCK:
                sink.put(b"".join(parts))
                parts.clear()
                pending = 0
                if sink.compressed > max_bytes:
                    stopped = True
                    break  # already too big: say so without reading the rest
        add(_ZEROS * 2)  # end of archive
        sink.put(b"".join(parts))
        data = sink.close()
    finally:
        sink.abort()
    if len(data) > max_bytes:
        # Stopped early, the archive's size so far over the bytes read so far estimates it.
        estimate = len(data) * tree.total // max(total, 1) if stopped else len(data)
        raise _too_big(root, tree, len(data), max_bytes, stopped=stopped, estimate=estimate)
    return CodeArchive(
        data, hashlib.sha256(data).hexdigest(), tree.files, total, root, tree.allocated
    )


def tag_as_cache(directory: Path) -> None:
    """Mark ``directory`` as scratch that is never uploaded (nor backed up by tools that read
    the tag): a ``CACHEDIR.TAG`` as https://bford.info/cachedir/ describes it."""
    Path(directory).mkdir(parents=True, exist_ok=True)
    tag = Path(directory) / "CACHEDIR.TAG"
    if not _is_cache(str(tag)):
        tag.write_bytes(
            _CACHEDIR_SIGNATURE + b"\n# This directory is scratch made by flowlib; it is never "
            b"uploaded with the code.\n# See https://bford.info/cachedir/\n"
        )


def extract_archive(data: bytes, dest: Path) -> None:
    """Extract a code archive into ``dest`` (created if missing), for tests and local runs.

    Refuses, with :class:`~flowlib.errors.PackagingError` and before writing anything, members
    with absolute paths or ``..`` components, symlinks or hard links whose target leaves
    ``dest``, and devices or FIFOs. Extraction uses ``tarfile``'s ``data`` filter where the
    Python has it (3.10.12+, 3.11.4+), which also catches writes through links created by
    earlier members; elsewhere each member's real destination is checked the same way.
    Permissions keep their execute bits; owners are not restored.
    """
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            members = tar.getmembers()
            for member in members:
                _check_member(member)
            if _HAS_DATA_FILTER:
                tar.extractall(dest, members=members, filter="data")
            else:
                _extract_checked(tar, members, dest)
    except PackagingError:
        raise
    except tarfile.TarError as exc:  # FilterError (a member escaping dest) is one
        raise PackagingError(
            f"refusing to extract the code archive: {exc}",
            suggestions=["build the archive with flowlib.core.packaging.package_directory"],
        ) from None
    except (OSError, EOFError, zlib.error) as exc:
        raise PackagingError(f"cannot extract the code archive into {dest}: {exc}") from None


# --- walking ------------------------------------------------------------------------------------


@dataclass
class _Tree:
    entries: list[_Entry]  # sorted: a directory before its contents
    files: int  # regular files and symlinks
    total: int  # apparent bytes of the regular files, hard links once
    ignore_file: str  # ".flowignore", ".gitignore" or "" (defaults only)
    allocated: int = 0  # bytes the regular files take on disk, hard links once
    inodes: dict[str, tuple[int, int]] = field(default_factory=dict)  # files with hard links
    on_disk: dict[str, int] = field(default_factory=dict)  # sparse files: their allocated bytes


def _absolute(root: Path | str) -> Path:
    return Path(os.path.abspath(os.fspath(root)))


@cache
def _default_patterns() -> tuple[Pattern, ...]:
    return tuple(parse_lines(DEFAULT_EXCLUDES))


def _read_ignore_file(path: str) -> list[str] | None:
    """The lines of an ignore file; None if there is none. Bytes that are not UTF-8 decode as
    os.fsdecode does for file names, so a pattern can still name such a file."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        return None
    except OSError as exc:
        raise PackagingError(
            f"cannot read {path}: {exc.strerror}",
            suggestions=[f"make it readable (chmod u+r {path}) or remove it"],
        ) from None
    text = raw.decode("utf-8", "surrogateescape").removeprefix("\ufeff")
    return [line.removesuffix("\r") for line in text.split("\n")]


def _root_rules(root: str) -> tuple[RuleSet, str]:
    for name in (".flowignore", ".gitignore"):
        lines = _read_ignore_file(os.path.join(root, name))
        if lines is not None:
            patterns = [*_default_patterns(), *parse_lines(lines)]
            return RuleSet(patterns, source=name), name
    return RuleSet(_default_patterns(), source="defaults"), ""


def _verdict(rules: Sequence[RuleSet], rel: str, name: str, is_dir: bool) -> bool | None:
    for rule_set in rules:  # the deepest ignore file first: it overrides shallower ones
        verdict = rule_set.decide(rel, name, is_dir)
        if verdict is not None:
            return verdict
    return None


def _excluded_dirs(root: str, real_root: str, exclude: Iterable[Path]) -> set[str]:
    """The directories of ``exclude`` that lie inside the root, relative to it (as written and
    as resolved: a home reached through a symlink is left out either way)."""
    inside: set[str] = set()
    for path in exclude:
        for base, there in ((root, os.path.abspath(path)), (real_root, os.path.realpath(path))):
            rel = os.path.relpath(there, base)
            if rel != "." and rel != ".." and not rel.startswith("../"):
                inside.add(rel.replace(os.sep, "/"))
    return inside


_CACHEDIR_SIGNATURE = b"Signature: 8a477f597d28d172789f06886806bc55"


def _is_cache(path: str) -> bool:
    """A directory tagged as a cache (https://bford.info/cachedir/): tar's --exclude-caches."""
    try:
        with open(path, "rb") as f:
            return f.read(len(_CACHEDIR_SIGNATURE)) == _CACHEDIR_SIGNATURE
    except OSError:
        return False


def _walk(
    root: Path, *, max_files: int, max_total_bytes: int, exclude: Iterable[Path] = ()
) -> _Tree:
    root_str = str(root)
    try:
        root_stat = os.stat(root_str)
    except FileNotFoundError:
        raise PackagingError(
            f"working directory {root} does not exist",
            suggestions=[
                "run from your project directory, or set code_dir to it",
                "or pass upload_code=False to run without uploading code",
            ],
        ) from None
    except OSError as exc:
        raise PackagingError(f"cannot open working directory {root}: {exc.strerror}") from None
    if not stat.S_ISDIR(root_stat.st_mode):
        raise PackagingError(
            f"working directory {root} is not a directory",
            suggestions=["set code_dir to your project directory, or pass upload_code=False"],
        )
    real_root = os.path.realpath(root_str)
    left_out = _excluded_dirs(root_str, real_root, exclude)
    root_rules, ignore_file = _root_rules(root_str)
    nested = ignore_file != ".flowignore"  # a .flowignore replaces every .gitignore
    entries: list[_Entry] = []
    files = total = allocated = 0
    inodes: dict[str, tuple[int, int]] = {}
    seen_inodes: set[tuple[int, int]] = set()
    on_disk: dict[str, int] = {}
    # (directory relative to root, rule sets in force deepest first, re-included by a pattern)
    stack: list[tuple[str, tuple[RuleSet, ...], bool]] = [("", (root_rules,), False)]
    while stack:
        rel_dir, rules, reincluded = stack.pop()
        try:
            with os.scandir(f"{root_str}/{rel_dir}" if rel_dir else root_str) as listing:
                items = list(listing)
        except OSError as exc:
            raise _unreadable(root, rel_dir + "/", exc) from None
        if rel_dir:
            if not reincluded and any(
                item.name == "pyvenv.cfg" or (item.name == "CACHEDIR.TAG" and _is_cache(item.path))
                for item in items
            ):
                continue  # a virtualenv or a cache, whatever its name
            entries.append((rel_dir.replace("/", "\0"), rel_dir, _DIR, "", 0, 0, ""))
            if nested and any(item.name == ".gitignore" for item in items):
                lines = _read_ignore_file(f"{root_str}/{rel_dir}/.gitignore")
                if lines is not None:
                    rules = (RuleSet(parse_lines(lines), base=rel_dir, source=".gitignore"), *rules)
        prefix = rel_dir + "/" if rel_dir else ""
        for item in items:
            name = item.name
            if name == ".git":
                continue  # a repository (or a worktree's .git file): never uploaded
            rel = prefix + name
            try:
                # The directory listing gives the type: no stat until a file is kept.
                if item.is_dir(follow_symlinks=False):
                    if rel in left_out:
                        continue  # flowlib's own state (its home), not code
                    verdict = _verdict(rules, rel, name, True)
                    if verdict is not False:
                        stack.append((rel, rules, verdict is True))
                    continue
                if item.is_file(follow_symlinks=False):
                    if _verdict(rules, rel, name, False) is False:
                        continue
                    st = item.stat(follow_symlinks=False)
                    size = st.st_size
                    blocks = getattr(st, "st_blocks", None)
                    disk = size if blocks is None else blocks * 512
                    if st.st_nlink > 1:
                        inode = (st.st_dev, st.st_ino)
                        inodes[rel] = inode
                        if inode in seen_inodes:
                            size = disk = 0  # the same file again: counted once
                        seen_inodes.add(inode)
                    if disk + 4096 < size:  # holes: packs to little, unpacks in full
                        on_disk[rel] = disk
                    total += size
                    allocated += disk
                    size = st.st_size
                    entries.append(
                        (rel.replace("/", "\0"), rel, _FILE, item.path, size, st.st_mode, "")
                    )
                elif item.is_symlink():
                    if _verdict(rules, rel, name, False) is False:
                        continue
                    target = _link_target(item.path, rel, real_root)
                    if target is None:
                        continue  # leaves the tree, or dangles
                    entries.append((rel.replace("/", "\0"), rel, _LINK, "", 0, 0, target))
                else:
                    continue  # FIFO, socket, device: never uploaded
            except OSError as exc:
                raise _unreadable(root, rel, exc) from None
            files += 1
            if files > max_files or total > max_total_bytes:
                raise _too_huge(root, entries, files, total, max_files, max_total_bytes)
    entries.sort()  # by path with "/" as the lowest character: Path order, parents first
    return _Tree(entries, files, total, ignore_file, allocated, inodes, on_disk)


def _link_target(path: str, rel: str, real_root: str) -> str | None:
    """The relative target to store for the symlink at ``path``, or None to skip it."""
    try:
        target = os.readlink(path)
        resolved = os.path.realpath(path)
    except OSError:
        return None
    if resolved != real_root and not resolved.startswith(real_root.rstrip("/") + "/"):
        return None  # points out of the tree: the instance would not have it
    if not os.path.exists(resolved):
        return None  # dangling (or a loop)
    parent = posixpath.dirname(rel)
    if not os.path.isabs(target):
        lexical = posixpath.normpath(posixpath.join(parent, target))
        if lexical != ".." and not lexical.startswith("../"):
            return target  # already relative and inside: keep the user's spelling
    # An absolute target, or one that wanders out and back in: rewrite it relative to the link,
    # so the archive works wherever it is extracted.
    return posixpath.relpath(os.path.relpath(resolved, real_root), parent or ".")


# --- reading ------------------------------------------------------------------------------------


def _open(root: Path, rel: str, path: str) -> int:
    try:
        return os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise _unreadable(root, rel, exc) from None


def _read_file(root: Path, rel: str, path: str, size: int) -> bytes:
    """Exactly ``size`` bytes (its size when walked: the header is already written). A file
    that grew since is cut there; one that shrank is an error."""
    fd = _open(root, rel, path)
    try:
        data = os.read(fd, size) if size else b""
        while len(data) < size:
            more = os.read(fd, size - len(data))
            if not more:
                raise _shrank(root, rel, size, len(data))
            data += more
        return data
    except OSError as exc:
        raise _unreadable(root, rel, exc) from None
    finally:
        os.close(fd)


def _stream_file(
    root: Path, rel: str, path: str, size: int, sink: _GzipSink, max_bytes: int
) -> None:
    """A large file, piece by piece, stopping once the archive is over ``max_bytes`` (a
    forgotten 5 GB checkpoint costs a few megabytes of reading, not all of it)."""
    fd = _open(root, rel, path)
    try:
        left = size
        while left:
            piece = os.read(fd, min(left, _STREAM_CHUNK))
            if not piece:
                raise _shrank(root, rel, size, size - left)
            sink.put(piece)
            left -= len(piece)
            if sink.compressed > max_bytes:
                return  # the archive will be refused: the rest of the file does not matter
    except OSError as exc:
        raise _unreadable(root, rel, exc) from None
    finally:
        os.close(fd)


# --- writing ------------------------------------------------------------------------------------

_ZEROS = bytes(1024)
_MAGIC = b"ustar\x0000"  # POSIX ustar magic and version
_UID_GID = b"0000000\x00" * 2
_MTIME_FIELD = b"%011o\x00" % ARCHIVE_MTIME
# The checksum counts the checksum field as eight spaces; owner names and device numbers are
# empty (NUL), so only these fields and the variable ones add to it.
_CHECKSUM_BASE = sum(_UID_GID) + sum(_MTIME_FIELD) + sum(_MAGIC) + 8 * 32
_MODE_FIELDS = {m: b"%07o\x00" % m for m in (0o644, 0o755, 0o777)}
_MODE_SUMS = {m: sum(f) for m, f in _MODE_FIELDS.items()}
_USTAR_SIZE_LIMIT = 8**11  # the 12-byte octal size field's range
# name, mode, uid+gid, size, mtime, checksum, type, link name, magic+version, then NUL padding
# for owner and group names, device numbers and the name prefix (247 bytes).
_USTAR = struct.Struct("100s8s16s12s12s8sc100s8s247x")


def _header(name: str, kind: bytes, mode: int, size: int, link: str = "") -> bytes:
    """A 512-byte ustar header; for a name or link that is long or not ASCII, or a huge size,
    a PAX header from ``tarfile`` (rare, so its cost does not matter)."""
    if (
        len(name) > 100
        or len(link) > 100
        or size >= _USTAR_SIZE_LIMIT
        or not name.isascii()
        or not link.isascii()
    ):
        return _pax_header(name, kind, mode, size, link)
    raw_name, raw_link = name.encode("ascii"), link.encode("ascii")
    size_field = b"%011o\x00" % size
    checksum = (
        _CHECKSUM_BASE
        + sum(raw_name)
        + _MODE_SUMS[mode]
        + sum(size_field)
        + kind[0]
        + sum(raw_link)
    )
    return _USTAR.pack(
        raw_name,
        _MODE_FIELDS[mode],
        _UID_GID,
        size_field,
        _MTIME_FIELD,
        b"%06o\x00 " % checksum,
        kind,
        raw_link,
        _MAGIC,
    )


def _pax_header(name: str, kind: bytes, mode: int, size: int, link: str) -> bytes:
    info = tarfile.TarInfo(name)
    info.type, info.mode, info.size, info.linkname = kind, mode, size, link
    info.mtime, info.uid, info.gid, info.uname, info.gname = ARCHIVE_MTIME, 0, 0, "", ""
    return info.tobuf(tarfile.PAX_FORMAT, "utf-8", "surrogateescape")


class _GzipSink:
    """Collects the tar stream and gzips it on a worker thread.

    zlib releases the GIL while it compresses, so the next files are read meanwhile, as gzip runs
    beside tar in ``tar czf``. The writer hands over blocks of about :attr:`BLOCK` bytes, which
    keeps the hand-over cost negligible; the bounded queue keeps memory flat when reading
    outpaces compression.
    """

    BLOCK = 512 * 1024

    def __init__(self) -> None:
        # wbits 31: gzip container; zlib writes mtime 0 and no file name in the header.
        self._zip = zlib.compressobj(_COMPRESS_LEVEL, zlib.DEFLATED, 31)
        self._out: list[bytes] = []
        self._error: BaseException | None = None
        self.compressed = 0  # bytes out so far (a block or a few behind the writer)
        # Four blocks in flight keep the worker busy, and keep `compressed` at most ~2 MiB of
        # input behind, so an oversized upload is noticed soon after it passes the limit.
        self._blocks: queue.Queue[bytes | None] = queue.Queue(maxsize=4)
        self._thread: threading.Thread | None = threading.Thread(
            target=self._compress, name="flowlib-gzip", daemon=True
        )
        self._thread.start()

    def _compress(self) -> None:
        while (block := self._blocks.get()) is not None:
            if self._error is not None:
                continue  # keep draining so that the writer never blocks on a full queue
            try:
                out = self._zip.compress(block)
            except BaseException as exc:  # MemoryError and the like: re-raised by close()
                self._error = exc
                continue
            if out:
                self._out.append(out)
                self.compressed += len(out)

    def put(self, block: bytes) -> None:
        """Queue a piece of the tar stream (waits while the worker is four blocks behind)."""
        if block:
            self._blocks.put(block)

    def close(self) -> bytes:
        """The whole gzip stream."""
        self.abort()
        if self._error is not None:
            raise self._error
        self._out.append(self._zip.flush())
        data = b"".join(self._out)
        # Byte 9 is the OS that wrote the stream, which zlib takes from the platform it was built
        # for; fix it to 255 ("unknown", as Python's gzip module writes) so macOS and Linux agree.
        return data[:9] + b"\xff" + data[10:]

    def abort(self) -> None:
        """Stop the worker (idempotent); called on every exit path."""
        if self._thread is not None:
            self._blocks.put(None)
            self._thread.join()
            self._thread = None


# --- extracting ---------------------------------------------------------------------------------

_HAS_DATA_FILTER = hasattr(tarfile, "data_filter")


def _check_member(member: tarfile.TarInfo) -> None:
    name = member.name
    if name.startswith("/") or ".." in name.split("/"):
        raise PackagingError(f"refusing to extract the code archive: unsafe path {name!r}")
    if member.issym() or member.islnk():
        link = member.linkname
        base = posixpath.dirname(name) if member.issym() else ""  # hard links: archive-relative
        target = posixpath.normpath(posixpath.join(base, link))
        if link.startswith("/") or target == ".." or target.startswith("../"):
            raise PackagingError(
                f"refusing to extract the code archive: {name!r} links out of the tree "
                f"(to {link!r})"
            )
    elif not (member.isfile() or member.isdir()):
        raise PackagingError(f"refusing to extract the code archive: {name!r} is a device or FIFO")


def _inside(path: str, real_dest: str) -> bool:
    return path == real_dest or path.startswith(real_dest.rstrip("/") + "/")


def _extract_checked(tar: tarfile.TarFile, members: list[tarfile.TarInfo], dest: Path) -> None:
    """Extraction for a Python without the data filter: before each member, resolve where it
    would land and where its link would point against what is already on disk (links created
    by earlier members included), and refuse anything outside ``dest``."""
    real_dest = os.path.realpath(dest)
    for member in members:
        landing = os.path.realpath(os.path.join(real_dest, member.name))
        if not _inside(landing, real_dest):
            raise PackagingError(
                f"refusing to extract the code archive: {member.name!r} would be written "
                "outside the destination"
            )
        if member.issym():
            pointed = os.path.realpath(
                os.path.join(real_dest, os.path.dirname(member.name), member.linkname)
            )
            if not _inside(pointed, real_dest):
                raise PackagingError(
                    f"refusing to extract the code archive: {member.name!r} links out of the tree"
                )
        if member.isfile():
            member.mode &= 0o755  # no setuid, setgid, sticky or group/other write bits
        # Owned by whoever extracts (tarfile would chown to the archive's owners when root).
        member.uid, member.gid, member.uname, member.gname = os.getuid(), os.getgid(), "", ""
        tar.extract(member, real_dest, set_attrs=not member.isdir())


# --- errors -------------------------------------------------------------------------------------


def _human(n: float) -> str:
    """1536 -> '1.5 KiB'."""
    if n < 1024:
        return f"{int(n)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        n /= 1024
        if n < 1024 or unit == "TiB":
            break
    return f"{n:.1f} {unit}"


def _ignore_line(rel: str) -> str:
    """A .flowignore line matching exactly ``rel`` (anchored; wildcard characters escaped)."""
    escaped = "".join("\\" + ch if ch in "\\*?[]!# " else ch for ch in rel)
    return "/" + escaped


def _unreadable(root: Path, rel: str, exc: OSError) -> PackagingError:
    return PackagingError(
        f"cannot read {rel} in {root}: {exc.strerror or exc}",
        suggestions=[
            f"leave it out: add the line {_ignore_line(rel)} to .flowignore",
            "or make it readable by you (chmod u+r)",
        ],
        path=str(root / rel),
    )


def _shrank(root: Path, rel: str, expected: int, got: int) -> PackagingError:
    return PackagingError(
        f"{rel} in {root} changed while it was being packaged ({expected} bytes when listed, "
        f"{got} when read)",
        suggestions=[
            "package again once nothing writes into the directory",
            f"or leave it out: add the line {_ignore_line(rel)} to .flowignore",
        ],
        path=str(root / rel),
    )


def _too_huge(
    root: Path,
    entries: list[_Entry],
    files: int,
    total: int,
    max_files: int,
    max_total_bytes: int,
) -> PackagingError:
    what = f"your home directory ({root})" if root == _absolute(Path.home()) else str(root)
    limit = (
        f"more than {max_files:,} files"
        if files > max_files
        else f"more than {_human(max_total_bytes)}"
    )
    # Where the files are: the top-level directories holding most of those seen so far.
    tops = Counter(e[1].split("/", 1)[0] + "/" for e in entries if e[2] != _DIR and "/" in e[1])
    busiest = [f"{name} ({count:,} files)" for name, count in tops.most_common(3)]
    message = (
        f"{what} looks like a home or data directory, not a project: {limit} to upload "
        f"(stopped after {files:,} files, {_human(total)})"
    )
    if busiest:
        message += "; most are under " + ", ".join(busiest)
    example = " ".join(_ignore_line(name.rstrip("/")) + "/" for name, _ in tops.most_common(3))
    return PackagingError(
        message,
        suggestions=[
            "run from your project directory, or set code_dir to it",
            "add a .flowignore (gitignore syntax) that leaves out data, checkpoints and caches"
            + (f", e.g. the lines {example}" if example else ""),
            "or pass upload_code=False and get the code another way (git clone in the "
            "command, a volume)",
        ],
        files_seen=files,
        bytes_seen=total,
    )


def _too_big(
    root: Path,
    tree: _Tree,
    size: int,
    limit: int,
    *,
    stopped: bool,
    packed: bool = True,
    estimate: int | None = None,
) -> PackagingError:
    """Over ``limit``: ``size`` is the archive's (``packed``) or the files' real size. The
    suggested ``.flowignore`` lines name the largest files, only as many as it takes to get
    under the limit (for the archive: assuming the rest compresses as well as the whole)."""
    files, seen = [], set()
    for e in tree.entries:
        inode = tree.inodes.get(e[1])
        if e[2] == _FILE and (inode is None or inode not in seen):
            files.append(e)
            seen.add(inode)
    by_size = sorted(files, key=lambda e: (-e[4], e[1]))
    listing = "\n".join(f"  {e[1]}  {_human(e[4])}{_sparse(tree, e[1])}" for e in by_size[:5])
    # Bytes of files to leave out: the excess, in uncompressed bytes.
    over = (1 - limit / (estimate or size)) * tree.total if packed else size - limit
    enough, dropped = [], 0
    for e in by_size:
        if dropped >= over:
            break
        enough.append(e)
        dropped += e[4]
    lines = "\n".join("      " + _ignore_line(e[1]) for e in enough)
    where = ".flowignore"
    if tree.ignore_file == ".gitignore":
        where += " (it replaces .gitignore: copy .gitignore's lines into it first)"
    if packed:
        what = (
            f"({'stopped at ' if stopped else ''}{_human(size)} compressed; {len(files):,} files, "
            f"{_human(tree.total)} uncompressed)"
        )
    else:
        sparse = " (sparse files count at their full size: they unpack in full)"
        what = (
            f"(it unpacks to {_human(size)} in {len(files):,} files, "
            f"{_human(tree.allocated)} on this disk{sparse if tree.on_disk else ''})"
        )
    return PackagingError(
        f"the code upload from {root} is over the {_human(limit)} limit {what}. "
        f"The largest files:\n{listing}",
        suggestions=[
            f"leave {'it' if len(enough) == 1 else 'them'} out with "
            f"{'this line' if len(enough) == 1 else 'these lines'} in {where}:\n{lines}",
            "keep data and checkpoints in a volume or a data mount and read them from there",
            "or pass upload_code=False and get the code another way (git clone in the "
            "command, a volume)",
        ],
        archive_bytes=size if packed else None,
        unpacked_bytes=tree.total,
        limit=limit,
    )


def _sparse(tree: _Tree, rel: str) -> str:
    disk = tree.on_disk.get(rel)
    return "" if disk is None else f" (sparse: {_human(disk)} on disk)"
