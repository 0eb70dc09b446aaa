"""How the OpenSSH host builds its command lines, and flowlib's own key pair. (Connecting for
real: tests/integration/test_ssh_host.py, against a loopback sshd.)"""

from __future__ import annotations

import shutil
import tempfile
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from flowlib.core.hosts import HostAddress
from flowlib.core.seams import CommandResult
from flowlib.core.ssh import OpenSSHHost, ensure_key_pair, ssh_factory
from flowlib.errors import ProviderError


def option(argv: list[str], name: str) -> str | None:
    """The value of ``-o name=value`` in argv."""
    values = [a.split("=", 1)[1] for a in argv if a.startswith(f"{name}=")]
    return values[0] if values else None


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / ".flow"


def test_every_connection_is_unattended_and_checks_host_keys_in_flowlibs_file(home: Path) -> None:
    host = OpenSSHHost(HostAddress("10.0.0.5", key_path="/keys/id"), home=home)
    argv = host.argv("nvidia-smi")
    assert option(argv, "BatchMode") == "yes"
    assert option(argv, "StrictHostKeyChecking") == "accept-new"
    assert option(argv, "UserKnownHostsFile") == str(home / "ssh" / "known_hosts")
    assert argv[argv.index("-i") + 1] == "/keys/id"
    assert option(argv, "IdentitiesOnly") == "yes"
    assert "-p" not in argv  # port 22 is ssh's default
    assert argv[-2:] == ["ubuntu@10.0.0.5", "bash -c nvidia-smi"]


def test_the_command_runs_under_bash_quoted_for_the_login_shell(home: Path) -> None:
    host = OpenSSHHost(HostAddress("h", port=2222, user="root"), home=home)
    argv = host.argv("echo 'a b' && echo $HOME")
    assert argv[argv.index("-p") + 1] == "2222"
    assert argv[-1] == "bash -c 'echo '\"'\"'a b'\"'\"' && echo $HOME'"
    assert "-i" not in argv  # no key given: ssh's own defaults (agent, ~/.ssh)


def test_host_keys_are_filed_under_the_instance_id_when_it_is_a_safe_name(home: Path) -> None:
    by_id = OpenSSHHost(HostAddress("1.2.3.4", instance_id="inst-AbC_9.x"), home=home)
    assert option(by_id.argv(), "HostKeyAlias") == "flow-inst-AbC_9.x"
    odd = OpenSSHHost(HostAddress("1.2.3.4", instance_id="a b;rm"), home=home)
    assert option(odd.argv(), "HostKeyAlias") is None
    assert option(OpenSSHHost(HostAddress("1.2.3.4"), home=home).argv(), "HostKeyAlias") is None


