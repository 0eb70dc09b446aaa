"""Helpers for tests of real local processes: wait for a condition; a fake `nvidia-smi`.

The benchmarks wait with :func:`until` too (``benchmarks/bench_governor.py``), so nothing here
imports pytest at run time."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar

if TYPE_CHECKING:
    import pytest

T = TypeVar("T")


def until(check: Callable[[], T], timeout: float = 20.0, every: float = 0.02) -> T:
    """The first truthy value of ``check()``, polled every ``every`` seconds; AssertionError
    after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise AssertionError("condition not met in time")


def fake_nvidia_smi(tmp_path: Path, first: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `nvidia-smi` on PATH that prints the file it returns (a copy of ``first``, an output of
    the governor's query), for a test to swap: a GPU machine without a GPU."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    reading = tmp_path / "reading.csv"
    shutil.copy(first, reading)
    script = bindir / "nvidia-smi"
    script.write_text(f"#!/bin/bash\ncat {reading}\n")
    script.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    return reading
