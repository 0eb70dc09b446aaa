"""Driving ``flow ui`` for tests, benchmarks and screenshots: the real server in its own process,
and the system's headless Chromium through Playwright (``pip install playwright``; the browser is
Debian's ``chromium`` package: Playwright's own browser download is not needed).

    with dashboard(home) as ui, chromium() as browser:
        page = browser.new_page()
        page.goto(ui.url)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM_ARGS", "Dashboard", "chromium", "chromium_path", "dashboard"]

# No first-run dialogs, no calls home, no GPU, no QUIC: a quiet browser that only talks to us.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)


@dataclass(frozen=True)
class Dashboard:
    """A running ``flow ui``: ``url`` carries the token, ``base`` does not."""

    url: str
    base: str
    token: str
    process: subprocess.Popen[str]


@contextlib.contextmanager
def dashboard(
    home: Path, *, timeout: float = 20.0, env: dict[str, str] | None = None
) -> Iterator[Dashboard]:
    """``flow ui --port 0 --no-open`` for the store under ``home``, stopped afterwards."""
    environ = {**os.environ, **(env or {}), "FLOW_HOME": str(home)}
    process = subprocess.Popen(
        [sys.executable, "-m", "flowlib.cli", "ui", "--port", "0", "--no-open"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environ,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()  # the server prints its URL once it listens
        if not line.startswith("flow ui: "):
            _, err = process.communicate(timeout=timeout)
            raise RuntimeError(f"flow ui did not start: {line!r} {err}")
        url = line.removeprefix("flow ui: ").strip()
        base, _, token = url.partition("/?token=")
        yield Dashboard(url, base, token, process)
    finally:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def chromium_path() -> str | None:
    """The system Chromium (Debian: ``apt-get install chromium``), or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


@contextlib.contextmanager
def chromium() -> Iterator[Any]:
    """A headless system Chromium with a fresh profile, driven by Playwright (its ``Browser``)."""
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:
        raise RuntimeError("no chromium here: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="flow-ui-browser-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=path, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield context
        finally:
            context.close()
