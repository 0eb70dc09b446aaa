"""While `flow` waits for a task it is never silent: a live status line on a terminal (tested
through a pty), timestamped lines on stderr when piped, only when the state changes.

The task runs on the FCP emulator with its default timing, so it spends seconds in states that
change (bid open, instances allocating, starting...)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ptyrun import longest_silence, run_in_pty

from flowlib.testing.emulators.fcp import FcpEmulator, Timing

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
pytestmark = pytest.mark.slow


@pytest.fixture
def demo(tmp_path: Path) -> Iterator[Path]:
    with FcpEmulator(timing=Timing()) as emulator:
        emulator.start()
        (tmp_path / ".flow").mkdir()
        settings = {"providers": {"fcp": emulator.provider_settings()}}
        (tmp_path / ".flow/config.yaml").write_text(yaml.safe_dump(settings))
        yield tmp_path


def _env(**extra: str) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", **extra}


FLOW = [sys.executable, "-m", "flowlib.cli"]


@pytest.mark.parametrize("mode", ["--wait", "--follow"])
def test_a_tty_wait_shows_what_the_provider_is_doing_with_no_silence(demo: Path, mode: str) -> None:
    argv = [*FLOW, "run", "-i", "a100", "--provider", "fcp", mode, "echo done here"]
    code, chunks = run_in_pty(argv, demo, _env())
    text = "".join(c for _, c in chunks)
    assert code == 0, text
    silence = longest_silence(chunks)
    assert silence < 2.0, f"{silence:.1f} s of silence:\n{text}"
    plain = ANSI.sub("", text)
    assert "pending" in plain and "bid open at $" in plain, plain
    assert "\x1b[2m" in text  # dim: colour is on without NO_COLOR
    if mode == "--follow":
        assert "done here" in plain
    assert "completed" in plain


def test_no_color_is_honoured(demo: Path) -> None:
    argv = [*FLOW, "run", "-i", "a100", "--provider", "fcp", "--wait", "true"]
    code, chunks = run_in_pty(argv, demo, _env(NO_COLOR="1"))
    text = "".join(c for _, c in chunks)
    assert code == 0, text
    assert "\x1b[2m" not in text and "pending" in text


def test_piped_the_wait_prints_timestamped_state_changes_on_stderr(demo: Path) -> None:
    result = subprocess.run(
        [*FLOW, "run", "-i", "a100", "--provider", "fcp", "--wait", "echo hi"],
        cwd=demo, env=_env(), capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "\x1b" not in result.stderr and "\r" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) >= 2, result.stderr
    assert all(re.match(r"\d\d:\d\d:\d\d task-\w+ (pending|running)", line) for line in lines)
    assert len(set(lines)) == len(lines)  # a line per change, never a repeat
    assert any("bid open at $" in line for line in lines), result.stderr


def test_logs_follow_of_a_pending_task_says_why_it_waits(demo: Path) -> None:
    submit = subprocess.run(
        [*FLOW, "run", "-i", "a100", "--provider", "fcp", "echo from the log"],
        cwd=demo, env=_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    task_id = submit.stdout.split()[1]
    code, chunks = run_in_pty([*FLOW, "logs", task_id, "-f"], demo, _env())
    text = ANSI.sub("", "".join(c for _, c in chunks))
    assert code == 0, text
    assert "pending" in text and "from the log" in text
    assert longest_silence(chunks) < 2.0, text
