"""The fcp provider against the FCP emulator over loopback HTTP, instances booting for real:
self-release, faults, an interrupted submit, multi-node, code copied in after boot, ssh, ports
and volumes. Every test ends by asserting on the emulator's state: nothing left billing."""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from clouds import fcp_over_ssh
from sshd import eventually, fetch, free_port

from flowlib import Flow
from flowlib.core.ssh import OpenSSHHost
from flowlib.models import TaskStatus
from flowlib.providers.fcp._provider import FcpProvider
from flowlib.testing.emulators import sandbox_settings
from flowlib.testing.emulators.fcp import FcpEmulator


@pytest.fixture
def emu(tmp_path: Path) -> Iterator[FcpEmulator]:
    """Instances that run their own sshd: logs, ssh, forwards and the code upload go over
    real OpenSSH, as on the cloud."""
    with fcp_over_ssh(tmp_path / "cloud") as e:
        yield e


def settings(emu: FcpEmulator, **extra: object) -> dict[str, object]:
    section = emu.provider_settings(poll_interval_s=0.05, **extra)
    assert section["remote_host"] == "ssh"
    return section


@pytest.fixture
def flow(emu: FcpEmulator, project: Path) -> Iterator[Flow]:
    with Flow(
        provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": settings(emu)}
    ) as f:
        yield f


def no_bid_left(emu: FcpEmulator) -> bool:
    return emu.wait_until(lambda: not emu.live_bids(), timeout=15)


