"""The run monitor's decisions (`governor: pause`) against sequences of nvidia-smi outputs: a hot
spell, a cool-down that is interrupted, a GPU that disappears; the RAM floor, the bound on a
pause, paused time kept out of the time limit, and what the provider's status reads."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from flowlib.errors import ConfigError
from flowlib.providers.local._machine import GovernorSettings, Request, parse_readings
from flowlib.providers.local._monitor import (
    PAUSED_FILE,
    Action,
    Monitor,
    Pause,
    Sample,
    Watch,
    read_pause,
    running_s,
    step,
)

SEQUENCES = Path(__file__).parents[3] / "fixtures" / "nvidia-smi" / "sequences"
PLENTY_MB = 12288


def sequence(name: str) -> list[tuple[float, Sample]]:
    """A sequence file's samples: (seconds, what nvidia-smi said then); a sample that is not
    CSV is a driver that stopped answering (no readings at all)."""
    samples: list[tuple[float, list[str]]] = []
    for line in (SEQUENCES / name).read_text().splitlines():
        if line.startswith("#"):
            continue
        if line.startswith("@"):
            samples.append((float(line[1:]), []))
        elif line.strip():
            samples[-1][1].append(line)
    return [
        (t, Sample(parse_readings("\n".join(lines)) or None, PLENTY_MB)) for t, lines in samples
    ]


def replay(
    name: str, settings: GovernorSettings, gpus: tuple[int, ...] | None
) -> tuple[list[Action], list[Watch]]:
    watch, actions, watches = Watch(gpus=gpus), [], []
    for now, sample in sequence(name):
        watch, action = step(watch, sample, now, settings)
        actions.append(action)
        watches.append(watch)
    return actions, watches


PAUSE = GovernorSettings(governor="pause", resume_after_s=10, max_pause_s=3600)
N, P, R, F = Action.NONE, Action.PAUSE, Action.RESUME, Action.FAIL


def test_a_hot_spell_pauses_once_and_resumes_after_the_hold_time() -> None:
    actions, watches = replay("hot-spell.txt", PAUSE, gpus=(0,))
    # 88 C at 10 s pauses; 84 C (under 85, not 5 under) is not cool; cool from 79 C at 25 s,
    # resumed 10 s later; 78 C at 40 s is under the limit: it keeps running.
    assert actions == [N, N, P, N, N, N, N, R, N]
    assert watches[2].reason == "GPU 0: 88 C > 85 C (max_gpu_temp_c)"
    assert watches[3].reason == "GPU 0: 91 C > 85 C (max_gpu_temp_c)"  # the latest reading
    assert watches[6].cool_since == 25
    assert not watches[7].paused and watches[7].paused_total_s == 25


def test_the_other_gpu_does_not_matter_to_a_task_on_gpu_1() -> None:
    actions, _ = replay("hot-spell.txt", PAUSE, gpus=(1,))
    assert actions == [N] * 9


def test_a_task_without_a_gpu_request_watches_every_gpu_of_its_first_sample() -> None:
    actions, watches = replay("hot-spell.txt", PAUSE, gpus=None)
    assert watches[0].gpus == (0, 1)
    assert actions == [N, N, P, N, N, N, N, R, N]


def test_a_cool_down_that_is_interrupted_starts_its_hold_time_again() -> None:
    settings = GovernorSettings(governor="pause", max_gpu_temp_c=83, resume_after_s=10)
    actions, watches = replay("cool-down-interrupted.txt", settings, gpus=(0,))
    # 77 C at 5 s is cool (<= 78); 80 C at 10 s is not, so the hold restarts at 76 C (15 s).
    assert actions == [P, N, N, N, N, R]
    assert watches[1].cool_since == 5 and watches[2].cool_since is None
    assert watches[4].cool_since == 15


def test_a_gpu_that_disappears_is_unknown_neither_hot_nor_cool() -> None:
    actions, watches = replay("gpu-disappears.txt", PAUSE, gpus=(1,))
    # Hot at 0 s: paused. Gone at 5 s and 10 s (the driver broke): no resume on no news.
    # Back at 15 s and cool: the hold starts then, not while it was missing.
    assert actions == [P, N, N, N, N]
    assert watches[1].unknown == "GPU 1 not reported by nvidia-smi"
    assert watches[2].unknown == "GPU 1 not reported by nvidia-smi" and watches[2].paused
    assert watches[3].unknown is None and watches[3].cool_since == 15
    assert watches[4].paused  # 5 s of the 10 s hold
    later, action = step(watches[4], sequence("gpu-disappears.txt")[4][1], 25, PAUSE)
    assert action == R and later.paused_total_s == 25


def test_a_missing_gpu_does_not_pause_a_running_task() -> None:
    samples = sequence("gpu-disappears.txt")
    watch, action = step(Watch(gpus=(1,)), samples[1][1], 5, PAUSE)
    assert action == N and not watch.paused and watch.unknown is not None


def test_short_ram_pauses_and_free_ram_resumes() -> None:
    settings = GovernorSettings(governor="pause", min_free_ram_mb=1024, resume_after_s=0)
    watch, action = step(Watch(gpus=()), Sample(None, 900), 0, settings)
    assert action == P and watch.reason == "900 MB RAM free < 1024 MB (min_free_ram_mb)"
    watch, action = step(watch, Sample(None, 1000), 1, settings)
    assert action == N and watch.paused
    watch, action = step(watch, Sample(None, 4000), 2, settings)
    assert action == R and watch.paused_total_s == 2
    off = GovernorSettings(governor="pause", min_free_ram_mb=0)
    assert step(Watch(gpus=()), Sample(None, 1), 0, off)[1] == N
    assert step(Watch(gpus=()), Sample(None, None), 0, settings)[1] == N  # unknown: no pause


def test_a_task_paused_longer_than_max_pause_s_fails() -> None:
    settings = GovernorSettings(governor="pause", min_free_ram_mb=1024, max_pause_s=60)
    watch, _ = step(Watch(gpus=()), Sample(None, 10), 0, settings)
    assert step(watch, Sample(None, 10), 60, settings)[1] == N
    assert step(watch, Sample(None, 10), 61, settings)[1] == F
    unbounded = GovernorSettings(governor="pause", min_free_ram_mb=1024, max_pause_s=0)
    assert step(watch, Sample(None, 10), 1e9, unbounded)[1] == N


def test_paused_time_is_kept_out_of_the_running_time() -> None:
    watch = Watch(gpus=(), paused_total_s=30)
    assert running_s(watch, now=200, started=100) == 70
    paused = Watch(gpus=(), paused_since=180, paused_total_s=30)
    assert running_s(paused, now=200, started=100) == 50


def test_the_pause_settings_come_from_the_local_section() -> None:
    settings = GovernorSettings.from_settings(
        {"governor": "pause", "sample_s": 0.5, "max_pause_s": 0, "resume_after_s": "0"}
    )
    assert settings.pauses and settings.sample_s == 0.5 and settings.max_pause_s == 0
    assert not GovernorSettings().pauses  # off unless asked for
    assert GovernorSettings(governor="pause").active(Request(), None)  # a waiter starts it
    with pytest.raises(ConfigError, match="must be one of start, pause"):
        GovernorSettings.from_settings({"governor": "stop"})
    with pytest.raises(ConfigError, match="true or false"):
        GovernorSettings.from_settings({"pause_counts_toward_limit": "yes"})
    with pytest.raises(ConfigError, match=r"sample_s must be a number of seconds above 0"):
        GovernorSettings.from_settings({"sample_s": 0})


def test_the_status_reads_the_pause_and_heals_one_whose_monitor_died(tmp_path: Path) -> None:
    live = {"reason": "GPU 0: 91 C > 85 C (max_gpu_temp_c)", "since": 0, "resume_after_s": 30}
    (tmp_path / PAUSED_FILE).write_text(json.dumps({**live, "monitor_pid": os.getpid()}))
    pause = read_pause(tmp_path, session=None)
    assert pause == Pause("GPU 0: 91 C > 85 C (max_gpu_temp_c)", 0.0, 30)
    assert pause.message() == (
        "paused by the governor since 1970-01-01 00:00:00 UTC: GPU 0: 91 C > 85 C "
        "(max_gpu_temp_c); resumes after 30 s cool"
    )
    dead = {**live, "monitor_pid": os.getpid(), "monitor_ticks": -1}  # a reused pid: not ours
    (tmp_path / PAUSED_FILE).write_text(json.dumps(dead))
    assert read_pause(tmp_path, session=None) is None
    assert not (tmp_path / PAUSED_FILE).exists()
    assert read_pause(tmp_path, session=None) is None  # no file: running


def test_the_monitor_records_a_pause_and_never_pauses_a_workload_it_stopped(
    tmp_path: Path,
) -> None:
    # A session no process can have (above pid_max): the monitor's signals reach nobody, its
    # files and decisions are what is checked here (tests/integration: real processes).
    nobody = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal: 16318960 kB\nMemAvailable: 184320 kB\n")  # 180 MB free
    (tmp_path / "root/var/run/flow").mkdir(parents=True)
    (tmp_path / "root/var/log/flow").mkdir(parents=True)
    (tmp_path / "root/var/log/flow/task.log").write_text("step 1\nstep 2 (half a line")
    now = [1000.0]
    settings = GovernorSettings(governor="pause", max_pause_s=60, meminfo=str(meminfo))
    monitor = Monitor(tmp_path, nobody, settings, gpus=(), clock=lambda: now[0])
    assert monitor.once() == P
    pause = json.loads((tmp_path / PAUSED_FILE).read_text())
    assert (
        pause["reason"] == "180 MB RAM free < 256 MB (min_free_ram_mb)" and pause["since"] == 1000
    )
    now[0] += 61
    assert monitor.once() == F
    assert not (tmp_path / PAUSED_FILE).exists()
    message = (tmp_path / "root/var/run/flow/message").read_text()
    assert message.startswith("paused by the governor for longer than max_pause_s=60 s")
    now[0] += 1
    assert monitor.once() == N  # RAM is still short: the stopped workload's script may finish
    log = (tmp_path / "root/var/log/flow/task.log").read_text().splitlines()
    assert log[:2] == ["step 1", "step 2 (half a line"]  # a notice starts on a line of its own
    assert log[2] == (
        "[flow 00:16:40] paused by the governor: 180 MB RAM free < 256 MB (min_free_ram_mb); "
        "resumes after 30 s cool"
    )
    assert log[3].startswith("[flow 00:17:41] paused by the governor for longer than")
    assert len(log) == 4
