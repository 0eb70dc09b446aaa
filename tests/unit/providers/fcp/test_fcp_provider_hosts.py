"""How the fcp provider reaches instances: OpenSSH in production, the sandbox for the emulator."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib.core.hosts import SandboxHost
from flowlib.core.ssh import OpenSSHHost
from flowlib.errors import ProviderError
from flowlib.providers.fcp import _hosts, make_provider
from flowlib.testing.emulators import sandbox_settings

INSTANCE = {"fid": "inst_abc", "ssh_destination": "203.0.113.7:2222", "status": "STATUS_RUNNING"}


def test_production_instances_are_reached_over_openssh_at_their_ssh_destination(
    tmp_path: Path,
) -> None:
    key = tmp_path / "id_fcp"
    provider = make_provider({"ssh_key_path": str(key), "ssh_user": "root"}, tmp_path)
    host = provider.host(INSTANCE)
    assert isinstance(host, OpenSSHHost)
    address = host.address
    assert (address.host, address.port, address.user) == ("203.0.113.7", 2222, "root")
    assert (address.key_path, address.instance_id) == (str(key), "inst_abc")


def test_emulated_instances_are_their_sandbox_directories(tmp_path: Path) -> None:
    provider = make_provider(sandbox_settings(tmp_path), tmp_path)
    host = provider.host({**INSTANCE, "ssh_destination": "127.0.0.1"})
    assert isinstance(host, SandboxHost)
    assert host.root == tmp_path / "inst_abc"


@pytest.mark.parametrize(
    ("destination", "host", "port"),
    [
        ("203.0.113.7", "203.0.113.7", 22),
        ("203.0.113.7:2222", "203.0.113.7", 2222),
        ("node-3.example.com:22", "node-3.example.com", 22),
        ("[2001:db8::7]:2200", "2001:db8::7", 2200),
        ("[2001:db8::7]", "2001:db8::7", 22),
        ("2001:db8::7", "2001:db8::7", 22),  # a bare IPv6 address: no port in it
    ],
)
def test_ssh_destinations_are_read_as_host_and_port(destination: str, host: str, port: int) -> None:
    address = _hosts.address({"fid": "inst_a", "ssh_destination": destination}, "ubuntu", None)
    assert (address.host, address.port) == (host, port)


@pytest.mark.parametrize("destination", ["203.0.113.7:²", "203.0.113.7:0", "203.0.113.7:70000",
                                         "203.0.113.7:ssh", "[2001:db8::7]:99999"])  # fmt: skip
def test_a_port_that_is_not_one_is_an_error_not_a_guess(destination: str) -> None:
    with pytest.raises(ProviderError, match="SSH destination"):
        _hosts.address({"fid": "inst_a", "ssh_destination": destination}, "ubuntu", None)
