"""Every example and every code block in the README and docs/ runs, for real, on the local provider.

Python blocks of one file run in order in one interpreter; bash blocks run with `bash -e` from the
repository root (blocks that install flowlib are what CI itself runs, so they are left out here).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from extras import need

ROOT = Path(__file__).parents[2]
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
# Docs whose examples need an optional extra (skipped without it, required in CI).
NEEDS = {"integrations.md": ("lightning", "transformers", "accelerate", "tensorboard")}
FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```", re.S | re.M)


def blocks(path: Path, language: str) -> list[str]:
    return [body for lang, body in FENCE.findall(path.read_text()) if lang == language]


def env_for(home: Path) -> dict[str, str]:
    bindir = str(Path(sys.executable).parent)
    return {
        **os.environ,
        "FLOW_HOME": str(home / ".flow"),
        "HOME": str(home),
        "PATH": f"{bindir}:{os.environ.get('PATH', '')}",
    }


@pytest.mark.parametrize("doc", [d for d in DOCS if blocks(d, "python")], ids=lambda d: d.name)
def test_python_blocks_run(doc: Path, isolated_home: Path) -> None:
    if doc.name in NEEDS:
        need(*NEEDS[doc.name])
    code = "\n\n".join(blocks(doc, "python"))
    result = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=env_for(isolated_home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"{doc.name}:\n{result.stdout}\n{result.stderr}"


def runnable_bash(doc: Path) -> list[str]:
    return [b for b in blocks(doc, "bash") if "pip install" not in b]


@pytest.mark.parametrize("doc", [d for d in DOCS if runnable_bash(d)], ids=lambda d: d.name)
def test_bash_blocks_run(doc: Path, isolated_home: Path) -> None:
    for block in runnable_bash(doc):
        result = subprocess.run(
            ["bash", "-e", "-c", block],
            cwd=ROOT,
            env=env_for(isolated_home),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, f"{doc.name}:\n{block}\n{result.stdout}\n{result.stderr}"


@pytest.mark.parametrize("example", sorted((ROOT / "examples").glob("*.py")), ids=lambda p: p.name)
def test_python_examples_run(example: Path, isolated_home: Path) -> None:
    cwd = ROOT
    if example.name == "train.py":  # the workload the others submit; it writes checkpoints/
        args, cwd = [sys.executable, str(example), "2"], isolated_home
    else:
        args = [sys.executable, str(example)]
    result = subprocess.run(
        args, cwd=cwd, env=env_for(isolated_home), capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (ROOT / "checkpoints").exists(), "a test wrote checkpoints/ into the repository"


def test_the_yaml_example_runs_from_the_cli(isolated_home: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "run", "examples/hello.yaml", "--wait"],
        cwd=ROOT,
        env=env_for(isolated_home),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    logs = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "logs", "hello"],
        cwd=ROOT,
        env=env_for(isolated_home),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert "hello from hello" in logs.stdout
    assert '"epoch": 2' in logs.stdout