def test_the_instance_releases_itself_and_the_exit_code_is_read_afterwards(
    emu: FcpEmulator, project: Path
) -> None:
    # Released at once (nobody watches this task), the exit code is read from the terminated
    # instance's disk: only the sandbox host can do that, so this test uses it.
    assert emu.workdir is not None
    fcp = {
        **settings(emu, exit_grace_s=0),
        **sandbox_settings(emu.workdir / "instances"),
    }
    with Flow(provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": fcp}) as f:
        task = f.run("echo done; exit 4", instance_type="a100")
        assert no_bid_left(emu)  # the VM cancelled its own bid, with its own key
        (bid,) = emu.state.bids.values()
        release_key = next(k for k in emu.state.api_keys.values() if k.name == bid.name)
        assert emu.wait_until(lambda: release_key.deactivated_at is not None)  # ...and its key
        done = f.get_task(task.task_id)
        assert (done.status, done.exit_code) == (TaskStatus.FAILED, 4)
        assert f.logs(task.task_id) == "done"
    root = emu.instance_root(bid.instances[0])
    assert not (root / "var/lib/flow/release.header").exists()
    logs = emu.startup_log(bid.instances[0]) + (root / "var/log/flow/task.log").read_text()
    assert release_key.secret not in logs and emu.api_key not in logs
    assert "released bid" in emu.startup_log(bid.instances[0])


def test_every_third_call_failing_still_gives_exactly_one_bid(emu: FcpEmulator, flow: Flow) -> None:
    with emu.faults.server_errors(every=3):
        task = flow.run("echo survived", instance_type="a100")
        done = flow.wait(task.task_id, timeout=30)
    assert (done.status, done.exit_code) == (TaskStatus.COMPLETED, 0)
    assert len(emu.state.bids) == 1
    assert any(c.status == 503 for c in emu.calls)
    assert no_bid_left(emu)


def test_rate_limit_bursts_are_waited_out(emu: FcpEmulator, flow: Flow) -> None:
    emu.faults.rate_limit(times=4, retry_after=0.2, every=2)
    task = flow.run("echo patient", instance_type="a100")
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
    assert sum(1 for c in emu.calls if c.status == 429) == 4
    assert len(emu.state.bids) == 1 and no_bid_left(emu)


def test_a_connection_reset_after_the_bid_was_accepted_leaves_one_bid(
    emu: FcpEmulator, flow: Flow
) -> None:
    emu.faults.drop_connection("POST", "/v2/spot/bids", after_processing=True, reset=True)
    task = flow.run("echo once", instance_type="a100")
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
    posts = [c for c in emu.calls if c.method == "POST" and c.path == "/v2/spot/bids"]
    assert len(posts) == 1 and posts[0].dropped
    assert len(emu.state.bids) == 1 and no_bid_left(emu)


def test_a_submit_killed_mid_flight_leaves_a_bid_the_store_can_find_and_cancel(
    emu: FcpEmulator, project: Path, isolated_home: Path
) -> None:
    emu.faults.slow(60, method="POST", path="/v2/spot/bids")  # the bid exists; no answer yet
    child = textwrap.dedent(
        f"""
        from flowlib import Flow
        flow = Flow(provider="fcp", api_url={emu.url!r}, api_key={emu.api_key!r},
                    providers={{"fcp": {settings(emu)!r}}})
        flow.run("sleep 600", instance_type="a100")
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", child], env=os.environ.copy())
    try:
        assert emu.wait_until(lambda: emu.bid_count() == 1, timeout=30)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    with Flow(
        provider="fcp", api_url=emu.url, api_key=emu.api_key, providers={"fcp": settings(emu)}
    ) as flow:
        (task,) = flow.list_tasks()  # the store recorded the task before the bid was placed
        running = lambda: flow.get_task(task.task_id).status == TaskStatus.RUNNING  # noqa: E731
        assert emu.wait_until(running, timeout=15)  # its bid, found by name
        assert flow.store.get(task.task_id).provider_data["bid"] == emu.live_bids()[0].fid
        assert flow.cancel(task.task_id).status == TaskStatus.CANCELLED
    assert no_bid_left(emu)
    assert all(k.deactivated_at for k in emu.state.api_keys.values() if k.name != "emulator")


BARRIER = """
import os, socket, time
rank, nodes = int(os.environ["NODE_RANK"]), int(os.environ["PET_NNODES"])
addr = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
if rank == 0:
    server = socket.create_server(addr)
    peers = [server.accept()[0] for _ in range(nodes - 1)]
    for peer in peers:
        peer.sendall(b"go")
else:
    for _ in range(200):
        try:
            peer = socket.create_connection(addr, timeout=5)
            break
        except OSError:
            time.sleep(0.05)
    assert peer.recv(2) == b"go"
keys = ("NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT", "PET_NPROC_PER_NODE")
keys += ("FLOW_MAIN_IP",)
print(" ".join(f"{k}={os.environ[k]}" for k in keys), "passed the barrier")
"""


def test_multi_node_tasks_meet_at_master_addr_through_a_real_barrier(
    emu: FcpEmulator, flow: Flow
) -> None:
    task = flow.run(
        [sys.executable, "-c", BARRIER], instance_type="a100", num_instances=2,
        region="us-central1-a",
    )  # fmt: skip
    done = flow.wait(task.task_id, timeout=30)
    (bid,) = emu.state.bids.values()
    logs = [(emu.instance_root(fid) / "var/log/flow/task.log").read_text() for fid in bid.instances]
    assert done.status == TaskStatus.COMPLETED, logs
    main = emu.instance(bid.instances[0]).private_ip
    assert main.startswith("127.")  # the nodes' private network is loopback here
    same = f"WORLD_SIZE=2 MASTER_ADDR={main} MASTER_PORT=29500 PET_NPROC_PER_NODE=1"
    assert logs == [
        f"NODE_RANK={rank} {same} FLOW_MAIN_IP={main} passed the barrier\n" for rank in (0, 1)
    ]
    assert no_bid_left(emu)


def test_code_too_big_for_the_script_is_copied_in_after_boot(
    emu: FcpEmulator, flow: Flow, project: Path
) -> None:
    (project / "weights.bin").write_bytes(os.urandom(40_000))
    read = [sys.executable, "-c", "print(len(open('weights.bin', 'rb').read()))"]
    task = flow.run(read, instance_type="a100")
    done = flow.wait(task.task_id, timeout=30)
    assert done.exit_code == 0, flow.logs(task.task_id)
    assert flow.logs(task.task_id) == "40000"
    assert flow.store.get(task.task_id).provider_data["script_mode"] == "upload"
    assert no_bid_left(emu)


def test_logs_are_followed_over_ssh_until_the_workload_ends(emu: FcpEmulator, flow: Flow) -> None:
    task = flow.run("for i in 1 2 3; do echo line $i; sleep 0.3; done", instance_type="a100")
    assert list(flow.follow_logs(task.task_id)) == ["line 1", "line 2", "line 3"]
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
    assert no_bid_left(emu)


def test_ssh_runs_a_command_on_the_chosen_node_and_ports_forward(
    emu: FcpEmulator, flow: Flow
) -> None:
    port = free_port()
    serve = f"echo hello from the instance > index.html; exec {sys.executable} -m http.server "
    task = flow.run(
        serve + f"{port} --bind 127.0.0.1", instance_type="a100", num_instances=2,
        region="us-central1-a",
    )  # fmt: skip
    assert emu.wait_until(lambda: flow.get_task(task.task_id).is_running, timeout=30)
    assert flow.ssh(task.task_id, command="exit 5") == 5
    (bid,) = emu.state.bids.values()
    probe = '[ "$FLOW_ROOT" = ' + str(emu.instance_root(bid.instances[1])) + " ]"
    assert flow.ssh(task.task_id, command=probe, node=1) == 0
    provider = flow.provider()
    assert isinstance(provider, FcpProvider)
    record = flow.store.get(task.task_id)
    assert isinstance(provider.host(emu.instance(bid.instances[0]).to_json()), OpenSSHHost)
    with provider.forward(record, port) as tunnel:  # through the instance's own sshd
        assert tunnel.local_port != port
        page = f"http://127.0.0.1:{tunnel.local_port}/"
        assert eventually(lambda: fetch(page) == "hello from the instance\n", timeout=15)
    flow.cancel(task.task_id)
    assert no_bid_left(emu)


def test_volumes_are_created_attached_at_bid_creation_and_deleted(
    emu: FcpEmulator, flow: Flow
) -> None:
    provider = flow.provider()
    assert isinstance(provider, FcpProvider)
    data = provider.create_volume(50, name="datasets")
    assert [v.name for v in provider.list_volumes()] == ["datasets"]
    task = flow.run(
        "echo with volumes",
        instance_type="a100",
        region=data.region,
        volumes=[{"volume_id": data.volume_id}, {"size_gb": 10, "mount_path": "/scratch"}],
    )
    (bid,) = emu.state.bids.values()
    attached = bid.launch_specification["volumes"]
    assert attached[0] == data.volume_id and len(attached) == 2
    assert emu.state.volumes[attached[1]].capacity_gb == 10
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
    assert no_bid_left(emu)
    for volume in provider.list_volumes():
        provider.delete_volume(volume.volume_id)
    assert provider.list_volumes() == []


def test_a_volume_is_mounted_at_its_path_and_keeps_data_for_the_next_task(
    emu: FcpEmulator, flow: Flow
) -> None:
    volume = {"name": "ckpt", "size_gb": 10, "mount_path": "/ckpt"}
    # (an emulated instance has no root of its own: its paths are under $FLOW_ROOT)
    write = 'echo step-100 > "${FLOW_ROOT:-}/ckpt/latest"'
    first = flow.run(write, instance_type="a100", volumes=[volume])
    assert flow.wait(first.task_id, timeout=30).status == TaskStatus.COMPLETED
    (vol,) = (v for v in emu.state.volumes.values() if v.name == "ckpt")
    assert (emu.volume_data(vol.fid) / "latest").read_text() == "step-100\n"
    again = {"name": "ckpt", "mount_path": "/resume"}  # the same volume, by name, elsewhere
    read = 'cat "${FLOW_ROOT:-}/resume/latest"'
    second = flow.run(read, instance_type="a100", volumes=[again])
    assert flow.wait(second.task_id, timeout=30).status == TaskStatus.COMPLETED
    assert flow.logs(second.task_id) == "step-100"
    assert no_bid_left(emu)


def test_flow_catalog_refresh_replaces_the_bundled_fcp_rows_with_live_ones(
    emu: FcpEmulator,
) -> None:
    from flowlib.catalog import Catalog
    from flowlib.providers.fcp import flowlib_catalog_offers

    catalog = Catalog.bundled()
    flowlib_catalog_offers("fcp", {"api_url": emu.url, "api_key": emu.api_key}, catalog)
    live = catalog.find_instances(provider="fcp", instance_type="a100")
    assert [(o.region, o.price_per_hour, o.available) for o in live] == [
        ("us-central1-b", 1.60, 4),
        ("us-central1-a", 1.80, 8),
    ]
    assert {o.provider_type_id for o in live} == {emu.instance_type_fid("a100-80gb.sxm.1x")}


def test_the_dry_run_script_is_the_script_the_bid_was_sent(
    emu: FcpEmulator, flow: Flow, project: Path
) -> None:
    from flowlib.core.packaging import package_directory
    from flowlib.providers.base import MASK, ScriptPreview

    task = flow.run("echo previewed", instance_type="a100", env={"TOKEN": "s3cret"})
    assert flow.wait(task.task_id, timeout=60).status == TaskStatus.COMPLETED
    provider = flow.provider()
    assert isinstance(provider, ScriptPreview)
    record = flow.store.get(task.task_id)
    (bid,) = emu.state.bids.values()
    sent = bid.launch_specification["startup_script"]
    key = next(k for k in emu.state.api_keys.values() if k.name == bid.name)
    preview = provider.preview_script(record, package_directory(project))
    # the same render, but for the release key, which the preview never shows
    assert key.secret not in preview and MASK in preview
    shown = preview.replace(shlex.quote(MASK), MASK)
    assert shown == sent.replace(key.secret, MASK).replace(key.fid, "KEY_FID")
    assert no_bid_left(emu)
