"""The local resource governor: GPU choice and waiting reasons from nvidia-smi outputs, the
machine-wide FIFO queue and run slots (flock files under FLOW_HOME/governor)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from flowlib.core.seams import CommandResult
from flowlib.errors import CapacityError, ConfigError
from flowlib.models import TaskConfig
from flowlib.providers.local._governor import Queue, decide, impossible, request_of
from flowlib.providers.local._machine import (
    DEFAULT_MIN_FREE_RAM_MB,
    QUERY,
    GovernorSettings,
    Request,
    free_ram_mb,
    parse_readings,
    read_gpus,
    total_ram_mb,
)

FIXTURES = Path(__file__).parents[3] / "fixtures" / "nvidia-smi"
MEMINFO = Path(__file__).parents[3] / "fixtures" / "meminfo"


class RecordedNvidiaSmi:
    """A CommandRunner that answers nvidia-smi with a recorded output (no GPU here)."""

    def __init__(self, fixture: str | None, returncode: int = 0) -> None:
        self.fixture, self.returncode = fixture, returncode
        self.calls: list[tuple[str, ...]] = []

    def run(
        self,
        argv: Sequence[str],
        *,
        timeout: float | None = None,
        env: Mapping[str, str] | None = None,
        input: str | None = None,
    ) -> CommandResult:
        self.calls.append(tuple(argv))
        if self.fixture is None:
            raise FileNotFoundError(argv[0])
        text = (FIXTURES / self.fixture).read_text()
        return CommandResult(tuple(argv), self.returncode, text, "")


def readings(fixture: str) -> list:  # type: ignore[type-arg]
    return read_gpus(RecordedNvidiaSmi(fixture))


def test_every_gpu_of_an_8x_h100_machine_is_read() -> None:
    gpus = readings("h100-8x-busy.csv")
    assert [g.index for g in gpus] == list(range(8))
    assert gpus[2].memory_total_mb == 81559 and gpus[2].memory_free_mb == 81002
    assert gpus[0].temperature_c == 64 and gpus[0].utilization_pct == 98


def test_values_a_driver_does_not_report_are_none() -> None:
    (gpu,) = readings("rtx4090-not-supported.csv")
    assert gpu.name == "NVIDIA GeForce RTX 4090"
    assert gpu.temperature_c is None and gpu.utilization_pct is None


def test_a_broken_driver_or_no_nvidia_smi_reads_as_no_gpu() -> None:
    assert read_gpus(RecordedNvidiaSmi("driver-mismatch.txt", returncode=9)) == []
    assert parse_readings((FIXTURES / "driver-mismatch.txt").read_text()) == []
    assert read_gpus(RecordedNvidiaSmi(None)) == []


def test_the_query_asks_for_memory_and_temperature() -> None:
    runner = RecordedNvidiaSmi("h100-8x-busy.csv")
    read_gpus(runner)
    assert runner.calls == [tuple(QUERY)]
    assert "memory.free" in QUERY[1] and "temperature.gpu" in QUERY[1]


def test_the_gpus_with_the_most_free_memory_are_chosen() -> None:
    gpus = readings("h100-8x-busy.csv")
    assert decide(Request(gpus=1), GovernorSettings(), gpus, None).gpus == (2,)
    assert decide(Request(gpus=3), GovernorSettings(), gpus, None).gpus == (2, 4, 7)


def test_a_hot_gpu_is_skipped_and_one_with_too_little_memory_too() -> None:
    gpus = readings("a100-2x-hot.csv")
    decision = decide(Request(gpus=1), GovernorSettings(), gpus, None)
    assert not decision.start
    assert decision.reason is not None
    assert "GPU 0: 91 C > 85 C" in decision.reason
    assert "GPU 1: 2100 MB free < 2500 MB" in decision.reason


def test_thresholds_are_configurable() -> None:
    gpus = readings("a100-2x-hot.csv")
    settings = GovernorSettings(max_gpu_temp_c=95, min_free_vram_mb=1000)
    assert decide(Request(gpus=2), settings, gpus, None).gpus == (0, 1)


def test_a_cooled_gpu_is_given_to_the_waiting_task() -> None:
    gpus = readings("a100-2x-cool.csv")
    assert decide(Request(gpus=1), GovernorSettings(), gpus, None).gpus == (0,)


def test_a_task_without_gpus_waits_only_for_memory() -> None:
    settings = GovernorSettings(min_free_ram_mb=4096)
    waiting = decide(Request(), settings, [], free_ram_mb=1000)
    assert not waiting.start
    assert waiting.reason == (
        "waiting for memory: 1000 MB RAM free, the task needs 4096 MB (min_free_ram_mb)"
    )
    assert decide(Request(), settings, [], free_ram_mb=8000).start


def test_requests_that_can_never_be_met_are_named() -> None:
    gpus = readings("a100-2x-hot.csv")
    assert impossible(Request(gpus=4), GovernorSettings(), gpus, 64000) == (
        "the task asks for 4 GPU(s) and this machine has 2 NVIDIA GPUs"
    )
    too_much = GovernorSettings(min_free_vram_mb=100_000)
    assert "largest GPU here has 81920 MB" in str(
        impossible(Request(gpus=1), too_much, gpus, 64000)
    )
    assert "has 16000 MB of RAM" in str(
        impossible(Request(), GovernorSettings(min_free_ram_mb=32000), [], 16000)
    )
    assert impossible(Request(gpus=1), GovernorSettings(), gpus, 64000) is None


def test_the_request_comes_from_the_instance_type() -> None:
    assert request_of(TaskConfig(command=["x"])) == Request(0)
    assert request_of(TaskConfig(command=["x"], instance_type="2xa100")) == Request(2)
    assert request_of(TaskConfig(command=["x"], instance_type="h100")) == Request(1)
    assert request_of(TaskConfig(command=["x"], min_gpu_memory_gb=40)) == Request(1)


def test_settings_come_from_the_local_section_and_bad_values_are_config_errors() -> None:
    settings = GovernorSettings.from_settings({"max_parallel": 2, "max_gpu_temp_c": "80"})
    assert settings.max_parallel == 2 and settings.max_gpu_temp_c == 80
    for bad in ({"max_parallel": 0}, {"min_free_vram_mb": "lots"}, {"max_parallel": 1.5}):
        with pytest.raises(ConfigError, match=r"providers\.local"):
            GovernorSettings.from_settings(bad)


def test_the_governor_stays_out_of_the_way_unless_needed() -> None:
    plenty, low = ram("16g-mostly-free.txt"), ram("16g-almost-full.txt")
    assert not GovernorSettings().active(Request(), plenty)
    assert not GovernorSettings().active(Request(), None)  # no /proc/meminfo: not checked
    assert GovernorSettings().active(Request(), low)  # below the default floor: it waits
    assert not GovernorSettings(min_free_ram_mb=0).active(Request(), low)  # 0: switched off
    assert GovernorSettings().active(Request(gpus=1), plenty)
    assert GovernorSettings(max_parallel=1).active(Request(), plenty)


# -- free RAM, from recorded /proc/meminfo files ----------------------------------------------
def ram(fixture: str) -> int | None:
    return free_ram_mb(MEMINFO / fixture)


def test_free_and_total_ram_are_read_from_meminfo() -> None:
    assert ram("16g-almost-full.txt") == 180
    assert ram("16g-mostly-free.txt") == 12288
    assert total_ram_mb(MEMINFO / "16g-mostly-free.txt") == 15936
    assert free_ram_mb(MEMINFO / "no-such-file") is None


def test_every_task_waits_below_the_default_free_ram_floor() -> None:
    assert GovernorSettings().min_free_ram_mb == DEFAULT_MIN_FREE_RAM_MB == 256
    waiting = decide(Request(), GovernorSettings(), [], ram("16g-almost-full.txt"))
    assert not waiting.start
    assert waiting.reason == (
        "waiting for memory: 180 MB RAM free, the task needs 256 MB (min_free_ram_mb)"
    )
    assert decide(Request(), GovernorSettings(), [], ram("16g-mostly-free.txt")).start


def test_min_free_ram_mb_zero_switches_the_check_off() -> None:
    off = GovernorSettings.from_settings({"min_free_ram_mb": 0})
    assert off.min_free_ram_mb == 0
    assert decide(Request(), off, [], ram("16g-almost-full.txt")).start
    assert decide(Request(), off, [], free_ram_mb=0).start
    with pytest.raises(ConfigError, match="0 or more"):
        GovernorSettings.from_settings({"min_free_ram_mb": -1})


def test_an_sbatch_memory_request_does_not_change_what_a_task_waits_for() -> None:
    # --mem is reported as ignored by the sbatch translation; the governor agrees
    config = TaskConfig(command=["x"], env={"SLURM_MEM_PER_NODE": "65536"})
    assert request_of(config) == Request(gpus=0)
    assert decide(request_of(config), GovernorSettings(), [], ram("16g-mostly-free.txt")).start


def test_tickets_are_served_first_come_first_served(tmp_path: Path) -> None:
    queue = Queue(tmp_path)
    first, fd1 = queue.enqueue("task-a")
    second, fd2 = queue.enqueue("task-b")
    settings = GovernorSettings()

    def go() -> object:
        from flowlib.providers.local._governor import Decision

        return Decision(True)

    waiting, slot = queue.turn(second, settings, go)
    assert not waiting.start and waiting.reason == "queued: 1 task ahead (FIFO)" and slot is None
    started, slot = queue.turn(first, settings, go)
    assert started.start
    assert queue.waiting() == [second]
    os.close(fd1)
    os.close(fd2)


def test_a_dead_waiters_ticket_is_dropped(tmp_path: Path) -> None:
    queue = Queue(tmp_path)
    _gone, fd1 = queue.enqueue("task-a")
    mine, fd2 = queue.enqueue("task-b")
    os.close(fd1)  # the first waiter died: the kernel dropped its lock
    assert queue.waiting() == [mine]
    assert len(os.listdir(tmp_path / "queue")) == 1
    os.close(fd2)


def test_max_parallel_holds_the_head_of_the_queue_until_a_slot_frees(tmp_path: Path) -> None:
    from flowlib.providers.local._governor import Decision

    queue = Queue(tmp_path)
    settings = GovernorSettings(max_parallel=1)
    running = queue.take_slot(1)
    assert running is not None and running >= 0
    ticket, fd = queue.enqueue("task-b")
    decision, slot = queue.turn(ticket, settings, lambda: Decision(True))
    assert decision.reason == "queued: 1 local task(s) already running (max_parallel)"
    assert queue.running(1) == 1
    os.close(running)  # the running task ended
    decision, slot = queue.turn(ticket, settings, lambda: Decision(True))
    assert decision.start and slot is not None
    os.close(slot)
    os.close(fd)


def test_an_impossible_request_is_refused_at_submit() -> None:
    from flowlib.providers.local._provider import LocalProvider

    provider = LocalProvider(
        Path(os.environ["FLOW_HOME"]),
        governor=GovernorSettings(
            min_free_ram_mb=32000, meminfo=str(MEMINFO / "16g-mostly-free.txt")
        ),
    )
    with pytest.raises(CapacityError, match="can never start here: min_free_ram_mb") as err:
        provider.prepare(TaskConfig(command=["true"]))
    assert "this machine has 15936 MB of RAM in all" in err.value.message
