"""Python functions as tasks on the local provider: round trips, and maps of many inputs.

    python benchmarks/bench_functions.py [--runs N] [--inputs N]

Rows: a trivial ``remote.spawn(...).result()`` and ``@app.function`` ``.remote()`` round trip
(median of ``runs``; target under 0.3 s), ``.map`` of 1,000 trivial inputs in batches (the
default: spread over 4 tasks, at most 500 inputs each), and submitit's ``map_array`` of 200
inputs (one task per input, for comparison). Prints a Markdown table; :func:`run` returns the
rows for ``benchmarks/run.py``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any


def _trivial(x: int) -> int:
    return x + 1


def run(runs: int = 10, inputs: int = 200, map_inputs: int = 1000) -> list[dict[str, Any]]:
    import flowlib
    from flowlib import submitit
    from flowlib.flow import Flow
    from flowlib.remote import spawn

    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["FLOW_HOME"] = str(Path(tmp) / "home")
        project = Path(tmp) / "project"
        project.mkdir()
        flow = Flow(provider="local")
        app = flowlib.App("bench", flow=flow)
        trivial = app.function(code_dir=project)(_trivial)

        spawn(_trivial, (0,), flow=flow, code_dir=project).result()  # warm
        times = []
        for i in range(runs):
            start = time.perf_counter()
            assert spawn(_trivial, (i,), flow=flow, code_dir=project).result() == i + 1
            times.append(time.perf_counter() - start)
        rows.append(_row("remote.spawn(...).result() of a trivial function (local)", times, 0.3))

        trivial.remote(0)  # warm
        times = []
        for i in range(runs):
            start = time.perf_counter()
            assert trivial.remote(i) == i + 1
            times.append(time.perf_counter() - start)
        rows.append(_row("App function .remote() round trip, trivial (local)", times, 0.3))

        times = []
        for _ in range(max(runs // 3, 1)):
            start = time.perf_counter()
            assert list(trivial.map(range(map_inputs))) == [i + 1 for i in range(map_inputs)]
            times.append(time.perf_counter() - start)
        seconds = statistics.median(times)
        rows.append(
            {
                "benchmark": f".map of {map_inputs:,} trivial inputs, batched "
                f"({map_inputs / seconds:,.0f} inputs/s)",
                "seconds": seconds,
                "target": None,
            }
        )

        executor = submitit.AutoExecutor(folder=Path(tmp) / "logs")
        executor.update_parameters(flow_code_dir=str(project))
        start = time.perf_counter()
        jobs = executor.map_array(_trivial, range(inputs))
        assert [j.result() for j in jobs] == [i + 1 for i in range(inputs)]
        mapped = time.perf_counter() - start
        rows.append(
            {
                "benchmark": f"submitit map_array of {inputs} trivial inputs, one task each "
                f"({inputs / mapped:,.0f} inputs/s)",
                "seconds": mapped,
                "target": None,
            }
        )
    return rows


def _row(name: str, times: list[float], target: float | None) -> dict[str, Any]:
    return {"benchmark": name, "seconds": statistics.median(times), "target": target}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--inputs", type=int, default=200, help="map_array inputs")
    args = parser.parse_args()
    print("| benchmark | median | target |\n|---|---:|---:|")
    for row in run(runs=args.runs, inputs=args.inputs):
        target = row["target"]
        verdict = (
            "-"
            if target is None
            else f"{target * 1000:.0f} ms " + ("ok" if row["seconds"] <= target else "MISSED")
        )
        print(f"| {row['benchmark']} | {row['seconds'] * 1000:.1f} ms | {verdict} |")


if __name__ == "__main__":
    main()
