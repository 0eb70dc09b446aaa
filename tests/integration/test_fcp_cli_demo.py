"""The README's offline demo, exactly: the FCP emulator served from its own process, and `flow run
--provider fcp` from another one, going from submit to the real exit code with real logs."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sshd import require_sshd

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
        # The sandbox is the emulators' plugin, named by the section: no production setting.
        import yaml

        section = yaml.safe_load((demo / ".flow/config.yaml").read_text())["providers"]["fcp"]
        assert section["remote_host"] == "flowlib.testing.emulators:sandbox"
        assert set(section["remote_host_options"]) == {"dir"}
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(timeout=30)


def _serve(cloud: str, demo: Path, env: dict[str, str], *extra: str) -> subprocess.Popen[str]:
    server = subprocess.Popen(
        [sys.executable, "-m", "flowlib.testing.emulators", cloud, "--timing", "instant",
         "--flow-config", ".flow/config.yaml", *extra],
        cwd=demo, env=env, stdout=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert server.stdout is not None
    for line in server.stdout:
        if line.startswith("flowlib config:"):
            return server
    raise AssertionError(f"{cloud} emulator ended before serving")


def _workdir(server_stdout: str) -> Path:
    return Path(server_stdout.split("Instances: ", 1)[1].split()[0]).parent


def test_with_ssh_the_demo_reaches_instances_over_openssh_from_fresh_processes(
    tmp_path: Path, isolated_home: Path
) -> None:
    require_sshd()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    server = _serve("fcp", tmp_path, env, "--ssh", "--default")
    try:
        run = flow("run", "-i", "a100", "--json", "sleep 300", cwd=tmp_path, env=env)
        assert run.returncode == 0, run.stdout + run.stderr
        task = json.loads(run.stdout)["task_id"]
        shell = flow("ssh", task, "--", 'echo "in $FLOW_ROOT"', cwd=tmp_path, env=env)
        assert shell.returncode == 0, shell.stdout + shell.stderr
        assert shell.stdout.startswith("in ") and "/instances/inst_" in shell.stdout
        assert flow("cancel", task, cwd=tmp_path, env=env).returncode == 0
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


def test_the_demo_config_leaves_the_default_provider_alone(
    tmp_path: Path, isolated_home: Path
) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    server = _serve("fcp", tmp_path, env)
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    import yaml

    settings = yaml.safe_load((tmp_path / ".flow/config.yaml").read_text())
    assert "provider" not in settings and "fcp" in settings["providers"]
    # The emulator is gone: a plain run still runs on this machine, at once.
    run = flow("run", "--wait", "echo hi", cwd=tmp_path, env=env)
    assert run.returncode == 0, run.stdout + run.stderr
    server = _serve("fcp", tmp_path, env, "--default")
    server.send_signal(signal.SIGTERM)
    server.wait(timeout=30)
    assert yaml.safe_load((tmp_path / ".flow/config.yaml").read_text())["provider"] == "fcp"


def test_sigterm_stops_the_persistent_instance_agent_and_removes_the_work_dir(
    tmp_path: Path, isolated_home: Path
) -> None:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    server = _serve("hyperstack", tmp_path, env)
    try:
        run = flow("run", "-i", "a6000", "--provider", "hyperstack", "--on", "kept", "--wait",
                   "echo on a kept VM", cwd=tmp_path, env=env)  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        sandbox = yaml_section(tmp_path)["remote_host_options"]["dir"]
        agents = _processes_under(sandbox)
        assert agents, "the persistent instance's agent should be running"
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
    assert server.returncode == 0
    assert not Path(sandbox).parent.exists(), "the emulator's work dir is left"
    assert _processes_under(sandbox) == [], "processes of the emulated VM outlived it"


def yaml_section(demo: Path) -> dict[str, Any]:
    import yaml

    section: dict[str, Any] = yaml.safe_load((demo / ".flow/config.yaml").read_text())["providers"][
        "hyperstack"
    ]
    return section


def _processes_under(path: str) -> list[int]:
    """Processes whose command line names ``path`` (the emulator's sandboxes)."""
    found = []
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if path in cmdline:
            found.append(int(proc.name))
    return found
