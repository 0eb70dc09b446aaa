"""flowlib's speed, measured on this machine. Prints a Markdown table; anyone can run it:

    python benchmarks/run.py            # everything
    python benchmarks/run.py --quick    # fewer repetitions

Targets (2-core machine): `import flowlib` and `flow --help` under 0.15 s; a trivial local task
completed under 0.15 s after submit; packaging within 1.5x of `tar czf`; status of one task among
100,000 under 50 ms. Results are recorded in docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))


def wall(argv: list[str], runs: int) -> float:
    """Median wall time of a command, in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def bench_startup(runs: int) -> list[dict[str, object]]:
    py = sys.executable
    flow = [py, "-m", "flowlib.cli"]
    rows = [
        ("python -c pass (interpreter alone)", wall([py, "-c", "pass"], runs), None),
        ("python -c 'import pydantic' (reference)", wall([py, "-c", "import pydantic"], runs), None),
        ("python -c 'import flowlib'", wall([py, "-c", "import flowlib"], runs), 0.15),
        ("flow --help", wall([*flow, "--help"], runs), 0.15),
    ]
    return [{"benchmark": n, "seconds": s, "target": t} for n, s, t in rows]


def bench_local_task(runs: int) -> list[dict[str, object]]:
    """Submit-to-completed latency of a trivial task on the local provider."""
    from flowlib import Flow

    with tempfile.TemporaryDirectory() as tmp:
        project = Path(tmp) / "project"
        project.mkdir()
        (project / "main.py").write_text("print('hi')\n")
        os.environ["FLOW_HOME"] = str(Path(tmp) / "home")
        flow = Flow(provider="local")
        flow.run("true", upload_code=False, wait=True)  # warm: plugins, store, provider
        times, upload_times = [], []
        for _ in range(runs):
            start = time.perf_counter()
            flow.run("true", upload_code=False, wait=True)
            times.append(time.perf_counter() - start)
            start = time.perf_counter()
            flow.run("true", code_dir=project, wait=True)
            upload_times.append(time.perf_counter() - start)
        follow = _follow_latency(flow, runs)
    return [
        {"benchmark": "local task: submit -> completed (`true`)",
         "seconds": statistics.median(times), "target": 0.15},
        {"benchmark": "local task with code upload: submit -> completed",
         "seconds": statistics.median(upload_times), "target": 0.15},
        {"benchmark": "follow: line written -> line yielded", "seconds": follow, "target": None},
    ]


def _follow_latency(flow: object, runs: int) -> float:
    """Time from a line reaching task.log to `logs(follow=True)` yielding it."""
    from flowlib import Flow

    assert isinstance(flow, Flow)
    fifo_dir = Path(tempfile.mkdtemp())
    go = fifo_dir / "go"
    os.mkfifo(go)
    # The task prints a line each time the benchmark writes to its FIFO, and stamps when.
    task = flow.run(
        f"for i in $(seq {runs}); do read -r _ < {go}; echo tick; done",
        upload_code=False,
    )
    lines = task.logs(follow=True)
    latencies = []
    for _ in range(runs):
        timer = threading.Timer(0.05, lambda: go.write_text("x\n"))
        timer.start()
        timer.join()
        sent = time.perf_counter()
        next(lines)
        latencies.append(time.perf_counter() - sent)
    list(lines)
    return statistics.median(latencies)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    runs = 5 if args.quick else 15
    rows = bench_startup(runs) + bench_local_task(runs)
    import bench_packaging
    import bench_store

    for row in bench_packaging.run() + bench_store.run():
        rows.append({"benchmark": row["benchmark"], "seconds": row["seconds"],
                     "target": row.get("target")})
    print(f"| benchmark | median | target |\n|---|---:|---:|")
    for row in rows:
        target = row["target"]
        ms = float(row["seconds"]) * 1000  # type: ignore[arg-type]
        mark = "" if target is None else (" ok" if ms <= float(target) * 1000 else " MISSED")  # type: ignore[arg-type]
        shown = "-" if target is None else f"{float(target) * 1000:.0f} ms"  # type: ignore[arg-type]
        print(f"| {row['benchmark']} | {ms:.1f} ms | {shown}{mark} |")


if __name__ == "__main__":
    main()