@pytest.fixture
def short_dir() -> Iterator[Path]:
    """A directory short enough for a socket path under it (pytest's tmp_path need not be:
    under xdist it has a worker folder more)."""
    path = Path(tempfile.mkdtemp(dir="/tmp"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


def test_connections_are_shared_through_a_short_socket_under_flow_home(short_dir: Path) -> None:
    home = short_dir / ".f"  # short enough for a socket path; see the next test for a deep one
    host = OpenSSHHost(HostAddress("1.2.3.4"), home=home)
    path = option(host.argv(), "ControlPath")
    assert path is not None and path.startswith(str(home / "ssh" / "cm"))
    assert option(host.argv(), "ControlMaster") == "auto"
    assert (home / "ssh" / "cm").stat().st_mode & 0o777 == 0o700


def test_a_flow_home_too_deep_for_a_unix_socket_uses_a_private_temp_directory(
    tmp_path: Path,
) -> None:
    deep = tmp_path / ("d" * 60) / ("e" * 60) / ".flow"
    path = option(OpenSSHHost(HostAddress("1.2.3.4"), home=deep).argv(), "ControlPath")
    # ssh adds 17 characters while it creates the socket; Unix allows 107 and a NUL
    assert path is not None and len(path) + 17 <= 107
    assert not path.startswith(str(deep))
    assert Path(path).parent.stat().st_mode & 0o777 == 0o700


def test_different_hosts_and_keys_get_different_sockets(home: Path) -> None:
    def socket(address: HostAddress) -> str | None:
        return option(OpenSSHHost(address, home=home).argv(), "ControlPath")

    base = HostAddress("1.2.3.4")
    others = [
        HostAddress("1.2.3.5"),
        HostAddress("1.2.3.4", port=2),
        HostAddress("1.2.3.4", key_path="k"),
    ]
    assert len({socket(base), *(socket(a) for a in others)}) == 4


def test_a_forward_or_a_pasted_command_does_not_use_the_shared_connection(home: Path) -> None:
    host = OpenSSHHost(HostAddress("1.2.3.4", port=2200, key_path="/k"), home=home)
    assert "ControlPath=none" in host.options(reuse=False)
    line = host.command_line()
    assert line.startswith("ssh -o BatchMode=yes") and line.endswith("-p 2200 ubuntu@1.2.3.4")


def test_interactive_sessions_ask_for_a_terminal_only_when_told(home: Path) -> None:
    host = OpenSSHHost(HostAddress("h"), home=home)
    assert "-t" in host.argv(tty=True) and "-T" not in host.argv(tty=True)
    assert "-T" in host.argv("ls")


def test_repr_names_the_host_only(home: Path) -> None:
    host = OpenSSHHost(HostAddress("1.2.3.4", key_path="/secret/place/key"), home=home)
    assert repr(host) == "OpenSSHHost('ubuntu@1.2.3.4')"


def test_the_factory_defaults_to_flow_home(home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_HOME", str(home))
    made = ssh_factory()(HostAddress("1.2.3.4"))
    assert isinstance(made, OpenSSHHost) and made.known_hosts.parent == home / "ssh"


needs_keygen = pytest.mark.skipif(shutil.which("ssh-keygen") is None, reason="no ssh-keygen")


@needs_keygen
def test_a_key_pair_is_created_once_with_a_private_key_only_we_can_read(home: Path) -> None:
    pair = ensure_key_pair(home)
    assert pair.private_key == home / "ssh" / "id_ed25519"
    assert pair.private_key.stat().st_mode & 0o777 == 0o600
    assert (home / "ssh").stat().st_mode & 0o777 == 0o700
    assert pair.public_key.startswith("ssh-ed25519 ") and pair.public_key.endswith(" flowlib")
    assert pair.public_key_path.read_text().strip() == pair.public_key
    assert ensure_key_pair(home) == pair  # loaded, not replaced
    assert "PRIVATE" not in repr(pair) and pair.public_key not in repr(pair)


@needs_keygen
def test_a_lost_public_half_is_derived_again_from_the_private_key(home: Path) -> None:
    pair = ensure_key_pair(home)
    pair.public_key_path.unlink()
    again = ensure_key_pair(home)
    assert again.public_key.split()[:2] == pair.public_key.split()[:2]


@needs_keygen
def test_threads_making_the_key_at_once_all_get_the_key_on_disk(home: Path) -> None:
    barrier = threading.Barrier(12)
    keys: list[str] = []
    errors: list[BaseException] = []

    def first_use() -> None:
        try:
            barrier.wait()
            keys.append(ensure_key_pair(home).public_key)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=first_use) for _ in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(keys) == {(home / "ssh" / "id_ed25519.pub").read_text().strip()}
    assert len(keys) == 12


@needs_keygen
def test_a_lone_public_half_is_replaced_with_the_new_keys(home: Path) -> None:
    ssh = home / "ssh"
    ssh.mkdir(parents=True)
    (ssh / "id_ed25519.pub").write_text("ssh-ed25519 AAAAleftover old\n")
    pair = ensure_key_pair(home)
    assert "leftover" not in pair.public_key
    assert pair.public_key_path.read_text().strip() == pair.public_key


class _FailingKeygen:
    def __init__(self) -> None:
        self.argv: list[list[str]] = []

    def run(self, argv: Sequence[str], **kwargs: Any) -> CommandResult:
        self.argv.append(list(argv))
        Path(argv[-1]).write_text("half a key")  # then it fails
        return CommandResult(tuple(argv), 1, "", "disk quota exceeded")


def test_a_failed_keygen_leaves_no_key_behind(home: Path) -> None:
    runner = _FailingKeygen()
    with pytest.raises(ProviderError, match="disk quota exceeded"):
        ensure_key_pair(home, runner=runner)
    # Generated away from the real path, which stays free for the next try.
    assert runner.argv[0][-1] != str(home / "ssh" / "id_ed25519")
    assert sorted(p.name for p in (home / "ssh").iterdir()) == ["id_ed25519.lock"]
