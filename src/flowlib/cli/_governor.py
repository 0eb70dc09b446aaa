"""``flow governor``: this machine as the local resource governor sees it, in one table.

Each NVIDIA GPU (free memory, temperature, utilisation, the local tasks it was given to), the
host's free RAM, and the live local tasks: running, queued or paused by the governor, and why.
Read from ``nvidia-smi`` and ``/proc/meminfo`` now, and from the task store; ``--json`` prints
the same as data.
"""

from __future__ import annotations

import argparse
from typing import Any

from flowlib.cli._output import print_json, shorten, table
from flowlib.models import TaskStatus

__all__ = ["cmd_governor", "render"]


def cmd_governor(args: argparse.Namespace) -> int:
    from flowlib.flow import Flow
    from flowlib.providers.base import optional_method

    with Flow(home=args.home) as flow:
        provider = flow.provider("local")
        machine = optional_method(
            provider,
            "machine",
            "governor",
            cannot="show this machine",
            default="its plugin has no resource governor",
            suggestions=["use the built-in local provider"],
        )
        records = flow.store.list(
            status=[TaskStatus.PENDING, TaskStatus.RUNNING], provider="local", limit=1000
        )
        report: dict[str, Any] = machine(records)
    if args.json:
        print_json(report)
    else:
        print(render(report))
    return 0


def render(report: dict[str, Any]) -> str:
    """The report of :meth:`LocalProvider.machine` as the table ``flow governor`` prints."""
    names = {t["task_id"]: t["name"] for t in report["tasks"]}
    lines = []
    if report["gpus"]:
        rows = [
            [
                str(g["index"]),
                g["name"],
                f"{_mb(g['memory_free_mb'])} / {_mb(g['memory_total_mb'])}",
                "-" if g["temperature_c"] is None else f"{g['temperature_c']} C",
                "-" if g["utilization_pct"] is None else f"{g['utilization_pct']} %",
                ", ".join(f"{names.get(t, t)} ({t})" for t in g["tasks"]) or "-",
            ]
            for g in report["gpus"]
        ]
        lines.append(
            table(["GPU", "NAME", "FREE / TOTAL MB", "TEMP", "UTIL", "TASKS"], rows, right=(2,))
        )
    else:
        lines.append("no NVIDIA GPU (nvidia-smi is missing or reports none)")
    ram = report["ram"]
    if ram["free_mb"] is not None:
        floor = f", tasks need {ram['min_free_mb']} MB" if ram["min_free_mb"] else ""
        lines.append(f"RAM: {_mb(ram['free_mb'])} MB free of {_mb(ram['total_mb'])} MB{floor}")
    gov = report["governor"]
    mode = (
        f"pause (sampled every {gov['sample_s']:g} s; resumes after {gov['resume_after_s']:g} s "
        f"cool; fails after {gov['max_pause_s']:g} s paused)"
        if gov["mode"] == "pause"
        else "start (checks before a task starts; `--governor pause` also watches it running)"
    )
    lines.append(
        f"governor: {mode}; max_gpu_temp_c {gov['max_gpu_temp_c']}, "
        f"min_free_vram_mb {gov['min_free_vram_mb']}, "
        f"max_parallel {gov['max_parallel'] if gov['max_parallel'] else 'none'}"
    )
    if report["tasks"]:
        rows = [
            [
                t["task_id"],
                t["name"],
                t["provider_state"] or t["status"],
                "all" if t["gpus"] is None else ",".join(map(str, t["gpus"])) or "-",
                shorten(t["message"] or "", 70),
            ]
            for t in report["tasks"]
        ]
        lines.append("")
        lines.append(table(["TASK", "NAME", "STATE", "GPUS", "WHY"], rows))
    else:
        lines.append("no local task is running or waiting")
    return "\n".join(lines)


def _mb(value: int | None) -> str:
    return "?" if value is None else f"{value:,}"
