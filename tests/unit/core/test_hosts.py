"""The sandbox remote host: an emulated instance's disk is a directory, and the same command
lines that run on a real VM (paths under ``${FLOW_ROOT:-}``) run against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib.core.hosts import HostAddress, SandboxHost
from flowlib.errors import ProviderError, ValidationError


@pytest.fixture
def host(tmp_path: Path) -> SandboxHost:
    root = tmp_path / "i-1"
    root.mkdir()
    return SandboxHost(HostAddress("127.0.0.1", instance_id="i-1"), root)


def test_commands_see_the_instance_root_as_flow_root(host: SandboxHost) -> None:
    result = host.run(
        'mkdir -p "${FLOW_ROOT:-}/var/run/flow" && echo 7 > "$FLOW_ROOT/var/run/flow/exit_code"'
    )
    assert result.returncode == 0
    assert host.read_file("/var/run/flow/exit_code") == b"7\n"


def test_a_failing_command_is_a_result_not_an_exception(host: SandboxHost) -> None:
    result = host.run("echo oops >&2; exit 3")
    assert (result.returncode, result.stderr) == (3, "oops\n")


def test_input_is_fed_to_the_command(host: SandboxHost) -> None:
    assert host.run("cat", input=b"hello").stdout == "hello"


def test_a_missing_file_reads_as_none(host: SandboxHost) -> None:
    assert host.read_file("/var/log/flow/task.log") is None


def test_stream_yields_lines_and_stops_the_command_when_closed(host: SandboxHost) -> None:
    lines = host.stream("echo one; echo two; sleep 30")
    assert next(lines) == "one"
    assert next(lines) == "two"
    lines.close()  # must not wait for the sleep


def test_upload_places_a_file_with_its_mode(host: SandboxHost, tmp_path: Path) -> None:
    secret = tmp_path / "key"
    secret.write_text("s3cret")
    host.upload(secret, "/etc/flow/key")
    placed = host.root / "etc/flow/key"
    assert placed.read_text() == "s3cret"
    assert placed.stat().st_mode & 0o777 == 0o600


def test_ports_of_an_emulated_instance_are_local_ports(host: SandboxHost) -> None:
    with host.forward(8888) as fwd:
        assert fwd.local_port == 8888
    with pytest.raises(ValidationError, match="8888"):
        host.forward(8888, 9999)


def test_an_instance_without_a_disk_is_unreachable(tmp_path: Path) -> None:
    host = SandboxHost(HostAddress("10.0.0.1", instance_id="gone"), tmp_path / "gone")
    with pytest.raises(ProviderError, match="not reachable"):
        host.run("true")
