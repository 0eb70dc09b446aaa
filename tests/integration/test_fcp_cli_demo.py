"""The README's offline demo, exactly: the FCP emulator served from its own process, and `flow run
--provider fcp` from another one, going from submit to the real exit code with real logs."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

DEMO_WORKLOAD = 'echo "hello from $FLOW_TASK_NAME"; nvidia-smi -L || echo "no GPU here"; exit 3'


def flow(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_offline_demo_runs_a_task_on_the_emulator_from_the_cli(
    tmp_path: Path, isolated_home: Path
) -> None:
    demo = tmp_path / "demo"
    demo.mkdir()
    (demo / "train.py").write_text("print('training')\n")
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    server = subprocess.Popen(
        [sys.executable, "-m", "flowlib.testing.emulators", "fcp", "--port", "0",
         "--timing", "instant", "--flow-config", ".flow/config.yaml"],
        cwd=demo,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert server.stdout is not None
        lines = [server.stdout.readline() for _ in range(5)]
        assert lines[-1].startswith("flowlib config: .flow/config.yaml"), lines
        run = flow("run", "-i", "a100", "--provider", "fcp", "--follow", DEMO_WORKLOAD,
                   cwd=demo, env=env)  # fmt: skip
        assert run.returncode == 3, run.stdout + run.stderr
        assert "hello from echo" in run.stdout
        assert "no GPU here" in run.stdout
        status = flow("status", cwd=demo, env=env)
        assert "failed" in status.stdout, status.stdout + status.stderr
        assert (demo / ".flow/config.yaml").stat().st_mode & 0o777 == 0o600
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)
