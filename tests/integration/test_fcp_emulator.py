"""The FCP emulator over real loopback HTTP, booting a real flowlib startup script.

The instance's script is built by ``flowlib.core.startup.build_script``; it runs under bash in
the instance's sandbox, writes task.log and the exit code there, and releases its own bid by
calling the emulator's API with curl, as a VM calls the real API.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from flowlib.core.startup import ScriptContext, build_script, fit_script
from flowlib.models import TaskConfig
from flowlib.testing.emulators.fcp import MAX_STARTUP_SCRIPT, FcpEmulator, Options, Timing

FAST = Timing(
    allocate_s=0, confirm_s=0, initialize_s=0, start_s=0.05, ssh_s=0.05, stop_s=0.1,
    resume_s=0, preempt_notice_s=1,
)  # fmt: skip

# What a provider would render as the self-release: find the bid by its name, DELETE it.
RELEASE = (
    'FLOW_BID=$(curl -fsS -H "Authorization: Bearer $FCP_API_KEY" '
    '"$FCP_API_URL/v2/spot/bids?project=$FCP_PROJECT&name=$FLOW_TASK_NAME&status=Allocated" '
    '| grep -o \'"fid": "bid_[A-Za-z0-9]*"\' | head -n 1 | cut -d \'"\' -f 4) && '
    'curl -fsS -o /dev/null -X DELETE -H "Authorization: Bearer $FCP_API_KEY" '
    '"$FCP_API_URL/v2/spot/bids/$FLOW_BID"'
)


@pytest.fixture
def served(tmp_path: Path) -> Iterator[FcpEmulator]:
    with FcpEmulator(timing=FAST, workdir=tmp_path, options=Options(stop_grace_s=1)) as emu:
        emu.start()
        yield emu


@pytest.fixture
def client(served: FcpEmulator) -> Iterator[httpx.Client]:
    with served.client(timeout=5) as c:
        yield c


def bid_body(emu: FcpEmulator, name: str, script: str | None = None) -> dict[str, Any]:
    return {
        "project": emu.project,
        "region": "us-central1-a",
        "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
        "limit_price": "$2.50",
        "instance_quantity": 1,
        "name": name,
        "launch_specification": {"volumes": [], "ssh_keys": [], "startup_script": script},
    }


def test_a_task_runs_for_real_and_releases_its_own_bid(
    served: FcpEmulator, client: httpx.Client
) -> None:
    config = TaskConfig(name="hello", shell="echo hello from $FLOW_TASK_NAME; exit 3")
    context = ScriptContext(
        task_id="t-1",
        config=config,
        extra_env={
            "FCP_API_URL": served.url,
            "FCP_API_KEY": served.api_key,
            "FCP_PROJECT": served.project,
        },
        release_command=RELEASE,
    )
    script = fit_script(build_script(context), MAX_STARTUP_SCRIPT)
    created = client.post("/v2/spot/bids", json=bid_body(served, "hello", script))
    assert created.status_code == 201
    bid = created.json()["fid"]

    assert served.wait_until(lambda: served.bid(bid).status == "Terminated", timeout=20)
    (inst,) = served.bid(bid).instances
    root = served.instance_root(inst)
    assert (root / "var/log/flow/task.log").read_text() == "hello from hello\n"
    assert (root / "var/run/flow/exit_code").read_text() == "3\n"
    assert served.wait_until(lambda: served.instance(inst).status == "STATUS_TERMINATED", 10)
    assert served.wait_for_scripts(timeout=10)
    assert served.instance(inst).script_exit_code == 3
    assert served.api_key not in served.startup_log(inst)  # the script never echoes env values
    release = [c for c in served.calls if c.method == "DELETE"]
    assert [(c.path, c.status) for c in release] == [(f"/v2/spot/bids/{bid}", 204)]
    listed = client.get("/v2/instances", params={"project": served.project}).json()["data"]
    assert [i["status"] for i in listed] == ["STATUS_TERMINATED"]


def test_a_script_that_forgets_to_release_keeps_billing(
    served: FcpEmulator, client: httpx.Client
) -> None:
    bid = client.post("/v2/spot/bids", json=bid_body(served, "leaky", "#!/bin/bash\ntrue\n"))
    fid = bid.json()["fid"]
    assert served.wait_until(lambda: bool(served.bid(fid).instances), 10)
    assert served.wait_for_scripts(timeout=10)
    assert served.wait_until(
        lambda: served.instance(served.bid(fid).instances[0]).status == "STATUS_RUNNING", 10
    )
    assert served.bid(fid).status == "Allocated"
    assert client.delete(f"/v2/spot/bids/{fid}").status_code == 204


def test_a_bid_post_accepted_then_dropped_leaves_exactly_one_bid(
    served: FcpEmulator, client: httpx.Client
) -> None:
    served.faults.drop_connection("POST", "/v2/spot/bids", after_processing=True)
    with pytest.raises(httpx.RemoteProtocolError):
        client.post("/v2/spot/bids", json=bid_body(served, "lost-answer"))
    found = client.get("/v2/spot/bids", params={"name": "lost-answer"}).json()["data"]
    assert len(found) == 1
    assert len(served.live_bids()) == 1


def test_a_reset_connection(served: FcpEmulator, client: httpx.Client) -> None:
    served.faults.drop_connection(reset=True)
    with pytest.raises((httpx.ReadError, httpx.RemoteProtocolError)):
        client.get("/v2/me")
    assert client.get("/v2/me").status_code == 200


def test_rate_limits_and_server_errors_over_http(served: FcpEmulator, client: httpx.Client) -> None:
    served.faults.rate_limit(times=1, retry_after=2)
    limited = client.get("/v2/me")
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "2")
    with served.faults.server_errors(every=2):
        assert [client.get("/v2/me").status_code for _ in range(4)] == [200, 503, 200, 503]


def test_a_slow_answer_times_the_client_out(served: FcpEmulator, client: httpx.Client) -> None:
    served.faults.slow(0.5, times=1)
    with pytest.raises(httpx.ReadTimeout):
        client.get("/v2/me", timeout=0.1)


def test_the_command_line_serves_an_emulator(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowlib.testing.emulators", "fcp", "--port", "0",
         "--timing", "instant", "--workdir", str(tmp_path)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().split(": ", 1)[1].strip()
        key = proc.stdout.readline().split(": ", 1)[1].strip()
        assert url.startswith("http://127.0.0.1:")
        assert key.startswith("fkey_")
        me = httpx.get(f"{url}/v2/me", headers={"Authorization": f"Bearer {key}"}, timeout=5)
        assert me.status_code == 200
    finally:
        os.kill(proc.pid, signal.SIGINT)
        proc.wait(timeout=10)
    assert proc.returncode == 0
