"""The production remote host (OpenSSH client) against a real sshd on loopback.

The "remote" machine is this one, reached through sshd as the current user: what a command does
there can be checked directly (files, processes), and a port served "there" is on 127.0.0.1.
"""

from __future__ import annotations

import os
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sshd import LoopbackSshd, eventually, fetch, free_port, http_server

from flowlib.core.hosts import HostAddress
from flowlib.core.ssh import OpenSSHHost, ssh_factory
from flowlib.errors import ProviderError, TimeoutError, ValidationError


class SteppingClock:
    """A clock whose sleeps pass instantly: retry schedules run in no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


class CountingClock:
    """Real time, counting the sleeps (to see that a retry happened)."""

    def __init__(self) -> None:
        self.sleeps = 0

    def monotonic(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        self.sleeps += 1
        time.sleep(seconds)


@pytest.fixture
def flow_home() -> Path:
    return Path(os.environ["FLOW_HOME"])


@pytest.fixture
def make_host(flow_home: Path) -> Iterator[Callable[..., OpenSSHHost]]:
    made: list[OpenSSHHost] = []

    def make(address: HostAddress, **options: object) -> OpenSSHHost:
        host = OpenSSHHost(address, home=flow_home, **options)  # type: ignore[arg-type]
        made.append(host)
        return host

    yield make
    for host in made:
        host.close()


@pytest.fixture
def host(sshd: LoopbackSshd, make_host: Callable[..., OpenSSHHost]) -> OpenSSHHost:
    return make_host(sshd.address())


def processes_running(fragment: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if fragment in cmdline and "bash -c" not in cmdline:
                found.append(int(entry.name))
    return found


# -- run -----------------------------------------------------------------------------------------
def test_run_returns_the_commands_exit_code_and_both_outputs(host: OpenSSHHost) -> None:
    result = host.run("echo out; echo err >&2; exit 3")
    assert (result.returncode, result.stdout, result.stderr) == (3, "out\n", "err\n")


def test_run_feeds_input_to_the_command(host: OpenSSHHost) -> None:
    assert host.run("tr a-z A-Z", input=b"hello\n").stdout == "HELLO\n"


def test_run_takes_a_bash_command_line_with_its_quotes_intact(host: OpenSSHHost) -> None:
    result = host.run("""x='a  b'; printf '[%s]' "$x" "it's" $'tab\\there' && [[ 1 == 1 ]]""")
    assert result.stdout == "[a  b][it's][tab\there]"


def test_a_command_exiting_255_is_a_result_not_a_lost_connection(host: OpenSSHHost) -> None:
    assert host.run("exit 255").returncode == 255


def test_input_never_appears_on_the_command_line(host: OpenSSHHost) -> None:
    result = host.run("cat >/dev/null", input=b"s3cr3t-token")
    assert "s3cr3t-token" not in " ".join(result.argv)


def test_run_gives_up_after_its_timeout(host: OpenSSHHost) -> None:
    with pytest.raises(TimeoutError):
        host.run("sleep 5", timeout=0.5)


def test_the_connection_is_reused_and_the_host_key_kept_in_flowlibs_known_hosts(
    host: OpenSSHHost, sshd: LoopbackSshd, flow_home: Path
) -> None:
    host.run("true")
    sockets = list((flow_home / "ssh" / "cm").iterdir())
    assert len(sockets) == 1 and sockets[0].is_socket()
    known = flow_home / "ssh" / "known_hosts"
    found = subprocess.run(  # filed under the instance id, not the (reusable) address
        ["ssh-keygen", "-F", f"flow-loopback-{sshd.port}", "-f", str(known)],
        capture_output=True,
        text=True,
    )
    assert sshd.host_public_key.split()[1] in found.stdout
    started = time.monotonic()
    for _ in range(5):
        host.run("true")
    assert time.monotonic() - started < 5  # no new handshake per command


# -- files ---------------------------------------------------------------------------------------
def test_read_file_returns_the_bytes_or_none(host: OpenSSHHost, tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    (tmp_path / "blob").write_bytes(data)
    assert host.read_file(str(tmp_path / "blob")) == data
    assert host.read_file(str(tmp_path / "missing")) is None
    assert host.read_file(str(tmp_path)) is None  # a directory is not a file
    assert host.read_file(str(tmp_path / "it's here")) is None


def test_upload_writes_the_file_with_its_mode_creating_parents(
    host: OpenSSHHost, tmp_path: Path
) -> None:
    local = tmp_path / "archive.tar.gz"
    local.write_bytes(os.urandom(300_000))
    target = tmp_path / "remote" / "var" / "lib" / "flow" / "code.tar.gz"
    host.upload(local, str(target), mode=0o640)
    assert target.read_bytes() == local.read_bytes()
    assert target.stat().st_mode & 0o777 == 0o640
    local.write_bytes(b"second version")
    host.upload(local, str(target))
    assert target.read_bytes() == b"second version"
    assert target.stat().st_mode & 0o777 == 0o600
    assert sorted(p.name for p in target.parent.iterdir()) == ["code.tar.gz"]  # no temp left


def test_uploading_a_missing_file_is_a_validation_error(host: OpenSSHHost, tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="no such file"):
        host.upload(tmp_path / "nope", str(tmp_path / "x"))


# -- stream --------------------------------------------------------------------------------------
def test_stream_yields_lines_as_they_come_and_ends_with_the_command(host: OpenSSHHost) -> None:
    lines = list(host.stream("echo one; sleep 0.2; echo two >&2; echo three"))
    assert lines == ["one", "two", "three"]


def test_closing_a_stream_stops_the_remote_command(host: OpenSSHHost, tmp_path: Path) -> None:
    log = tmp_path / "task.log"
    log.write_text("first\n")
    lines = host.stream(f"tail -n +1 -F {log}")
    assert next(lines) == "first"
    with log.open("a") as f:
        f.write("second\n")
    assert next(lines) == "second"
    assert processes_running(f"tail -n +1 -F {log}")
    lines.close()
    assert eventually(lambda: not processes_running(f"tail -n +1 -F {log}"))


def test_a_stream_whose_connection_drops_ends_with_a_provider_error(
    sshd_factory: Callable[..., LoopbackSshd], make_host: Callable[..., OpenSSHHost]
) -> None:
    server = sshd_factory().start()
    host = make_host(server.address())
    lines = host.stream("echo ready; sleep 300")
    assert next(lines) == "ready"
    server.stop()
    with pytest.raises(ProviderError, match="lost the connection"):
        next(lines)


# -- interactive ---------------------------------------------------------------------------------
def test_interactive_runs_on_this_terminal_and_returns_the_exit_code(
    host: OpenSSHHost, capfd: pytest.CaptureFixture[str]
) -> None:
    assert host.interactive("echo hi from $(hostname); exit 7") == 7
    out, err = capfd.readouterr()
    assert out.startswith("hi from ")
    assert "Pseudo-terminal" not in err  # no tty asked for when stdin is not one


# -- forward -------------------------------------------------------------------------------------
@pytest.fixture
def web_server(tmp_path: Path) -> Iterator[int]:
    """A tiny HTTP server on the "remote" side (loopback), serving index.html."""
    with http_server(tmp_path / "site", "hello through the tunnel\n") as port:
        yield port


def test_forward_makes_a_remote_port_reachable_here_until_closed(
    host: OpenSSHHost, web_server: int
) -> None:
    with host.forward(web_server) as fwd:
        assert fwd.remote_port == web_server
        assert fwd.local_port not in (0, web_server)
        assert (
            fetch(f"http://127.0.0.1:{fwd.local_port}/index.html") == "hello through the tunnel\n"
        )
        assert fwd.is_open()
    assert not fwd.is_open()
    assert fetch(f"http://127.0.0.1:{fwd.local_port}/") is None


def test_forward_to_a_chosen_local_port(host: OpenSSHHost, web_server: int) -> None:
    local = free_port()
    with host.forward(web_server, local) as fwd:
        assert fwd.local_port == local
        assert fetch(fwd.url) == "hello through the tunnel\n"  # index.html
    with host.forward(web_server, local) as again:  # the port is free again
        assert again.local_port == local


def test_forward_to_a_local_port_in_use_says_so(host: OpenSSHHost, web_server: int) -> None:
    with pytest.raises(ValidationError, match="already in use") as info:
        host.forward(web_server, web_server)
    assert any("0 to let flow pick" in s for s in info.value.suggestions)


# -- reaching a host that is not (yet) there -----------------------------------------------------
def test_the_first_command_waits_for_a_host_that_is_still_booting(
    sshd_factory: Callable[..., LoopbackSshd], make_host: Callable[..., OpenSSHHost]
) -> None:
    server = sshd_factory()
    clock = CountingClock()
    host = make_host(server.address(), clock=clock, boot_timeout=30)
    boot = threading.Timer(1.5, server.start)
    boot.start()
    try:
        assert host.run("echo up").stdout == "up\n"
    finally:
        boot.join()
    assert clock.sleeps >= 2  # it was refused, waited, and tried again


def test_an_unreachable_host_is_a_provider_error_with_suggestions(
    make_host: Callable[..., OpenSSHHost], sshd: LoopbackSshd
) -> None:
    clock = SteppingClock()
    nobody = sshd.address(port=free_port(), instance_id="i-gone")
    host = make_host(nobody, clock=clock, boot_timeout=60)
    with pytest.raises(ProviderError) as info:
        host.run("echo never")
    error = info.value
    assert "cannot reach" in error.message and "Connection refused" in error.message
    assert error.context["attempts"] > 3
    assert 50 <= clock.now <= 60 and max(clock.sleeps) <= 5  # backoff, capped, to the deadline
    assert any("flow status" in s for s in error.suggestions)
    assert any("ssh -o BatchMode=yes" in s for s in error.suggestions)


def test_a_key_the_host_does_not_accept_is_a_provider_error_naming_the_key(
    make_host: Callable[..., OpenSSHHost], sshd: LoopbackSshd, tmp_path: Path
) -> None:
    stranger = tmp_path / "stranger"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(stranger)], check=True)
    host = make_host(sshd.address(key_path=str(stranger)), clock=SteppingClock(), boot_timeout=3)
    with pytest.raises(ProviderError, match="Permission denied") as info:
        host.run("true")
    assert any(str(stranger) in s for s in info.value.suggestions)


def test_a_changed_host_key_is_refused(
    sshd_factory: Callable[..., LoopbackSshd], make_host: Callable[..., OpenSSHHost]
) -> None:
    first = sshd_factory().start()
    assert make_host(first.address()).run("true").returncode == 0
    first.stop()
    impostor = sshd_factory(port=first.port).start()  # same address, same instance, new key
    host = make_host(impostor.address(), clock=SteppingClock(), boot_timeout=2)
    with pytest.raises(ProviderError, match=r"(?i)host key"):
        host.run("true")


def test_the_factory_builds_hosts_for_addresses(sshd: LoopbackSshd, flow_home: Path) -> None:
    made = ssh_factory(flow_home)(sshd.address())
    assert isinstance(made, OpenSSHHost)
    try:
        assert made.run("echo $((6 * 7))").stdout == "42\n"
    finally:
        made.close()
