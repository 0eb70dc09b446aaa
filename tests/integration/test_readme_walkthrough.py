"""The README as a new user meets it: its shell blocks in order, in a copy of the examples with
a fresh HOME, FLOW_HOME and TMPDIR, each at a terminal (a pty). It checks what test_docs.py does
not: that nothing waits silently for more than 2 s, and that once the demo is over no process it
started is left running and nothing is left in its temporary directory but the user's own.

(Blocks that install flowlib are left out, as in test_docs.py, whose machinery this reuses.)
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
from ptyrun import longest_silence, run_in_pty
from test_docs import ROOT, env_for, runnable_bash

pytestmark = pytest.mark.slow
SILENCE_S = 2.0


def _ours(marker: str) -> list[str]:
    """Processes whose command line, working directory or environment names ``marker``."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            text = (proc / "cmdline").read_bytes() + (proc / "environ").read_bytes()
            cwd = str((proc / "cwd").resolve())
        except OSError:
            continue
        if marker.encode() in text or cwd.startswith(marker):
            found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:200]!r}")
    return found


def test_the_readme_walkthrough(tmp_path: Path) -> None:
    repo = tmp_path / "flowlib"
    repo.mkdir()
    shutil.copytree(ROOT / "examples", repo / "examples")
    shutil.copy(ROOT / "README.md", repo / "README.md")
    home = tmp_path / "home"
    tmp = tmp_path / "tmp"
    home.mkdir()
    tmp.mkdir()
    env = {**env_for(home), "TMPDIR": str(tmp), "TERM": "xterm"}
    report = []
    for block in runnable_bash(repo / "README.md"):
        code, chunks = run_in_pty(["bash", "-e", "-c", block], repo, env, timeout=180)
        text = "".join(c for _, c in chunks)
        assert code == 0, f"{block}\n{text}"
        silence = longest_silence(chunks)
        report.append(f"{silence:4.1f} s  {block.splitlines()[0]}")
        assert silence < SILENCE_S, f"{silence:.1f} s of silence in:\n{block}\n{text}"
    # The demo is over: what it started must end (give a keeper a moment to notice).
    deadline = time.monotonic() + 15
    while _ours(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert _ours(str(tmp_path)) == [], "\n".join(report)
    # Under TMPDIR: only the directory the demo itself made with mktemp -d.
    left = [p for p in tmp.iterdir() if not p.name.startswith("tmp.")]
    assert left == [], left
