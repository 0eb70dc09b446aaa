"""Files that hold a task's env or other secrets (startup scripts, kept logs, exit codes, the
keeper's state): readable by their owner only from the first byte, whatever the umask or the
mode of the directory they are in."""

from __future__ import annotations

import os
from pathlib import Path
from typing import BinaryIO

__all__ = ["open_private", "write_private"]


def open_private(path: str | Path, *, append: bool = False, mode: int = 0o600) -> BinaryIO:
    """Open ``path`` for writing (truncated, or appended to with ``append``) with permission
    bits exactly ``mode``: a new file is created with them (never wider, then narrowed), an
    existing one gets them before a byte is written."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_CLOEXEC | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, mode)
    try:
        os.fchmod(fd, mode)  # the umask may have narrowed it; an older file may be wider
        return os.fdopen(fd, "ab" if append else "wb")
    except BaseException:
        os.close(fd)
        raise


def write_private(path: str | Path, data: bytes | str, *, mode: int = 0o600) -> None:
    """Replace ``path``'s content with ``data`` (a str as UTF-8), as :func:`open_private` opens
    it, atomically: written to a private file beside it, then renamed over it, so a reader
    never sees half (its directory is created 0700 when missing). ``mode=0o700`` for a script
    that is run by its path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open_private(tmp, mode=mode) as fh:
            fh.write(data.encode("utf-8") if isinstance(data, str) else data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
