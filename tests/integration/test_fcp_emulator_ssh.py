"""Real OpenSSH into emulated FCP instances: each one's own sshd on loopback, reported as
``ssh_destination`` ``127.0.0.1:PORT``, authorized by the bid's SSH key only, landing in the
instance's sandbox; stopped with the instance."""

from __future__ import annotations

import getpass
import os
import socket
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from clouds import fcp_over_ssh

from flowlib.core.hosts import HostAddress
from flowlib.core.ssh import OpenSSHHost
from flowlib.errors import ProviderError
from flowlib.testing.emulators.fcp import FcpEmulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[FcpEmulator]:
    with fcp_over_ssh(tmp_path / "cloud") as e:
        yield e


def keygen(path: Path) -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(path)], check=True)
    return Path(f"{path}.pub").read_text().strip()


def running_instance(
    emu: FcpEmulator, public_key: str, script: str = "#!/bin/bash\nsleep 600\n"
) -> tuple[str, str]:
    """A bid with ``public_key`` (and ``script``, by default one that sleeps); its instance FID
    and destination."""
    with emu.client() as api:
        key = api.post(
            "/v2/ssh-keys", json={"project": emu.project, "name": "me", "public_key": public_key}
        ).json()
        bid = api.post(
            "/v2/spot/bids",
            json={
                "project": emu.project,
                "region": "us-central1-a",
                "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
                "limit_price": "$50.00",
                "instance_quantity": 1,
                "name": "ssh-test",
                "launch_specification": {
                    "volumes": [],
                    "ssh_keys": [key["fid"]],
                    "startup_script": script,
                },
            },
        ).json()

        def running() -> bool:
            fids = emu.bid(bid["fid"]).instances
            return bool(fids) and emu.instance(fids[0]).status == "STATUS_RUNNING"

        assert emu.wait_until(running, timeout=15)
        fid = emu.bid(bid["fid"]).instances[0]
        (inst,) = api.get("/v2/instances", params={"project": emu.project}).json()["data"]
        return fid, str(inst["ssh_destination"])


def host(destination: str, key: Path, fid: str, home: Path, user: str | None = None) -> OpenSSHHost:
    name, _, port = destination.partition(":")
    address = HostAddress(name, int(port), user or getpass.getuser(), str(key), fid)
    return OpenSSHHost(address, home=home, boot_timeout=0)


def test_an_instance_answers_real_ssh_with_the_bids_key_inside_its_sandbox(
    emu: FcpEmulator, tmp_path: Path
) -> None:
    key = tmp_path / "id_task"
    fid, destination = running_instance(emu, keygen(key))
    assert destination.startswith("127.0.0.1:") and int(destination.split(":")[1]) > 1024
    with host(destination, key, fid, tmp_path / "home") as machine:
        result = machine.run('echo "$FLOW_ROOT"; pwd; test -f /var/lib/flow/x || echo no-root')
        root = emu.instance_root(fid)
        assert result.stdout.split("\n")[:3] == [str(root), str(root / "home/ubuntu"), "no-root"]
        assert machine.read_file("/var/lib/foundry/startup_script.sh") == (
            b"#!/bin/bash\nsleep 600\n"
        )  # an absolute path is the instance's own
    other = tmp_path / "id_other"
    keygen(other)
    with pytest.raises(ProviderError), host(destination, other, fid, tmp_path / "h2") as stranger:
        stranger.run("true")  # a key the bid does not hold is refused


def test_stopping_the_instance_stops_its_sshd(emu: FcpEmulator, tmp_path: Path) -> None:
    key = tmp_path / "id_task"
    fid, destination = running_instance(emu, keygen(key))
    port = int(destination.split(":")[1])
    emu.fail_instance(fid)
    assert emu.instance(fid).ssh_destination is None
    with pytest.raises(OSError), socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def test_an_instance_shell_does_not_run_this_machines_dotfiles(
    emu: FcpEmulator, tmp_path: Path
) -> None:
    # bash sources ~/.bashrc for an ssh command when it starts at shell level 1; on the CI
    # machine root's .bashrc ran `pyenv rehash`, which hung on a stale lock and took every ssh
    # test with it. The instance's shell starts one level up, so the host's dotfiles never run.
    key = tmp_path / "id_task"
    fid, destination = running_instance(emu, keygen(key))
    with host(destination, key, fid, tmp_path / "home") as machine:
        result = machine.run('echo "$SHLVL"; shopt -q login_shell && echo login || echo plain')
    assert result.stdout.split() == ["2", "plain"]


