"""What ``flow`` shows while it waits for a task: never silence.

On a terminal, one status line redrawn in place (twice a second): what the provider is doing
(the task's ``provider_state`` and ``message``), the instance type and price when known, and the
time waited; it is erased when the task's log starts or the wait ends. Piped, one timestamped
line on stderr each time that state changes (never a redraw). ``NO_COLOR`` turns colour off.
Standard library only: plain ANSI escapes.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import TYPE_CHECKING, TextIO

from flowlib.cli._output import duration
from flowlib.models import Task, TaskStatus

if TYPE_CHECKING:
    from flowlib.flow import Flow

__all__ = ["WaitDisplay", "describe", "follow_with_status"]

REDRAW_S = 0.5


def describe(task: Task) -> str:
    """``pending: bid open at $2.40/hour: waiting (a100, $2.40/h)``: the state in one line."""
    what = [task.status.value]
    state = task.provider_state
    if state and state.lower() != task.status.value:
        what.append(state)
    if task.message:
        what.append(task.message)
    text = ": ".join(what)
    facts = [f for f in (task.instance_type, task.cost_per_hour and f"{task.cost_per_hour}/h") if f]
    return f"{text} ({', '.join(facts)})" if facts else text


class WaitDisplay:
    """Shows a waiting task's state on ``stream`` (default stderr); see the module docstring.
    Call :meth:`update` with each fresh snapshot, :meth:`clear` before printing anything else
    on the terminal, :meth:`close` when done."""

    def __init__(
        self,
        task: Task,
        stream: TextIO | None = None,
        *,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.stream = stream or sys.stderr
        self.tty = _isatty(self.stream)
        self.color = (
            self.tty and not os.environ.get("NO_COLOR") and os.environ.get("TERM") != "dumb"
        )
        self._monotonic = monotonic
        self._start = monotonic()
        self._lock = threading.Lock()
        self._text = ""
        self._shown = False
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self.update(task)
        if self.tty:
            self._ticker = threading.Thread(target=self._tick, name="flow-wait", daemon=True)
            self._ticker.start()

    def update(self, task: Task, unanswered: str | None = None) -> None:
        """Show ``task``; ``unanswered``: why its provider could not be asked this time (the
        line then says the state shown is the last known one)."""
        text = f"{task.task_id} {describe(task)}"
        if unanswered:
            text += f"; last known: {task.provider} could not be asked ({unanswered})"
        with self._lock:
            changed = text != self._text
            self._text = text
            if self.tty:
                self._draw()
            elif changed:
                stamp = datetime.now().astimezone().strftime("%H:%M:%S")
                print(f"{stamp} {text}", file=self.stream, flush=True)

    def clear(self) -> None:
        """Erase the status line (a terminal) so other output starts on a clean line."""
        with self._lock:
            if self.tty and self._shown:
                self.stream.write("\r\x1b[2K")
                self.stream.flush()
                self._shown = False

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=2)
            self._ticker = None
        self.clear()

    def __enter__(self) -> WaitDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _tick(self) -> None:
        while not self._stop.wait(REDRAW_S):
            with self._lock:
                if not self._stop.is_set():
                    self._draw()

    def _draw(self) -> None:
        waited = duration(self._monotonic() - self._start)
        width = _width(self.stream) - 1
        line = f"{self._text} [{waited}]"
        if len(line) > width:
            line = line[: max(0, width - 3)] + "..."
        if self.color:
            line = f"\x1b[2m{line}\x1b[0m"
        self.stream.write(f"\r\x1b[2K{line}")
        self.stream.flush()
        self._shown = True


def _isatty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _width(stream: TextIO) -> int:
    try:
        columns = os.get_terminal_size(stream.fileno()).columns
    except (AttributeError, OSError, ValueError):
        return 80
    return columns if columns > 20 else 80  # a pty nobody sized says 0


def follow_with_status(
    flow: Flow, task: Task, *, include_metrics: bool = False, poll_s: float = 0.5
) -> Iterator[str]:
    """The task's log lines as :meth:`Flow.follow_logs` yields them, with the status line shown
    until the first one: while the task is pending it is polled here (the provider says why it
    waits); once it runs, the line keeps counting until its output starts."""
    display = WaitDisplay(task)
    try:
        while task.status == TaskStatus.PENDING:
            time.sleep(poll_s)
            task = flow.get_task(task.task_id)
            display.update(task, flow.lifecycle.unanswered.get(task.provider))
        first = True
        for line in flow.follow_logs(task.task_id, include_metrics=include_metrics):
            if first:
                display.close()
                first = False
            yield line
    finally:
        display.close()
