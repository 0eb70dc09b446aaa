"""docs/cli.md's exit-code table, checked against the real `flow`: each documented status is
produced by a command that really exits with it (or is listed below with why it cannot be
provoked offline; test_cli_errors.py still checks its class's code)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

DOC = Path(__file__).parents[2] / "docs" / "cli.md"

# exit status -> a bash snippet (run in an empty project, a fresh HOME and FLOW_HOME) whose
# exit status is the documented one.
CASES: dict[int, str] = {
    0: "flow status",
    2: "flow stauts",  # a usage error
    3: "mkdir -p ~/.flow && echo 'provider: [x' > ~/.flow/config.yaml && flow status",
    4: "flow run --provider fcp --no-upload true",  # no API key (a dry run plans without one)
    5: "flow status no-such-task",
    7: "FLOW_API_KEY=fkey_abcdefghijklmnopqrstuvwxyz FLOW_API_URL=http://127.0.0.1:1 "
    "flow run --provider fcp --no-upload true",
    8: "flow run --name long --no-upload 'sleep 60' >/dev/null && flow wait long --timeout 0.3; "
    "code=$?; flow cancel long >/dev/null; exit $code",
    9: "mkdir -p $FLOW_HOME && head -c 3000 /dev/urandom > $FLOW_HOME/tasks.db && flow status",
    10: "flow run --code-dir /no/such/dir --dry-run true",
    12: "flow run --min-gpu-memory 4096 --dry-run true",
    14: "flow instance list",  # the local provider has no persistent instances
    15: 'printf \'import flowlib\\napp = flowlib.App("x")\\n@app.function()\\n'
    'def boom() -> int:\\n    raise ValueError("no")\\n\' > app.py && flow run app.py::boom',
    141: "flow run --name many --no-upload --wait 'seq 1 100000' >/dev/null; "
    "flow logs many | head -n 1 >/dev/null; exit ${PIPESTATUS[0]}",
}
# 130 (Ctrl-C) is sent for real by test_ctrl_c_while_waiting_exits_130 below.
NOT_OFFLINE = {
    1: "a FlowError no subclass covers: no command raises the bare class on purpose",
    6: "APIError: needs a provider API that answers with an error (the emulator tests do)",
    11: "ProviderError: a provider failing in its own way (the emulator tests do)",
    13: "QuotaError: an account limit of a real cloud",
}


def documented_codes() -> dict[int, str]:
    section = DOC.read_text().split("## Errors and exit codes", 1)[1]
    return {int(m[1]): m[2] for m in re.finditer(r"^\| (\d+) \| (.+) \|$", section, re.M)}


def test_every_documented_code_has_a_case() -> None:
    documented = documented_codes()
    assert set(documented) == {*CASES, *NOT_OFFLINE, 130}


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "project").mkdir()
    environ = {
        **os.environ,
        "HOME": str(tmp_path),
        "FLOW_HOME": str(tmp_path / ".flow"),
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
    }
    for var in ("FLOW_PROVIDER", "FLOW_API_KEY", "FLOW_API_URL", "FLOW_PROJECT"):
        environ.pop(var, None)
    return environ


@pytest.mark.parametrize("code", sorted(CASES))
def test_the_documented_case_exits_with_its_code(
    code: int, env: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        ["bash", "-c", CASES[code]],
        cwd=tmp_path / "project",
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert result.returncode == code, result.stderr
    assert "Traceback (most recent call last)" not in result.stderr or code == 15


def test_ctrl_c_while_waiting_exits_130(env: dict[str, str], tmp_path: Path) -> None:
    cwd = tmp_path / "project"
    flow = [sys.executable, "-m", "flowlib.cli"]
    subprocess.run([*flow, "run", "--name", "nap", "--no-upload", "sleep 60"], cwd=cwd, env=env)
    waiting = subprocess.Popen(
        [*flow, "wait", "nap"], cwd=cwd, env=env, stderr=subprocess.PIPE, text=True
    )
    try:
        assert waiting.stderr is not None
        assert "waiting for" in waiting.stderr.readline()
        time.sleep(0.3)
        waiting.send_signal(signal.SIGINT)
        assert waiting.wait(timeout=30) == 130
    finally:
        subprocess.run([*flow, "cancel", "nap"], cwd=cwd, env=env, capture_output=True)


@pytest.mark.parametrize(
    ("command", "code"),
    [
        ("flow run 'exit 3' --wait", 3),
        ("flow run --name t --no-upload 'exit 4' >/dev/null && flow wait t", 4),
        ("flow run --name t --no-upload 'exit 5' >/dev/null && flow logs t -f", 5),
        ("flow run --name t --no-upload 'kill -9 $$' >/dev/null && flow wait t", 137),
    ],
)
def test_waiting_commands_exit_with_the_tasks_code(
    command: str, code: int, env: dict[str, str], tmp_path: Path
) -> None:
    result = subprocess.run(
        ["bash", "-c", command], cwd=tmp_path / "project", env=env, capture_output=True, timeout=90
    )
    assert result.returncode == code
