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
        (
            "python -c 'import pydantic' (reference)",
            wall([py, "-c", "import pydantic"], runs),
            None,
        ),
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
        {
            "benchmark": "local task: submit -> completed (`true`)",
            "seconds": statistics.median(times),
            "target": 0.15,
        },
        {
            "benchmark": "local task with code upload: submit -> completed",
            "seconds": statistics.median(upload_times),
            "target": 0.15,
        },
        {"benchmark": "follow: line written -> line yielded", "seconds": follow, "target": None},
    ]


def _follow_latency(flow: object, runs: int) -> float:
    """Time from a line reaching task.log to `logs(follow=True)` yielding it: the task prints
    its wall clock every 50 ms, the follower compares with its own on receipt."""
    from flowlib import Flow

    assert isinstance(flow, Flow)
    code = (
        f"import time\nfor _ in range({runs}):\n"
        "    time.sleep(0.05)\n    print(time.time(), flush=True)\n"
    )
    task = flow.run([sys.executable, "-c", code], upload_code=False)
    latencies = [time.time() - float(line) for line in task.logs(follow=True)]
    return statistics.median(latencies)


def bench_status_among_many(runs: int) -> list[dict[str, object]]:
    """`flow status ID` and `Flow.get_task(ID)` with 100,000 tasks in the store."""
    import bench_store

    from flowlib import Flow

    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        home.mkdir()
        ids = bench_store.fill(home / "tasks.db", 100_000)
        os.environ["FLOW_HOME"] = str(home)
        flow = Flow(provider="local")
        target = ids[len(ids) // 2]
        api = []
        for _ in range(runs):
            start = time.perf_counter()
            flow.get_task(target)
            api.append(time.perf_counter() - start)
        cli = wall([sys.executable, "-m", "flowlib.cli", "status", target], runs)
        table = wall([sys.executable, "-m", "flowlib.cli", "status"], runs)
    return [
        {
            "benchmark": "status of 1 task among 100,000: Flow.get_task",
            "seconds": statistics.median(api),
            "target": 0.05,
        },
        {
            "benchmark": "status of 1 task among 100,000: `flow status ID` (whole process)",
            "seconds": cli,
            "target": None,
        },
        {
            "benchmark": "`flow status` table (newest 20 of 100,000, whole process)",
            "seconds": table,
            "target": None,
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    runs = 5 if args.quick else 15
    rows = bench_startup(runs) + bench_local_task(runs) + bench_status_among_many(runs)
    import bench_packaging
    import bench_store

    rows += bench_packaging.run()
    import bench_functions

    rows += bench_functions.run()
    for row in bench_store.run():
        target = 0.05 if str(row["operation"]).startswith(("get", "resolve(")) else None
        rows.append(
            {
                "benchmark": f"store of 100,000 tasks: {row['operation']}",
                "seconds": float(row["median_ms"]) / 1000,
                "target": target,
            }
        )
    print("| benchmark | median | target |\n|---|---:|---:|")
    for row in rows:
        target = row["target"]
        ms = float(row["seconds"]) * 1000  # type: ignore[arg-type]
        mark = "" if target is None else (" ok" if ms <= float(target) * 1000 else " MISSED")  # type: ignore[arg-type]
        shown = "-" if target is None else f"{float(target) * 1000:.0f} ms"  # type: ignore[arg-type]
        value = f"{ms:.3f}" if ms < 1 else f"{ms:.1f}"
        print(f"| {row['benchmark']} | {value} ms | {shown}{mark} |")


if __name__ == "__main__":
    main()
