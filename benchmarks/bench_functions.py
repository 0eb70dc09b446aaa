"""Remote Python calls on the local provider: a trivial round trip, and a 200-input map_array.

    python benchmarks/bench_functions.py
"""

from __future__ import annotations

import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _trivial(x: int) -> int:
    return x + 1


def run(runs: int = 10, inputs: int = 200) -> list[dict[str, Any]]:
    from flowlib import submitit
    from flowlib.flow import Flow
    from flowlib.remote import spawn

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FLOW_HOME"] = str(Path(tmp) / "home")
        project = Path(tmp) / "project"
        project.mkdir()
        flow = Flow(provider="local")
        spawn(_trivial, (0,), flow=flow, code_dir=project).result()  # warm
        times = []
        for i in range(runs):
            start = time.perf_counter()
            assert spawn(_trivial, (i,), flow=flow, code_dir=project).result() == i + 1
            times.append(time.perf_counter() - start)
        executor = submitit.AutoExecutor(folder=Path(tmp) / "logs")
        executor.update_parameters(flow_code_dir=str(project))
        start = time.perf_counter()
        jobs = executor.map_array(_trivial, range(inputs))
        assert [j.result() for j in jobs] == [i + 1 for i in range(inputs)]
        mapped = time.perf_counter() - start
    return [
        {
            "benchmark": "remote call round trip of a trivial function (local)",
            "seconds": statistics.median(times),
            "target": 0.3,
        },
        {
            "benchmark": f"submitit map_array of {inputs} trivial inputs (local), total",
            "seconds": mapped,
            "target": None,
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(f"{row['benchmark']}: {row['seconds'] * 1000:.0f} ms (target {row['target']})")
