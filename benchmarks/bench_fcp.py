"""The fcp provider against the FCP emulator over loopback HTTP: API calls and wall time.

    python benchmarks/bench_fcp.py [--tasks 200] [--polls 5]

Submits ``--tasks`` tasks through :class:`flowlib.Flow` (each a bid; code upload off, so the
numbers are the API's), then polls the status of all of them while they run, as `flow status`
does (one batch call to the provider). Instances do not boot (``boot=False``): the exit-code
read over the remote-host seam finds nothing, as on a running VM. Prints a Markdown table;
:func:`run` returns the rows.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from flowlib import Flow
from flowlib.models import TaskStatus
from flowlib.testing.emulators import sandbox_settings
from flowlib.testing.emulators.fcp import FcpEmulator, Market, Timing


def run(tasks: int = 200, polls: int = 5) -> list[dict[str, Any]]:
    market = Market(
        "a100-80gb.sxm.1x", "A100", 1, 80, 24, 224, 950, "SXM4",
        {"us-central1-a": ("$1.80", tasks * 2)},
    )  # fmt: skip
    with (
        tempfile.TemporaryDirectory() as tmp,
        FcpEmulator(timing=Timing.instant(), boot=False, markets=[market]) as emu,
    ):
        url = emu.start()
        section = sandbox_settings(Path(tmp) / "disks")
        with Flow(
            provider="fcp",
            api_url=url,
            api_key=emu.api_key,
            home=Path(tmp) / "home",
            providers={"fcp": section},
        ) as flow:
            start = time.perf_counter()
            for i in range(tasks):
                flow.run(["python", "train.py", str(i)], instance_type="a100", upload_code=False)
            submit_s = time.perf_counter() - start
            submit_calls = len(emu.calls)
            times, calls = [], []
            for _ in range(polls):
                before = len(emu.calls)
                start = time.perf_counter()
                listed = flow.list_tasks(limit=tasks)
                times.append(time.perf_counter() - start)
                calls.append(len(emu.calls) - before)
                assert len(listed) == tasks
                assert all(t.status == TaskStatus.RUNNING for t in listed)
            for task in listed:
                flow.cancel(task.task_id)
    poll_s = statistics.median(times)
    return [
        {
            "benchmark": f"submit {tasks} tasks (loopback)",
            "calls": submit_calls,
            "per_task": submit_calls / tasks,
            "seconds": submit_s,
            "per_task_ms": submit_s / tasks * 1000,
        },
        {
            "benchmark": f"status of {tasks} running tasks (one `flow status`)",
            "calls": statistics.median(calls),
            "per_task": statistics.median(calls) / tasks,
            "seconds": poll_s,
            "per_task_ms": poll_s / tasks * 1000,
        },
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = [
        "| benchmark | API calls | calls per task | wall time | per task |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['benchmark']} | {r['calls']:g} | {r['per_task']:.3f} | "
            f"{r['seconds'] * 1000:.0f} ms | {r['per_task_ms']:.2f} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=200)
    parser.add_argument("--polls", type=int, default=5)
    args = parser.parse_args()
    print(table(run(args.tasks, args.polls)))


if __name__ == "__main__":
    main()
