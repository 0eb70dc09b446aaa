"""`@app.function` keeps static typing: mypy --strict checks calls against the signature."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("mypy")

TYPED = """
from collections.abc import Iterator
from typing import assert_type

import flowlib

app = flowlib.App("typed")


@app.function
def square(x: int) -> int:
    return x * x


@app.function(gpu="A100", retries=flowlib.Retries(max_retries=2))
def label(name: str, *, loud: bool = False) -> str:
    return name.upper() if loud else name


def uses() -> None:
    assert_type(square.remote(3), int)
    assert_type(square.local(3), int)
    assert_type(square(3), int)
    assert_type(label.remote("a", loud=True), str)
    call: flowlib.FunctionCall[int] = square.spawn(3)
    assert_type(call.get(timeout=1.0), int)
    assert_type(square.map([1, 2]), Iterator[int])
    assert_type(square.map([1, 2], return_exceptions=True), Iterator[int | BaseException])
"""

WRONG = """
def misuses() -> None:
    square.remote("three")
    label.remote("a", quiet=True)
    label.spawn()
"""


def _mypy(tmp_path: Path, code: str) -> subprocess.CompletedProcess[str]:
    (tmp_path / "typed_app.py").write_text(textwrap.dedent(code))
    return subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "typed_app.py"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_the_decorated_function_keeps_its_types(tmp_path: Path) -> None:
    done = _mypy(tmp_path, TYPED)
    assert done.returncode == 0, done.stdout


def test_calls_that_do_not_match_the_signature_are_type_errors(tmp_path: Path) -> None:
    done = _mypy(tmp_path, TYPED + WRONG)
    assert 'Argument 1 to "remote" of "Function" has incompatible type "str"' in done.stdout
    assert 'Unexpected keyword argument "quiet" for "remote"' in done.stdout
    assert 'Missing positional argument "name" in call to "spawn"' in done.stdout
    assert "Found 3 errors" in done.stdout