# ---- vm_paths: the instance's disk at a VM's absolute paths ------------------------------------

VM_SCRIPT = """#!/bin/bash
echo "$(id -u) $HOME" > /var/log/who
mkdir -p /var/log/flow && echo from-the-script > /var/log/flow/{tag}.log
echo tmp > /tmp/{tag}
echo profile > /etc/profile.d/{tag}.sh
echo pid > /var/run/{tag}.pid
mkdir /{tag} 2> /var/log/mkdir.err || true
touch "$FLOW_ROOT/flow-root-works"
sleep 600
"""


@pytest.fixture
def vm_emu(tmp_path: Path) -> Iterator[FcpEmulator]:
    from flowlib.testing.emulators._vm import vm_paths_missing

    missing = vm_paths_missing()
    if missing is not None:
        pytest.skip(f"vm_paths: {missing}")
    with fcp_over_ssh(tmp_path / "cloud", vm_paths=True) as emu:
        yield emu


def test_vm_paths_keep_what_an_instance_writes_on_its_own_disk(
    vm_emu: FcpEmulator, tmp_path: Path
) -> None:
    tag = f"flowlib-vm-probe-{uuid.uuid4().hex[:8]}"
    key = tmp_path / "id_task"
    fid, destination = running_instance(vm_emu, keygen(key), VM_SCRIPT.replace("{tag}", tag))
    root = vm_emu.instance_root(fid)
    assert vm_emu.wait_until(lambda: (root / "flow-root-works").exists(), timeout=15)
    # On the instance's disk, at the VM's paths; nothing of it on this machine's.
    assert (root / "var/log/who").read_text() == f"{os.getuid()} /home/ubuntu\n"
    assert (root / f"var/log/flow/{tag}.log").read_text() == "from-the-script\n"
    assert (root / f"tmp/{tag}").is_file() and (root / f"etc/profile.d/{tag}.sh").is_file()
    assert (root / f"run/{tag}.pid").is_file()  # /var/run -> /run, as on a VM
    assert "Read-only file system" in (root / "var/log/mkdir.err").read_text()
    for host_path in (
        f"/var/log/flow/{tag}.log", f"/tmp/{tag}", f"/etc/profile.d/{tag}.sh",
        f"/run/{tag}.pid", f"/{tag}",
    ):  # fmt: skip
        assert not os.path.lexists(host_path), host_path

    # SSH as ubuntu, as vendors' clients log in, into the same view, with the emulator's shims.
    with host(destination, key, fid, tmp_path / "home", user="ubuntu") as machine:
        result = machine.run(
            f"sudo -n tail -n 1 /var/log/flow/{tag}.log; cat /tmp/{tag}; pwd; "
            "docker ps -a --format '{{.Names}}' | wc -l; docker logs main; echo $?; "
            "modprobe ib_umad; echo $?"
        )
    lines = result.stdout.split("\n")
    assert lines[:6] == ["from-the-script", "tmp", "/home/ubuntu", "0", "1", "1"]
    assert "No such container: main" in result.stderr and "modprobe" in result.stderr
    assert not os.path.lexists(f"/tmp/{tag}")


REBOOT_SCRIPT = """#!/bin/bash
echo boot >> "$FLOW_ROOT/boots"
mkdir -p "$FLOW_ROOT/run" && echo $$ > "$FLOW_ROOT/run/script.pid"
sleep 600
"""


def test_a_restart_reboots_the_machine_without_running_its_script_again(
    emu: FcpEmulator, tmp_path: Path
) -> None:
    key = tmp_path / "id_task"
    fid, _ = running_instance(emu, keygen(key), REBOOT_SCRIPT)
    root = emu.instance_root(fid)
    assert emu.wait_until(lambda: (root / "run/script.pid").exists(), timeout=15)
    script = emu.instance(fid).process
    assert script is not None and script.running
    with emu.client() as api:
        answer = api.post(f"/v2/instances/{fid}/restart")
    assert (answer.status_code, answer.json()["status"]) == (202, "RESTARTING")
    # Down: its processes ended, /run emptied; then up again on the same disk, with SSH.
    assert not script.running and emu.instance(fid).process is None
    assert emu.wait_until(lambda: emu.instance(fid).status == "STATUS_RUNNING", timeout=15)
    assert not (root / "run/script.pid").exists()
    assert (root / "boots").read_text() == "boot\n"  # the script runs once per machine
    after = emu.instance(fid).ssh_destination
    assert after is not None
    with host(after, key, fid, tmp_path / "home") as machine:
        assert machine.run('cat "$FLOW_ROOT/boots"').stdout == "boot\n"
