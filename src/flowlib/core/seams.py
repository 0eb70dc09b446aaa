"""Seams for I/O that tests replace: running commands, and the clock.

Everything flowlib runs as a subprocess goes through a :class:`CommandRunner`; everything that
waits goes through a :class:`Clock`, so lifecycle tests need not wait in real time.
"""

from __future__ import annotations

import subprocess
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from flowlib.telemetry import command_span, record_exit

__all__ = [
    "SYSTEM_CLOCK",
    "Clock",
    "CommandResult",
    "CommandRunner",
    "SubprocessRunner",
    "SystemClock",
]


@dataclass(frozen=True)
class CommandResult:
    argv: tuple[str, ...]
    returncode: int
    stdout: str
    stderr: str


class CommandRunner(Protocol):
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        """Run ``argv`` to completion. A missing program raises FileNotFoundError."""
        ...


class SubprocessRunner:
    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        with command_span(argv, kind="subprocess") as span:  # the program's name, no arguments
            proc = subprocess.run(
                list(argv),
                capture_output=True,
                text=True,
                timeout=timeout,
                env=dict(env) if env is not None else None,
                input=input,
                check=False,
            )
            record_exit(span, proc.returncode)
        return CommandResult(tuple(argv), proc.returncode, proc.stdout, proc.stderr)


class Clock(Protocol):
    def monotonic(self) -> float: ...

    def sleep(self, seconds: float) -> None: ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        time.sleep(seconds)


SYSTEM_CLOCK = SystemClock()
