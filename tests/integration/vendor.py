"""A cloud vendor's own client, installed from PyPI into a virtual environment of its own.

Mithril's ``flow-compute`` installs a ``flow`` command and a ``flow`` package that would shadow
ours, so it never goes into our environment: it gets a venv under the pytest cache, built once
(later runs reuse it). Where PyPI cannot be reached the tests that need it skip, naming why.
Building it holds a lock on the cache: xdist workers (and two runs at once) build it once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

# Read at import, before the suite's fixtures point HOME at a temporary directory.
USER_CACHE = Path.home() / ".cache" / "flowlib-test"
# What pip says when the index cannot be reached (offline, no DNS, a proxy refusing).
UNREACHABLE = (
    "No matching distribution found",
    "Could not find a version that satisfies",
    "NewConnectionError",
    "Max retries exceeded",
    "Temporary failure in name resolution",
    "ProxyError",
)


def cache_dir(config: pytest.Config, name: str) -> Path:
    """Where downloads live between runs: $FLOWLIB_TEST_CACHE, else the pytest cache."""
    override = os.environ.get("FLOWLIB_TEST_CACHE")
    pytest_cache = getattr(config, "cache", None)  # None under -p no:cacheprovider
    if override:
        path = Path(override) / name
    elif pytest_cache is not None:
        path = Path(pytest_cache.mkdir(name))
    else:
        path = USER_CACHE / name
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextlib.contextmanager
def locked(cache: Path) -> Iterator[None]:
    """Held by one process at a time (an exclusive ``flock`` on ``cache/.lock``)."""
    with open(cache / ".lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def vendor_venv(cache: Path, requirement: str) -> Path:
    """A venv with ``requirement`` (``flow-compute==3.28.2``) installed; its directory."""
    with locked(cache):
        return _vendor_venv(cache, requirement)


def _vendor_venv(cache: Path, requirement: str) -> Path:
    slug = "".join(c if c.isalnum() or c in ".-" else "-" for c in requirement)
    venv = cache / slug
    stamp = venv / ".installed"
    if stamp.exists():
        return venv
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    argv = [
        str(venv / "bin" / "python"), "-m", "pip", "install", "-q",
        "--disable-pip-version-check", requirement,
    ]  # fmt: skip
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    except subprocess.TimeoutExpired:
        shutil.rmtree(venv, ignore_errors=True)
        pytest.skip(f"PyPI did not answer in time for {requirement}")
    if done.returncode != 0:
        shutil.rmtree(venv, ignore_errors=True)
        why = done.stderr.strip()[-300:]
        if any(sign in done.stderr for sign in UNREACHABLE):
            pytest.skip(f"PyPI cannot be reached for {requirement}: {why}")
        pytest.fail(f"pip could not install {requirement}: {why}")
    stamp.write_text(requirement + "\n")
    return venv
