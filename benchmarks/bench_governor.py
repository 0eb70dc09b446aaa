"""What the local governor's pause mode costs and how fast it reacts, on this machine.

    python benchmarks/bench_governor.py [--runs N] [--sample-s S]

With a fake ``nvidia-smi`` on PATH (a script printing a recorded output: no GPU needed; a real
``nvidia-smi`` takes longer per call, tens of ms to ~1 s), it measures, as medians over N runs:
a trivial local task from submit to completed with ``governor: start`` and ``pause``; how long
after a hot reading the workload is stopped (state T in /proc), and after a cool one continued
(``resume_after_s: 0``); and the monitor process's CPU time per sample and its memory. Prints a
Markdown table; :func:`run` returns the rows.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

TESTS = Path(__file__).parents[1] / "tests"
FIXTURES = TESTS / "fixtures" / "nvidia-smi"
TICKS = os.sysconf("SC_CLK_TCK")
sys.path.insert(0, str(TESTS / "integration"))
from polling import until  # noqa: E402  (the tests' wait, polled every ms here)


def _stat(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()


def _until(check: Any) -> Any:
    return until(check, timeout=30.0, every=0.001)


def run(runs: int = 5, sample_s: float = 0.05) -> list[dict[str, Any]]:
    from flowlib import Flow
    from flowlib.core.procs import session_members

    work = Path(tempfile.mkdtemp(prefix="bench-governor-"))
    os.environ["FLOW_HOME"] = str(work / "home")
    os.environ["FLOW_KEEPER"] = "0"
    bindir = work / "bin"
    bindir.mkdir()
    reading = work / "reading.csv"
    shutil.copy(FIXTURES / "a100-2x-cool.csv", reading)
    (bindir / "nvidia-smi").write_text(f"#!/bin/bash\ncat {reading}\n")
    (bindir / "nvidia-smi").chmod(0o755)
    os.environ["PATH"] = f"{bindir}:{os.environ['PATH']}"
    base = {"sample_s": sample_s, "poll_s": 0.01, "resume_after_s": 0}

    def submit_to_done(settings: dict[str, Any]) -> float:
        flow = Flow(providers={"local": {**base, **settings}})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            task = flow.run("true", upload_code=False)
            flow.wait(task.task_id, timeout=30)
            times.append(time.perf_counter() - start)
        return statistics.median(times)

    kinds = [
        ("governor: start, nothing to check (no waiter)", {}),
        ("governor: start, max_parallel 8 (a waiter)", {"max_parallel": 8}),
        ("governor: pause (a waiter and a monitor)", {"governor": "pause"}),
    ]
    rows: list[dict[str, Any]] = [
        {"what": f"trivial task, submit to completed, {what}", "value": submit_to_done(s)}
        for what, s in kinds
    ]

    flow = Flow(providers={"local": {**base, "governor": "pause"}})
    pauses, resumes, cpu_per_sample, rss = [], [], [], []
    for _ in range(runs):
        pidfile = work / "w.pid"
        pidfile.unlink(missing_ok=True)
        task = flow.run(f"echo $$ > {pidfile}; sleep 30", instance_type="a100", upload_code=False)
        pid = int(_until(lambda f=pidfile: f.exists() and f.read_text().strip()))
        session = int(flow.store.get(task.task_id).provider_data["pid"])

        def monitor_of(sid: int = session) -> int | None:  # the member in a group of its own
            return next((p for p in session_members(sid) if int(_stat(p)[2]) == p != sid), None)

        monitor = _until(monitor_of)
        before = _stat(monitor)
        began = time.monotonic()
        time.sleep(sample_s * 20)  # twenty samples, running
        after = _stat(monitor)
        # its own CPU time and that of the nvidia-smi calls it waited for
        cpu = sum(int(after[i]) - int(before[i]) for i in (11, 12, 13, 14)) / TICKS
        cpu_per_sample.append(cpu / ((time.monotonic() - began) / sample_s))
        rss.append(int(after[21]) * os.sysconf("SC_PAGE_SIZE") / 2**20)
        start = time.perf_counter()
        shutil.copy(FIXTURES / "a100-2x-hot.csv", reading)
        _until(lambda p=pid: _stat(p)[0] == "T")
        pauses.append(time.perf_counter() - start)
        start = time.perf_counter()
        shutil.copy(FIXTURES / "a100-2x-cool.csv", reading)
        _until(lambda p=pid: _stat(p)[0] != "T")
        resumes.append(time.perf_counter() - start)
        flow.cancel(task.task_id)
    measured = [
        (f"hot reading to workload stopped (sample_s {sample_s:g})", pauses, "s"),
        ("cool reading to workload continued (resume_after_s 0)", resumes, "s"),
        ("monitor CPU time per sample, nvidia-smi call included", cpu_per_sample, "s"),
        ("monitor resident memory", rss, "MiB"),
    ]
    rows += [{"what": w, "value": statistics.median(v), "unit": u} for w, v, u in measured]
    for row in rows:
        row.setdefault("unit", "s")
    shutil.rmtree(work, ignore_errors=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--sample-s", type=float, default=0.05)
    args = parser.parse_args()
    rows = run(args.runs, args.sample_s)
    print("| measure | median |\n|---|---|")
    for row in rows:
        value = row["value"]
        shown = f"{value * 1000:.0f} ms" if row["unit"] == "s" else f"{value:.1f} {row['unit']}"
        print(f"| {row['what']} | {shown} |")


if __name__ == "__main__":
    main()
