"""The governor during a run (`governor: pause`) with real processes: a task whose GPU runs hot or
whose machine runs short of RAM is really stopped (SIGSTOP, state T in /proc) and continued, says
so in its status and log, fails when paused too long, and keeps its time limit on running time.

No GPU here: `nvidia-smi` is a script on PATH that prints the output in ./reading.csv, and free
RAM is read from a copy of a recorded /proc/meminfo (`meminfo`), both swapped by the test."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import pytest
from polling import fake_nvidia_smi, until

from flowlib import Flow, TaskStatus
from flowlib.cli import main

FIXTURES = Path(__file__).parents[1] / "fixtures"
SMI = FIXTURES / "nvidia-smi"
MEMINFO = FIXTURES / "meminfo"


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """A fake nvidia-smi (cool A100s: GPU 0 free, GPU 1 busy) and a meminfo with RAM free."""
    reading = fake_nvidia_smi(tmp_path, SMI / "a100-2x-cool.csv", monkeypatch)
    meminfo = tmp_path / "meminfo"
    shutil.copy(MEMINFO / "16g-mostly-free.txt", meminfo)
    return {"reading": reading, "meminfo": meminfo, "dir": tmp_path}


def pausing_flow(machine: dict[str, Path], **more: Any) -> Flow:
    settings = {
        "governor": "pause",
        "sample_s": 0.02,
        "resume_after_s": 0.1,
        "poll_s": 0.02,
        "meminfo": str(machine["meminfo"]),
        **more,
    }
    return Flow(providers={"local": settings})


def state_of(pid: int) -> str:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()[0]


def workload(machine: dict[str, Path]) -> str:
    """A shell loop that writes its pid, then waits for ./go."""
    d = machine["dir"]
    return f"echo $$ > {d}/w.pid; while [ ! -f {d}/go ]; do sleep 0.02; done; echo done"


def started_pid(machine: dict[str, Path]) -> int:
    path = machine["dir"] / "w.pid"
    return int(until(lambda: path.exists() and path.read_text().strip()))


def test_a_hot_gpu_pauses_the_task_and_a_cool_one_resumes_it(machine: dict[str, Path]) -> None:
    flow = pausing_flow(machine)
    task = flow.run(workload(machine), instance_type="a100", upload_code=False)
    pid = started_pid(machine)
    assert flow.get_task(task.task_id).provider_state == "running"

    shutil.copy(SMI / "a100-2x-hot.csv", machine["reading"])  # GPU 0 (the task's) at 91 C
    paused = until(lambda: (t := flow.get_task(task.task_id)).provider_state == "paused" and t)
    assert paused.status == TaskStatus.RUNNING
    assert paused.message is not None
    assert paused.message.startswith("paused by the governor since ")
    assert "GPU 0: 91 C > 85 C (max_gpu_temp_c)" in paused.message
    until(lambda: state_of(pid) == "T")  # really stopped
    (machine["dir"] / "go").touch()
    time.sleep(0.2)  # stopped, it cannot see ./go
    assert state_of(pid) == "T" and flow.get_task(task.task_id).provider_state == "paused"
    assert "paused by the governor: GPU 0: 91 C > 85 C" in flow.logs(task.task_id)

    shutil.copy(SMI / "a100-2x-cool.csv", machine["reading"])
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.COMPLETED and done.exit_code == 0
    log = flow.logs(task.task_id)
    assert "resumed by the governor after" in log and log.endswith("done")


def test_the_monitor_leaves_with_the_task(machine: dict[str, Path]) -> None:
    from flowlib.core.procs import session_members

    flow = pausing_flow(machine, sample_s=30)  # long between samples: it must not wait them out
    task = flow.run("echo hi", upload_code=False)
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
    session = flow.store.get(task.task_id).provider_data["pid"]
    until(lambda: not session_members(int(session)), timeout=5)


def test_a_gpu_at_the_limit_keeps_the_task_paused_until_it_is_well_below(
    machine: dict[str, Path],
) -> None:
    flow = pausing_flow(machine, max_gpu_temp_c=80)
    task = flow.run(workload(machine), instance_type="a100", upload_code=False)
    pid = started_pid(machine)
    shutil.copy(SMI / "a100-2x-hot.csv", machine["reading"])
    until(lambda: flow.get_task(task.task_id).provider_state == "paused")
    until(lambda: state_of(pid) == "T")
    (machine["dir"] / "go").touch()
    shutil.copy(SMI / "a100-2x-warm.csv", machine["reading"])  # 78 C: under 80, not 5 under
    time.sleep(0.3)  # three times resume_after_s
    assert flow.get_task(task.task_id).provider_state == "paused" and state_of(pid) == "T"
    shutil.copy(SMI / "a100-2x-cool.csv", machine["reading"])
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED


def test_short_ram_pauses_a_task_and_too_long_a_pause_fails_it(machine: dict[str, Path]) -> None:
    flow = pausing_flow(machine, max_pause_s=0.4)
    task = flow.run(workload(machine), upload_code=False)  # no GPU asked: RAM still watched
    pid = started_pid(machine)
    shutil.copy(MEMINFO / "16g-almost-full.txt", machine["meminfo"])  # 180 MB free
    paused = until(lambda: (t := flow.get_task(task.task_id)).provider_state == "paused" and t)
    assert "180 MB RAM free < 256 MB (min_free_ram_mb)" in (paused.message or "")
    until(lambda: state_of(pid) == "T")
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.FAILED and done.exit_code == 143
    assert done.message == (
        "paused by the governor for longer than max_pause_s=0.4 s (180 MB RAM free < 256 MB "
        "(min_free_ram_mb)); stopped"
    )
    # RAM is still short, but a workload stopped for good is not paused again on its way out
    assert flow.logs(task.task_id, tail=None).count("paused by the governor:") == 1


def test_paused_time_does_not_count_against_the_time_limit(machine: dict[str, Path]) -> None:
    flow = pausing_flow(machine)
    task = flow.run(
        workload(machine), instance_type="a100", max_run_time_hours=2 / 3600, upload_code=False
    )
    started_pid(machine)
    shutil.copy(SMI / "a100-2x-hot.csv", machine["reading"])
    until(lambda: flow.get_task(task.task_id).provider_state == "paused")
    time.sleep(2.2)  # longer than the whole limit, paused
    (machine["dir"] / "go").touch()
    shutil.copy(SMI / "a100-2x-cool.csv", machine["reading"])
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.COMPLETED, done.message
    assert (done.completed_at - done.started_at).total_seconds() > 2  # type: ignore[operator]


def test_paused_time_counts_when_configured(machine: dict[str, Path]) -> None:
    flow = pausing_flow(machine, pause_counts_toward_limit=True)  # the script's own `timeout`
    task = flow.run(
        workload(machine), instance_type="a100", max_run_time_hours=2 / 3600, upload_code=False
    )
    started_pid(machine)
    shutil.copy(SMI / "a100-2x-hot.csv", machine["reading"])
    until(lambda: flow.get_task(task.task_id).provider_state == "paused")
    time.sleep(2.2)  # as in the test above, which completes
    (machine["dir"] / "go").touch()
    shutil.copy(SMI / "a100-2x-cool.csv", machine["reading"])
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.FAILED and done.exit_code == 124


def test_the_time_limit_still_stops_a_workload_that_runs_too_long(
    machine: dict[str, Path],
) -> None:
    flow = pausing_flow(machine)
    task = flow.run("sleep 30", max_run_time_hours=1 / 3600, upload_code=False)
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.FAILED and done.exit_code == 124
    assert done.message == "stopped: max_run_time_hours=0.000277778 reached"


def test_a_paused_task_cancels_at_once(machine: dict[str, Path]) -> None:
    flow = pausing_flow(machine)
    task = flow.run(workload(machine), instance_type="a100", upload_code=False)
    pid = started_pid(machine)
    shutil.copy(SMI / "a100-2x-hot.csv", machine["reading"])
    until(lambda: state_of(pid) == "T")
    began = time.monotonic()
    assert flow.cancel(task.task_id).status == TaskStatus.CANCELLED
    assert time.monotonic() - began < 3  # not the 5 s grace: the stop reached the workload
    assert not Path(f"/proc/{pid}").exists() or state_of(pid) == "Z"


def test_flow_run_governor_pause_and_flow_governor_show_the_machine(
    machine: dict[str, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    settings = {
        "sample_s": 0.02,
        "resume_after_s": 0.05,
        "poll_s": 0.02,
        "meminfo": str(machine["meminfo"]),
    }
    config = Path(os.environ["HOME"]) / ".flow" / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(json.dumps({"providers": {"local": settings}}))
    argv = ["run", "--governor", "pause", "-i", "a100", "--no-upload", "--json"]
    assert main([*argv, workload(machine)]) == 0
    task_id = json.loads(capsys.readouterr().out)["task_id"]
    started_pid(machine)
    shutil.copy(SMI / "a100-2x-hot.csv", machine["reading"])

    def report() -> dict[str, Any]:
        assert main(["governor", "--json"]) == 0
        data: dict[str, Any] = json.loads(capsys.readouterr().out)
        return data

    shown = until(lambda: (r := report())["tasks"][0]["provider_state"] == "paused" and r)
    assert [g["tasks"] for g in shown["gpus"]] == [[task_id], []]  # GPU 0 given to the task
    assert [g["temperature_c"] for g in shown["gpus"]] == [91, 62]
    assert shown["gpus"][1]["memory_free_mb"] == 2100
    assert shown["ram"]["free_mb"] == 12288 and shown["governor"]["mode"] == "start"
    assert main(["governor"]) == 0
    table = capsys.readouterr().out
    assert "GPU  NAME" in table and "91 C" in table and f"({task_id})" in table
    assert "paused by the governor since" in table
    (machine["dir"] / "go").touch()
    shutil.copy(SMI / "a100-2x-cool.csv", machine["reading"])
    assert main(["wait", task_id]) == 0


def test_governor_on_another_provider_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--governor", "pause", "--provider", "slurm", "--dry-run", "echo hi"])
    assert code == 2
    assert "--governor is a setting of the local resource governor" in capsys.readouterr().err
