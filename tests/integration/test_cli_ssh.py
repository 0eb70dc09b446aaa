"""`flow ssh` and `flow tunnel` for real, as subprocesses: on the local provider, and on a small
third-party provider plugin whose machine is reached through flowlib's OpenSSH host and a real
loopback sshd (so `flow ssh TASK -- echo hi` really goes through ssh)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import LoopbackSshd, eventually, fetch, free_port, http_server

PLUGIN = """
import flowlib
from flowlib.core.hosts import HostAddress
from flowlib.core.ssh import OpenSSHHost
from flowlib.models import TaskStatus
from flowlib.providers.base import Capabilities, ProviderSpec, TaskState


class LoopbackProvider:
    '''Every task "runs" on one machine: the loopback sshd named in its config section.'''

    name = "loopssh"
    capabilities = Capabilities({})

    def __init__(self, context):
        s = context.settings
        self.home = context.home
        self.address = HostAddress(
            s["host"], int(s["port"]), s["user"], s["key_path"], instance_id="loopssh"
        )
        self.boot_timeout = float(s.get("boot_timeout", 30))

    def host(self):
        return OpenSSHHost(self.address, home=self.home, boot_timeout=self.boot_timeout)

    def offers(self, config):
        return []

    def prepare(self, config):
        return config

    def submit(self, record):
        return {}

    def status(self, records):
        return {
            r.task_id: TaskState(
                TaskStatus.CANCELLED if r.cancel_requested else TaskStatus.RUNNING
            )
            for r in records
        }

    def logs(self, record, *, tail=100, follow=False):
        return iter([])

    def cancel(self, record):
        pass

    def instances(self, record):
        return []

    def ssh(self, record, command=None, node=0):
        with self.host() as host:
            if command is not None:
                command = f"export FLOW_NODE={node}; {command}"
            return host.interactive(command)

    def forward(self, record, remote_port, local_port=0, node=0):
        with self.host() as host:
            return host.forward(remote_port, local_port)


class PlainProvider:
    '''Machines without any remote access.'''

    name = "plain"
    capabilities = Capabilities({"ssh": "plain machines run no sshd"})
    offers = LoopbackProvider.offers
    prepare = LoopbackProvider.prepare
    submit = LoopbackProvider.submit
    status = LoopbackProvider.status
    logs = LoopbackProvider.logs
    cancel = LoopbackProvider.cancel
    instances = LoopbackProvider.instances

    def __init__(self, context):
        pass


@flowlib.hookimpl
def flowlib_providers():
    return [
        ProviderSpec("loopssh", LoopbackProvider, "a task machine behind a loopback sshd"),
        ProviderSpec("plain", PlainProvider, "no remote access"),
    ]
"""


class FlowCli:
    """Runs `python -m flowlib.cli` in one HOME / FLOW_HOME, with the test plugin installed."""

    def __init__(self, home: Path, site: Path) -> None:
        self.env = {
            **os.environ,
            "HOME": str(home),
            "FLOW_HOME": str(home / ".flow"),
            "PYTHONPATH": str(site),
            "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        }
        for var in ("FLOW_PROVIDER", "FLOW_API_KEY", "FLOW_PROJECT", "FLOW_REGION"):
            self.env.pop(var, None)
        self.cwd = home

    def __call__(
        self, *args: str, input: str | None = None, timeout: float = 60
    ) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "flowlib.cli", *args],
            cwd=self.cwd,
            env=self.env,
            input=input,
            stdin=None if input is not None else subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [sys.executable, "-m", "flowlib.cli", *args],
            cwd=self.cwd,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def submit(self, *args: str) -> str:
        result = self("run", "--no-upload", "--json", *args)
        assert result.returncode == 0, result.stderr
        match = re.search(r'"task_id": "([^"]+)"', result.stdout)
        assert match, result.stdout
        return match.group(1)


@pytest.fixture
def flow(isolated_home: Path, tmp_path: Path) -> FlowCli:
    site = tmp_path / "site"
    site.mkdir()
    (site / "flowlib_loopssh.py").write_text(textwrap.dedent(PLUGIN))
    info = site / "flowlib_loopssh-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: flowlib-loopssh\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[flowlib.providers]\nloopssh = flowlib_loopssh\n")
    return FlowCli(isolated_home, site)


@pytest.fixture
def on_loopback(flow: FlowCli, sshd: LoopbackSshd, isolated_home: Path) -> str:
    """A running task of the plugin provider; its machine is the loopback sshd."""
    config = isolated_home / ".flow" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(
        "providers:\n"
        "  loopssh:\n"
        f"    host: 127.0.0.1\n    port: {sshd.port}\n    user: {sshd.user}\n"
        f"    key_path: {sshd.client_key}\n"
    )
    return flow.submit("--provider", "loopssh", "--name", "notebook", "sleep 600")


@pytest.fixture
def web_port(tmp_path: Path) -> Iterator[int]:
    """A tiny HTTP server on the task machine's side (loopback)."""
    with http_server(tmp_path / "www", "jupyter lives here\n") as port:
        yield port


