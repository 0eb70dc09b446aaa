"""Fixtures shared by integration tests: a real single-node SLURM, started once per session.

``slurm_cluster`` is used by every test that needs SLURM (the sbatch oracle, the SLURM provider).
When no controller answers and the tests run as root, ``scripts/slurm-up.sh`` brings one up for
the session and ``scripts/slurm-down.sh`` stops it at the end (a cluster that was already up,
as in CI, is left alone). Where SLURM cannot be started the tests skip with the reason, unless
``FLOWLIB_REQUIRE_SLURM=1`` (CI), which turns the skip into a failure; ``FLOWLIB_SLURM=0`` skips.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from clouds import fcp, hyperstack  # noqa: F401  (both emulated clouds; see clouds.py)
from s3server import s3, s3_server  # noqa: F401  (a real loopback S3 API; see s3server.py)
from sshd import sshd, sshd_factory  # noqa: F401  (a real loopback sshd; see sshd.py)

ROOT = Path(__file__).resolve().parents[2]


def run_slurm_command(*argv: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    """A SLURM command with this process's SBATCH_*/SLURM_* variables removed."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SBATCH_", "SLURM_"))}
    return subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def _slurm_reason() -> tuple[str | None, bool]:
    """(None, started) when a controller answers, starting one if needed; else (why not, False)."""
    if os.environ.get("FLOWLIB_SLURM") == "0":
        return "FLOWLIB_SLURM=0", False
    if shutil.which("scontrol") and run_slurm_command("scontrol", "ping").returncode == 0:
        return None, False
    if os.geteuid() != 0:
        return "SLURM is not running and scripts/slurm-up.sh needs root", False
    if not shutil.which("apt-get") and not shutil.which("scontrol"):
        return "no apt-get to install SLURM", False
    up = run_slurm_command("bash", str(ROOT / "scripts" / "slurm-up.sh"))
    if up.returncode != 0:
        return f"scripts/slurm-up.sh failed: {(up.stdout + up.stderr)[-500:]}", False
    return None, True


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[None]:
    """A SLURM controller that answers, for the whole session (or a skip / CI failure)."""
    reason, started = _slurm_reason()
    if reason is not None:
        if os.environ.get("FLOWLIB_REQUIRE_SLURM") == "1":
            pytest.fail(f"SLURM required (FLOWLIB_REQUIRE_SLURM=1) but unavailable: {reason}")
        pytest.skip(f"no local SLURM: {reason}")
    yield
    if started:  # leave the machine as we found it
        run_slurm_command("bash", str(ROOT / "scripts" / "slurm-down.sh"))
