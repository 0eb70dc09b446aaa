"""flowlib's SSH key made by many processes at once, as on a first `flow run` of an array: every
caller succeeds and gets the one key pair on disk."""

from __future__ import annotations

import multiprocessing
import shutil
import subprocess
import traceback
from pathlib import Path
from typing import Any

import pytest

from flowlib.core.ssh import ensure_key_pair

PROCESSES = 30


def _first_use(home: str, barrier: Any, results: Any) -> None:
    try:
        barrier.wait(timeout=60)
        pair = ensure_key_pair(Path(home))
        results.put(("ok", pair.public_key))
    except BaseException:
        results.put(("error", traceback.format_exc()))


@pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="no ssh-keygen")
def test_processes_making_the_key_at_once_all_get_the_key_on_disk(tmp_path: Path) -> None:
    home = tmp_path / "home"
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(PROCESSES)
    results = ctx.Queue()
    procs = [
        ctx.Process(target=_first_use, args=(str(home), barrier, results)) for _ in range(PROCESSES)
    ]
    for p in procs:
        p.start()
    outcomes = [results.get(timeout=100) for _ in procs]
    for p in procs:
        p.join(30)

    failures = [text for kind, text in outcomes if kind != "ok"]
    assert failures == [], failures[0]
    private = home / "ssh" / "id_ed25519"
    on_disk = (home / "ssh" / "id_ed25519.pub").read_text().strip()
    assert {text for _, text in outcomes} == {on_disk}
    # The public half on disk is the private key's own.
    derived = subprocess.run(
        ["ssh-keygen", "-y", "-f", str(private)], capture_output=True, text=True, check=True
    ).stdout
    assert derived.split()[:2] == on_disk.split()[:2]
    assert private.stat().st_mode & 0o777 == 0o600
    # Nothing half-made left behind: the pair and the lock file only.
    assert sorted(p.name for p in (home / "ssh").iterdir() if p.name != "cm") == [
        "id_ed25519",
        "id_ed25519.lock",
        "id_ed25519.pub",
    ]