def open_tunnel(flow: FlowCli, *args: str) -> tuple[subprocess.Popen[str], str]:
    """Start `flow tunnel ...` and return it with the URL it printed."""
    proc = flow.popen("tunnel", *args)
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    if not url:
        proc.wait(timeout=10)
        assert proc.stderr is not None
        pytest.fail(f"flow tunnel printed no URL: {proc.stderr.read()}")
    return proc, url


def close_tunnel(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=20)
    return proc.returncode, err


# -- through a real sshd -------------------------------------------------------------------------
def test_flow_ssh_runs_a_command_on_the_tasks_machine(
    flow: FlowCli, on_loopback: str, sshd: LoopbackSshd
) -> None:
    result = flow("ssh", on_loopback, "--", "echo", "hi", "from", "$(whoami)")
    assert result.returncode == 0, result.stderr
    assert result.stdout == f"hi from {sshd.user}\n"


def test_flow_ssh_exits_with_the_remote_commands_exit_code(flow: FlowCli, on_loopback: str) -> None:
    assert flow("ssh", "notebook", "--", "exit 3").returncode == 3


def test_flow_ssh_passes_stdin_through(flow: FlowCli, on_loopback: str) -> None:
    result = flow("ssh", on_loopback, "--", "tr", "a-z", "A-Z", input="hello\n")
    assert result.stdout == "HELLO\n"


def test_flow_ssh_reaches_the_node_asked_for(flow: FlowCli, on_loopback: str) -> None:
    assert flow("ssh", on_loopback, "--node", "1", "--", "echo $FLOW_NODE").stdout == "1\n"


def test_flow_tunnel_serves_the_tasks_port_here_until_ctrl_c(
    flow: FlowCli, on_loopback: str, web_port: int
) -> None:
    proc, url = open_tunnel(flow, on_loopback, str(web_port))
    try:
        local_port = int(url.rsplit(":", 1)[1])
        assert local_port != web_port
        assert fetch(f"{url}/index.html") == "jupyter lives here\n"
    finally:
        code, err = close_tunnel(proc)
    assert code == 0 and "tunnel closed" in err
    assert "Ctrl-C" in err and "notebook" in err
    assert fetch(url) is None


def test_flow_tunnel_to_a_chosen_local_port(flow: FlowCli, on_loopback: str, web_port: int) -> None:
    local = free_port()
    proc, url = open_tunnel(flow, on_loopback, f"{web_port}:{local}")
    try:
        assert url == f"http://127.0.0.1:{local}"
        assert fetch(url) == "jupyter lives here\n"
    finally:
        close_tunnel(proc)


def test_an_unreachable_machine_is_a_clear_error_not_a_traceback(
    flow: FlowCli, on_loopback: str, isolated_home: Path, sshd: LoopbackSshd
) -> None:
    config = isolated_home / ".flow" / "config.yaml"
    text = config.read_text().replace(f"port: {sshd.port}", f"port: {free_port()}")
    config.write_text(text + "    boot_timeout: 2\n")
    result = flow("ssh", on_loopback, "--", "true")
    assert result.returncode == 11  # ProviderError
    assert "cannot reach" in result.stderr and "Traceback" not in result.stderr
    assert "hint:" in result.stderr


def test_a_provider_without_remote_access_says_so(flow: FlowCli) -> None:
    task = flow.submit("--provider", "plain", "sleep 1")
    for argv in (["tunnel", task, "8888"], ["ssh", task, "--", "true"]):
        result = flow(*argv)
        assert result.returncode == 14, result.stderr  # UnsupportedError
        assert "plain machines run no sshd" in result.stderr


# -- the local provider --------------------------------------------------------------------------
def test_flow_ssh_on_a_local_task_says_why_not(flow: FlowCli) -> None:
    task = flow.submit("sleep 30")
    try:
        result = flow("ssh", task, "--", "echo", "hi")
        assert result.returncode == 14  # UnsupportedError
        assert "a local task runs on this machine" in result.stderr
    finally:
        flow("cancel", task)


def test_flow_tunnel_on_a_local_task_is_the_port_itself(flow: FlowCli) -> None:
    port = free_port()
    task = flow.submit(f"{sys.executable} -m http.server {port} --bind 127.0.0.1")
    try:
        proc, url = open_tunnel(flow, task, str(port))
        try:
            assert url == f"http://127.0.0.1:{port}"
            assert eventually(lambda: fetch(url) is not None, timeout=15)
        finally:
            code, _ = close_tunnel(proc)
        assert code == 0
    finally:
        flow("cancel", task)


def test_flow_tunnel_ends_when_the_task_does(flow: FlowCli, tmp_path: Path) -> None:
    go = tmp_path / "go"  # the task ends once the tunnel is open, however slow the machine
    task = flow.submit(f"while [ ! -e {go} ]; do sleep 0.05; done")
    proc, _ = open_tunnel(flow, task, "8888")
    go.touch()
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "ended (completed)" in err


def test_flow_tunnel_refuses_a_task_that_already_ended(flow: FlowCli) -> None:
    task = flow.submit("--wait", "true")
    result = flow("tunnel", task, "8888")
    assert result.returncode == 2 and "already ended" in result.stderr


def test_flow_tunnel_rejects_a_port_that_is_not_one(flow: FlowCli) -> None:
    result = flow("tunnel", "any", "70000")
    assert result.returncode == 2 and "ports are 1 to 65535" in result.stderr
