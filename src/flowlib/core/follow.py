"""Reading a task's log as lines: its last lines, or following it as it grows (``logs(follow=True)``
of every provider, whatever the log is read through: a local file, SSH, a cloud VM's disk)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

__all__ = ["complete_lines", "follow_lines", "keep_last", "tail_lines"]


def _text(line: bytes) -> str:
    return line.decode("utf-8", "replace")


def keep_last(lines: list[str], tail: int | None) -> list[str]:
    """The last ``tail`` of ``lines`` (all of them when None)."""
    return lines if tail is None else lines[-tail:] if tail > 0 else []


def tail_lines(data: bytes, tail: int | None) -> list[str]:
    """The last ``tail`` lines of a log, the unfinished last line included."""
    return keep_last(_text(data).splitlines(), tail)


def complete_lines(data: bytes, tail: int | None) -> tuple[list[str], int]:
    """The last ``tail`` complete lines of ``data`` and the offset just after them (where an
    unfinished last line starts)."""
    end = data.rfind(b"\n") + 1
    return keep_last(_text(data[:end]).splitlines(), tail), end


def follow_lines(
    poll: Callable[[int], tuple[bytes | None, bool]],
    sleep: Callable[[], object],
    *,
    tail: int | None = None,
    position: int = 0,
) -> Iterator[str]:
    """Yield a growing log's lines as they are written, until it is finished.

    ``poll(position)`` returns the log's bytes from ``position`` on (None while there is no log
    yet) and whether the log is finished, judged before those bytes were read: they are then
    its last. The first bytes found start with only their last ``tail`` complete lines; an
    unfinished line is held back until its newline comes, or the log is finished. ``sleep``
    is called between polls.
    """
    pending = b""
    first = True
    while True:
        chunk, finished = poll(position)
        if chunk is not None:
            if first and tail is not None:
                lines, cut = complete_lines(chunk, tail)
                yield from lines
                chunk, position = chunk[cut:], position + cut
            first = False
            position += len(chunk)
            *complete, pending = (pending + chunk).split(b"\n")
            for line in complete:
                yield _text(line)
        if finished:
            if pending:
                yield _text(pending)
            return
        sleep()
