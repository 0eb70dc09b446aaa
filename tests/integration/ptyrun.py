"""Run a command with a pseudo-terminal as its terminal, and see when its output came: what a
user at a terminal sees (the status line of a wait, and how long nothing happened)."""

from __future__ import annotations

import itertools
import os
import pty
import select
import subprocess
import time
from pathlib import Path

__all__ = ["longest_silence", "run_in_pty"]


def run_in_pty(
    argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 90
) -> tuple[int, list[tuple[float, str]]]:
    """Run ``argv`` with a pty as stdin/stdout/stderr: (exit status, (arrival, text) chunks)."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        argv, cwd=cwd, env=env, stdin=follower, stdout=follower, stderr=follower, close_fds=True
    )
    os.close(follower)
    chunks: list[tuple[float, str]] = [(time.monotonic(), "")]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        ready, _, _ = select.select([leader], [], [], 0.1)
        if ready:
            try:
                data = os.read(leader, 4096)
            except OSError:  # the other side closed
                break
            if not data:
                break
            chunks.append((time.monotonic(), data.decode(errors="replace")))
        elif proc.poll() is not None:
            break
    os.close(leader)
    if proc.poll() is None:
        proc.kill()
    return proc.wait(timeout=30), chunks


def longest_silence(chunks: list[tuple[float, str]]) -> float:
    """The longest time between two pieces of output (from the start)."""
    return max((b - a for (a, _), (b, _) in itertools.pairwise(chunks)), default=0.0)
