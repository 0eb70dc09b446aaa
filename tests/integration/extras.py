"""Tests that need an optional extra (``train``: torch, lightning, transformers) skip without it
on a developer's machine, and fail in CI, where ``FLOWLIB_REQUIRE_TRAIN`` is set."""

from __future__ import annotations

import importlib.util
import os

import pytest


def need(*modules: str) -> None:
    """Skip (or, under FLOWLIB_REQUIRE_TRAIN, fail) unless every module can be imported."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if not missing:
        return
    why = f"needs {', '.join(missing)}: pip install torch==2.13.0 && pip install -e '.[train]'"
    if os.environ.get("FLOWLIB_REQUIRE_TRAIN"):
        pytest.fail(f"FLOWLIB_REQUIRE_TRAIN is set, but the test {why}")
    pytest.skip(why)
