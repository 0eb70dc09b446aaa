"""Clocks for emulators: the system clock, or a manual one that tests step.

An emulator reads the time only through :class:`EmulatorClock`, so a test can place a bid, call
``clock.advance(30)`` and see the bid allocated, without waiting. :class:`ManualClock` also has the
``monotonic``/``sleep`` pair of :class:`flowlib.core.seams.Clock`, so the same object can drive a
provider's polling loop: a provider that sleeps moves the emulator's time forward.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from typing import Protocol

__all__ = ["EmulatorClock", "ManualClock", "SystemClock", "iso"]


class EmulatorClock(Protocol):
    def time(self) -> float:
        """Seconds since the epoch, as the emulated cloud sees them."""
        ...


class SystemClock:
    """The real time. Emulated transitions then happen in real seconds."""

    def time(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


class ManualClock:
    """A clock that moves only when told to (``advance``, ``set`` or ``sleep``). Thread-safe."""

    def __init__(self, start: float = 1_767_225_600.0) -> None:  # 2026-01-01T00:00:00Z
        self._now = float(start)
        self._lock = threading.Lock()

    def time(self) -> float:
        with self._lock:
            return self._now

    def monotonic(self) -> float:
        return self.time()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("a clock cannot go backwards")
        with self._lock:
            self._now += seconds

    def sleep(self, seconds: float) -> None:
        self.advance(max(0.0, seconds))

    def set(self, epoch_seconds: float) -> None:
        with self._lock:
            if epoch_seconds < self._now:
                raise ValueError("a clock cannot go backwards")
            self._now = float(epoch_seconds)


def iso(epoch_seconds: float) -> str:
    """``2026-01-01T00:00:00Z``: the timestamp shape of the Mithril API."""
    moment = datetime.fromtimestamp(epoch_seconds, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
