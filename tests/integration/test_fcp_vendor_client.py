"""Mithril's own client (``flow-compute``, pinned) against the FCP emulator, CLI and SDK.

The client is installed from PyPI into a venv of its own under the pytest cache (see
``vendor.py``: its ``flow`` command and package must never meet ours) and pointed at a loopback
emulator through ``MITHRIL_API_URL``, ``MITHRIL_API_KEY`` and ``MITHRIL_PROJECT``, the variables
its source reads. It drives: price and availability listing, SSH key upload, a spot task submit,
status, cancel, volumes and API keys; each step is checked in the emulator's state, every
request it made was served by a route (no 404/405) and every answer validates against the
published OpenAPI document.

``flow logs`` of a running task goes the way it goes on the cloud: the instance runs the
client's own startup script and answers real OpenSSH as ``ubuntu``, both seeing the instance's
disk at a VM's absolute paths (``FcpEmulator(ssh=True, vm_paths=True)``: a private mount
namespace per instance, root only, see ``flowlib/testing/emulators/_vm.py``); the client's log
commands (``sudo -n tail /var/log/...``, ``docker ps``, the host-mode workload log) read back what
the workload printed.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from test_fcp_emulator_contract import Contract, spec  # noqa: F401  (the published document)
from vendor import cache_dir, vendor_venv

from flowlib.testing.emulators._sshd import sshd_missing
from flowlib.testing.emulators._vm import vm_paths_missing
from flowlib.testing.emulators.fcp import FcpEmulator, Options, Timing

FLOW_COMPUTE = "flow-compute==3.28.2"
QUICK = Timing(allocate_s=0, confirm_s=0, initialize_s=0, start_s=0, ssh_s=0, stop_s=0.2)


@pytest.fixture(scope="module")
def vendor(request: pytest.FixtureRequest) -> Path:
    return vendor_venv(cache_dir(request.config, "flowlib-vendor"), FLOW_COMPUTE)


@pytest.fixture
def emu() -> Iterator[FcpEmulator]:
    # boot=False: the vendor's startup script (apt, docker, systemd units) is not run here.
    with FcpEmulator(timing=QUICK, boot=False) as emulator:
        emulator.start()
        yield emulator


class Vendor:
    """Runs the vendor's CLI and Python in its venv, with a HOME of its own."""

    def __init__(self, venv: Path, emu: FcpEmulator, home: Path, **extra_env: str) -> None:
        home.mkdir(parents=True, exist_ok=True)
        self.venv = venv
        self.env = {
            "PATH": f"{venv / 'bin'}:/usr/bin:/bin",
            "HOME": str(home),
            "LANG": "C.UTF-8",
            "NO_COLOR": "1",
            "TERM": "dumb",
            "COLUMNS": "200",
            "MITHRIL_API_URL": emu.url,
            "MITHRIL_API_KEY": emu.api_key,
            "MITHRIL_PROJECT": "default",
            **extra_env,
        }

    def cli(self, *argv: str) -> str:
        done = subprocess.run(
            [str(self.venv / "bin" / "flow"), *argv],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"flow {' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
        return done.stdout

    def cli_json(self, *argv: str) -> Any:
        return json.loads(self.cli(*argv, "--json"))

    def python(self, code: str) -> Any:
        """Run ``code`` in the vendor's Python; it prints one JSON document last."""
        done = subprocess.run(
            [str(self.venv / "bin" / "python"), "-c", code],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.slow
@pytest.mark.timeout(900)  # the first run builds the client's venv (pip, about a minute)
def test_the_vendor_cli_and_sdk_work_against_the_emulator(
    vendor: Path,
    emu: FcpEmulator,
    tmp_path: Path,
    spec: dict[str, Any],  # noqa: F811  (the fixture imported above)
) -> None:
    client = Vendor(vendor, emu, tmp_path / "home")

    # Prices and availability: every instance type the client knows built in has a market.
    listed = client.cli("pricing")
    assert "H200" in listed and "B200" in listed
    offers = client.cli_json("availability")["data"]["availability"]
    cheapest = {(o["instance_type"], o["region"]): o["price_per_instance_hour"] for o in offers}
    assert cheapest[("a100-80gb.sxm.1x", "us-central1-b")] == 1.60
    assert ("h200.8x", "us-central2-a") in cheapest

    # SSH key upload.
    private = tmp_path / "id_ed25519"
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me", "-f", str(private)]
    subprocess.run(argv, check=True, timeout=30)
    client.cli("ssh-key", "upload", f"{private}.pub", "--name", "mine")
    public = Path(f"{private}.pub").read_text().strip()
    assert [k.name for k in emu.state.ssh_keys.values() if k.public_key == public] == ["mine"]

    # A spot task: submit, status, cancel.
    run = "echo hello", "-i", "1xa100", "-n", "vendor", "-m", "3", "-y", "--wait-until", "running"
    submitted = client.cli_json("run", *run)["data"]
    bid = emu.bid(submitted["task_id"])
    assert (bid.status, bid.limit_cents, submitted["status"]) == ("Allocated", 300, "running")
    assert emu.instance(bid.instances[0]).status == "STATUS_RUNNING"
    tasks = client.cli_json("status")["data"]
    assert [(t["task_id"], t["status"]) for t in tasks] == [(bid.fid, "running")]
    client.cli("cancel", bid.fid, "-y")
    assert emu.bid(bid.fid).status == "Terminated"

    # Volumes.
    client.cli("volume", "create", "--size", "50", "--name", "vdata", "-r", "us-central1-a", "-y")
    (volume,) = client.cli_json("volume", "list")["data"]
    assert (volume["name"], volume["size_gb"]) == ("vdata", 50)
    client.cli("volume", "delete", "vdata", "--yes")
    assert emu.state.volumes[volume["id"]].deleted_at is not None

    # The SDK: identity, API keys, task status, SSH keys, reservations.
    expires = (_dt.datetime.now(_dt.timezone.utc) + _dt.timedelta(days=30)).isoformat()
    sdk = client.python(
        f"""
import json
from flow import Flow
f = Flow()
api = f.provider.ctx.api
me = f.identity.get_me()
made = api.create_api_key({{"name": "sdk-key", "expires_at": {expires!r}}})
names = [k["name"] for k in api.list_api_keys()]
api.revoke_api_key(made["fid"])
print(json.dumps({{
    "me": me["id"], "key": made["fid"], "secret": made["secret"][:5], "names": names,
    "after": [k["name"] for k in api.list_api_keys()],
    "status": str(f.status({bid.fid!r})),
    "ssh_keys": sorted(k["name"] for k in f.ssh.list_platform_keys()),
    "reservations": len(f.reservations.list()),
}}))
"""
    )
    assert sdk["me"] == emu.state.user_fid.removeprefix("user_")
    assert (sdk["names"], sdk["after"], sdk["secret"]) == (
        ["emulator", "sdk-key"], ["emulator"], "fkey_"
    )  # fmt: skip
    assert any(k.fid == sdk["key"] and k.deactivated_at for k in emu.state.api_keys.values())
    assert sdk["status"] == "cancelled" and "mine" in sdk["ssh_keys"]
    assert sdk["reservations"] == 0

    # Everything it asked was served, as the published document says.
    assert emu.errors == []
    unserved = [f"{c.method} {c.path}" for c in emu.calls if c.status in (404, 405)]
    assert unserved == []
    contract = Contract(spec)
    problems = [p for call in emu.calls for p in contract.check(call)]
    assert problems == [], "\n".join(problems)
    assert os.environ.get("MITHRIL_API_KEY") is None  # nothing leaked into our environment


# The instance has no way out but loopback: the client's script tries to download uv, and must
# fail at once (it carries on without) instead of fetching it from the internet.
OFFLINE = {
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "no_proxy": "127.0.0.1,localhost",
}


@pytest.fixture
def vm_emu() -> Iterator[FcpEmulator]:
    missing = sshd_missing() or vm_paths_missing()
    if missing is not None:
        pytest.skip(f"instances cannot be seen as VMs here: {missing}")
    # ssh_host: the client treats a loopback IP as "no public address yet" and waits a minute
    # per command before it tries; a host name it takes as it is.
    options = Options(ssh_host="localhost")
    boot_env = lambda _i: dict(OFFLINE)  # noqa: E731
    with FcpEmulator(
        timing=QUICK, options=options, ssh=True, vm_paths=True, boot_env=boot_env
    ) as e:
        e.start()
        yield e


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_vendor_reads_a_running_tasks_logs_over_ssh(
    vendor: Path,
    vm_emu: FcpEmulator,
    tmp_path: Path,
    spec: dict[str, Any],  # noqa: F811  (the fixture imported above)
) -> None:
    private = tmp_path / "id_ed25519"
    argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "me", "-f", str(private)]
    subprocess.run(argv, check=True, timeout=30)
    # FLOW_SSH_MUX=0: the client's multiplexing socket under pytest's long temporary HOME would
    # pass the 108 bytes a socket path may have, and its master (ControlPersist=60s) would hold
    # the SDK's pipes for a minute after each command; the log commands are the same either way.
    client = Vendor(
        vendor, vm_emu, tmp_path / "home", MITHRIL_SSH_KEY=str(private), FLOW_SSH_MUX="0"
    )
    client.cli("ssh-key", "upload", f"{private}.pub", "--name", "mine")

    # Submitted the way the client's docs show: a task file. Host mode (no image), no code
    # upload; the working directory is one a VM has (/workspace would be made on the host's /,
    # which the instance sees read-only).
    name = f"vlogs-{uuid.uuid4().hex[:6]}"
    task = tmp_path / "task.yaml"
    task.write_text(
        f"name: {name}\ninstance_type: 1xa100\nmax_price_per_hour: 3\nupload_code: false\n"
        "working_dir: /home/ubuntu/work\ncommand: echo hello-from-the-workload; sleep 600\n"
    )
    submitted = client.cli_json("run", str(task), "-y", "--wait-until", "running")["data"]
    bid = vm_emu.bid(submitted["task_id"])
    root = vm_emu.instance_root(bid.instances[0])
    workload_log = root / "var/log/flow/user-workload.log"  # the client's host-mode log
    deadline = time.monotonic() + 30
    while "hello-from-the-workload" not in _text(workload_log) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _text(workload_log) == "hello-from-the-workload\n", _text(
        root / "var/log/cloud-init-output.log"
    )

    # The CLI: the workload's output (no container: the host workload log), the startup
    # script's log, cloud-init's and the host logs, each read on the instance under sudo -n.
    assert client.cli("logs", bid.fid).strip() == "hello-from-the-workload"
    startup = client.cli("logs", bid.fid, "--source", "startup", "--tail", "20")
    assert "::flow::user-command-start::" in startup and "hello-from-the-workload" in startup
    cloud_init = client.cli("logs", bid.fid, "--source", "cloud-init", "--tail", "200")
    assert "Starting Mithril instance initialization" in cloud_init
    host = client.cli("logs", bid.fid, "--source", "host", "--tail", "20")
    assert "[Startup] hello-from-the-workload" in host  # sudo -n tail of /var/log/foundry/...

    # The SDK: the same snapshot.
    sdk = client.python(
        f"""
import json
from flow import Flow
f = Flow()
print(json.dumps({{
    "stdout": f.logs({bid.fid!r}),
    "startup": f.logs({bid.fid!r}, tail=5, source="startup"),
}}))
"""
    )
    assert sdk["stdout"] == "hello-from-the-workload"
    # the workload's line and the script's "User workload started" race for the last line
    assert "hello-from-the-workload" in sdk["startup"].splitlines()

    # What the client's script wrote at a VM's paths stayed on the instance's disk.
    assert (root / f"var/log/flow/{name}.log").is_file()
    assert (root / "run/flow-user-workload.pid").is_file()
    for host_path in (f"/var/log/flow/{name}.log", f"/var/log/flow/{name}.out"):
        assert not Path(host_path).exists(), host_path
    client.cli("cancel", bid.fid, "-y")

    assert vm_emu.errors == []
    unserved = [f"{c.method} {c.path}" for c in vm_emu.calls if c.status in (404, 405)]
    assert unserved == []
    contract = Contract(spec)
    problems = [p for call in vm_emu.calls for p in contract.check(call)]
    assert problems == [], "\n".join(problems)


def _text(path: Path) -> str:
    try:
        return path.read_text(errors="replace")
    except FileNotFoundError:
        return ""
