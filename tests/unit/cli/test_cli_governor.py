"""`flow governor`'s table; `flow run --governor` as the local provider's setting for a run."""

from __future__ import annotations

from typing import Any

import pytest

from flowlib.cli._governor import render
from flowlib.cli._options import with_governor
from flowlib.cli._parser import parse_args
from flowlib.errors import ValidationError
from flowlib.models import FlowConfig


def report(**more: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "gpus": [
            {
                "index": 0,
                "name": "NVIDIA A100-SXM4-80GB",
                "memory_total_mb": 81920,
                "memory_free_mb": 80600,
                "temperature_c": 91,
                "utilization_pct": 0,
                "tasks": ["t-1"],
            },
            {
                "index": 1,
                "name": "NVIDIA A100-SXM4-80GB",
                "memory_total_mb": 81920,
                "memory_free_mb": None,
                "temperature_c": None,
                "utilization_pct": None,
                "tasks": [],
            },
        ],
        "ram": {"free_mb": 12288, "total_mb": 15936, "min_free_mb": 256},
        "governor": {
            "mode": "pause",
            "max_parallel": None,
            "min_free_vram_mb": 2500,
            "max_gpu_temp_c": 85,
            "sample_s": 5.0,
            "resume_after_s": 30.0,
            "max_pause_s": 3600.0,
        },
        "tasks": [
            {
                "task_id": "t-1",
                "name": "train",
                "status": "running",
                "provider_state": "paused",
                "message": "paused by the governor since 2026-12-02 00:41:07 UTC: GPU 0: 91 C",
                "gpus": [0],
            },
            {
                "task_id": "t-2",
                "name": "prep",
                "status": "running",
                "provider_state": "running",
                "message": None,
                "gpus": None,
            },
        ],
    }
    base.update(more)
    return base


def test_the_table_shows_each_gpu_its_tasks_the_ram_and_why_tasks_wait() -> None:
    lines = render(report()).splitlines()
    assert lines[:3] == [
        "GPU  NAME                   FREE / TOTAL MB  TEMP  UTIL  TASKS",
        "0    NVIDIA A100-SXM4-80GB  80,600 / 81,920  91 C  0 %   train (t-1)",
        "1    NVIDIA A100-SXM4-80GB       ? / 81,920  -     -     -",
    ]
    assert lines[3] == "RAM: 12,288 MB free of 15,936 MB, tasks need 256 MB"
    assert lines[4].startswith("governor: pause (sampled every 5 s; resumes after 30 s cool")
    assert lines[6:] == [
        "TASK  NAME   STATE    GPUS  WHY",
        "t-1   train  paused   0     paused by the governor since 2026-12-02 00:41:07 UTC: "
        "GPU 0: 91 C",
        "t-2   prep   running  all",
    ]


def test_a_machine_without_gpus_or_tasks_says_so() -> None:
    text = render(report(gpus=[], tasks=[]))
    assert text.splitlines()[0] == "no NVIDIA GPU (nvidia-smi is missing or reports none)"
    assert text.endswith("no local task is running or waiting")


def test_run_governor_sets_the_local_section_for_this_run_only() -> None:
    config = FlowConfig(providers={"local": {"max_parallel": 2}, "fcp": {"project": "p"}})
    changed = with_governor(config, "pause")
    assert changed.providers["local"] == {"max_parallel": 2, "governor": "pause"}
    assert changed.providers["fcp"] == {"project": "p"}
    assert config.providers["local"] == {"max_parallel": 2}
    with pytest.raises(ValidationError, match="--governor is a setting of the local"):
        with_governor(FlowConfig(provider="fcp"), "pause")


def test_the_parser_takes_governor_modes() -> None:
    assert parse_args(["run", "--governor", "pause", "echo", "hi"]).governor == "pause"
    assert parse_args(["governor", "--json"]).json
    with pytest.raises(SystemExit):
        parse_args(["run", "--governor", "stop", "echo", "hi"])
