"""How the fcp provider reaches instances: OpenSSH in production, the sandbox for the emulator."""

from __future__ import annotations

from pathlib import Path

from flowlib.core.hosts import SandboxHost
from flowlib.core.ssh import OpenSSHHost
from flowlib.providers.fcp import make_provider

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
    provider = make_provider({"remote_host": "sandbox", "sandbox_dir": str(tmp_path)}, tmp_path)
    host = provider.host({**INSTANCE, "ssh_destination": "127.0.0.1"})
    assert isinstance(host, SandboxHost)
    assert host.root == tmp_path / "inst_abc"
