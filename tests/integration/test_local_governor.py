"""The local resource governor with real processes: a machine-wide FIFO queue under max_parallel,
and a task held back by a hot GPU (nvidia-smi replaced by a script that prints a recorded
output: no GPU here)."""

from __future__ import annotations

import itertools
import shutil
from pathlib import Path

import pytest
from polling import fake_nvidia_smi, until

from flowlib import Flow, TaskStatus

FIXTURES = Path(__file__).parents[1] / "fixtures" / "nvidia-smi"


def test_max_parallel_runs_tasks_one_at_a_time_in_submit_order(project: Path) -> None:
    flow = Flow(providers={"local": {"max_parallel": 1, "poll_s": 0.05}})
    first = flow.run("sleep 0.6", upload_code=False)
    later = [flow.run(f"echo {i}", upload_code=False) for i in range(3)]
    until(lambda: flow.get_task(first.task_id).status == TaskStatus.RUNNING)
    waiting = until(
        lambda: (t := flow.get_task(later[-1].task_id)).provider_state == "queued" and t
    )
    assert waiting.status == TaskStatus.PENDING
    assert waiting.message is not None and waiting.message.startswith("queued:")
    done = [flow.wait(t.task_id, timeout=30) for t in [first, *later]]
    assert all(t.status == TaskStatus.COMPLETED for t in done)
    for before, after in itertools.pairwise(done):
        assert before.completed_at is not None and after.started_at is not None
        assert after.started_at >= before.completed_at - _CLOCK_SLACK


_CLOCK_SLACK = __import__("datetime").timedelta(milliseconds=5)


def test_a_cancelled_waiter_leaves_the_queue(project: Path) -> None:
    flow = Flow(providers={"local": {"max_parallel": 1, "poll_s": 0.05}})
    first = flow.run("sleep 0.5", upload_code=False)
    stuck = flow.run("echo never", upload_code=False)
    last = flow.run("echo last", upload_code=False)
    until(lambda: flow.get_task(stuck.task_id).provider_state == "queued")
    assert flow.cancel(stuck.task_id).status == TaskStatus.CANCELLED
    assert flow.wait(last.task_id, timeout=30).status == TaskStatus.COMPLETED
    assert flow.wait(first.task_id, timeout=30).status == TaskStatus.COMPLETED


@pytest.fixture
def fake_gpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An `nvidia-smi` on PATH that prints the output in ./reading.csv (a hot GPU 0)."""
    return fake_nvidia_smi(tmp_path, FIXTURES / "a100-2x-hot.csv", monkeypatch)


def test_a_task_waits_for_a_hot_gpu_then_gets_the_coolest_free_one(
    project: Path, fake_gpu: Path
) -> None:
    flow = Flow(providers={"local": {"poll_s": 0.05}})
    task = flow.run("echo gpu=$CUDA_VISIBLE_DEVICES", instance_type="a100", upload_code=False)
    held = until(lambda: flow.get_task(task.task_id).message)
    assert flow.get_task(task.task_id).status == TaskStatus.PENDING
    assert held == ("waiting for 1 GPU: GPU 0: 91 C > 85 C; GPU 1: 2100 MB free < 2500 MB")
    shutil.copy(FIXTURES / "a100-2x-cool.csv", fake_gpu)
    done = flow.wait(task.task_id, timeout=30)
    assert done.status == TaskStatus.COMPLETED
    assert flow.logs(task.task_id) == "gpu=0"


def test_a_threshold_no_gpu_here_can_meet_is_refused_at_submit(
    project: Path, fake_gpu: Path
) -> None:
    from flowlib.errors import CapacityError

    flow = Flow(providers={"local": {"min_free_vram_mb": 100_000}})
    with pytest.raises(CapacityError, match="largest GPU here has 81920 MB") as info:
        flow.run("true", instance_type="a100", upload_code=False)
    assert "can never start here" in info.value.message
    assert flow.list_tasks() == []  # refused before anything was recorded


MEMINFO = Path(__file__).parents[1] / "fixtures" / "meminfo"


@pytest.fixture
def meminfo(tmp_path: Path) -> Path:
    """A copy of a recorded /proc/meminfo (180 MB available) that a test may swap."""
    path = tmp_path / "meminfo"
    shutil.copy(MEMINFO / "16g-almost-full.txt", path)
    return path


def test_with_almost_no_free_ram_a_task_waits_and_says_why(project: Path, meminfo: Path) -> None:
    flow = Flow(providers={"local": {"poll_s": 0.05, "meminfo": str(meminfo)}})  # no threshold set
    task = flow.run("echo started", upload_code=False)
    held = until(lambda: flow.get_task(task.task_id).message)
    assert flow.get_task(task.task_id).status == TaskStatus.PENDING
    assert held == "waiting for memory: 180 MB RAM free, the task needs 256 MB (min_free_ram_mb)"
    shutil.copy(MEMINFO / "16g-mostly-free.txt", meminfo)  # memory was freed
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
    assert flow.logs(task.task_id) == "started"


def test_min_free_ram_mb_zero_starts_at_once_whatever_the_memory(
    project: Path, meminfo: Path
) -> None:
    flow = Flow(providers={"local": {"min_free_ram_mb": 0, "meminfo": str(meminfo)}})
    task = flow.run("echo started", upload_code=False)
    assert flow.wait(task.task_id, timeout=30).status == TaskStatus.COMPLETED
