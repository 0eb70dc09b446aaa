"""`flow ui` over a large history: first byte, page usable, and how soon a log line shows.

    python benchmarks/ui.py [--rows 100000] [--runs 20]

Fills a store with ``--rows`` tasks (benchmarks/bench_store.py's bulk fill, every task on the
local provider, 1 % still pending and 1 % running as a long-used machine has), starts `flow ui`
on it in its own process and measures, as medians (and p95) of ``--runs``:

* first byte of the tasks page (``GET /``, its first page of 50 tasks inside) and of the API's
  pages (first, middle of the history, filtered);
* "usable": in headless Chromium (Debian's package, through Playwright), from navigation start
  to the table's rows in the document;
* log-line latency: a running local task prints ``tick N EPOCH`` every 100 ms; the open task page
  records when each line lands in its log (a MutationObserver), minus EPOCH.

Targets (issue 16): first byte under 100 ms, usable under 500 ms, a log line in the open page
within 300 ms. Prints a Markdown table; :func:`run` returns the rows.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).parent))

from bench_store import fill

from flowlib import Flow
from flowlib.testing.ui import Dashboard, chromium, dashboard

TICKS = """\
import sys, time
for i in range(int(sys.argv[1])):
    print(f"tick {i} {time.time():.6f}", flush=True)
    time.sleep(0.1)
"""

# Runs in the page: when a `tick N EPOCH` line lands in the log, how long after EPOCH it was.
OBSERVE = """() => {
  window.latencies = [];
  const log = document.getElementById("log");
  const seen = new Set();
  new MutationObserver(() => {
    const now = performance.timeOrigin + performance.now();
    for (const m of log.textContent.matchAll(/tick (\\d+) ([\\d.]+)/g)) {
      if (seen.has(m[1])) continue;
      seen.add(m[1]);
      window.latencies.push(now - Number(m[2]) * 1000);
    }
  }).observe(log, { childList: true, characterData: true, subtree: true });
}"""


def _stats(samples: list[float]) -> tuple[float, float]:
    samples = sorted(samples)
    return statistics.median(samples), samples[min(len(samples) - 1, int(len(samples) * 0.95))]


def _first_byte(client: httpx.Client, path: str, runs: int) -> tuple[float, float]:
    samples = []
    for i in range(runs + 3):
        start = time.perf_counter()
        with client.stream("GET", path) as answer:
            assert answer.status_code == 200, (path, answer.status_code)
            elapsed = time.perf_counter() - start  # the status line and headers are in
            answer.read()
        if i >= 3:  # warm-up: the first answers build the provider and fill caches
            samples.append(elapsed * 1000)
    return _stats(samples)


def _usable(browser: Any, ui: Dashboard, runs: int) -> tuple[float, float]:
    page = browser.new_page()
    page.goto(ui.url)  # sets the cookie
    samples = []
    for i in range(runs + 2):
        page.goto(ui.base + "/", wait_until="commit")
        page.wait_for_selector("#tasks tr[data-task]")
        ms = page.evaluate("performance.now()")  # since this navigation started
        if i >= 2:
            samples.append(ms)
    page.close()
    return _stats(samples)


def _log_latency(browser: Any, ui: Dashboard, home: Path, code: Path, lines: int) -> list[float]:
    with Flow(home=home) as flow:
        task = flow.run([sys.executable, "ticks.py", str(lines)], name="ticks", code_dir=code)
        page = browser.new_page()
        page.goto(f"{ui.base}/tasks/{task.task_id}")
        page.wait_for_selector("#log")
        page.evaluate(OBSERVE)
        flow.wait(task.task_id, timeout=60 + lines)
        page.wait_for_function(f"window.latencies.length >= {lines} - 2", timeout=10_000)
        found: list[float] = page.evaluate("window.latencies")
        page.close()
    return found[2:]  # the first lines may have come with the page itself


def run(rows: int = 100_000, runs: int = 20) -> list[dict[str, Any]]:
    with tempfile.TemporaryDirectory() as tmp:
        home, code = Path(tmp) / "flow", Path(tmp) / "code"
        home.mkdir()
        code.mkdir()
        (code / "ticks.py").write_text(TICKS)
        fill(home / "tasks.db", rows)
        conn = sqlite3.connect(home / "tasks.db", isolation_level=None)
        try:  # every task on a provider this machine has (bench_store's are a cloud's)
            conn.execute("UPDATE tasks SET provider = 'local', instance_type = NULL")
        finally:
            conn.close()
        results: list[dict[str, Any]] = []

        def add(what: str, median: float, p95: float, target: str = "-") -> None:
            row = {"benchmark": what, "median_ms": median, "p95_ms": p95, "target": target}
            results.append(row)

        with dashboard(home) as ui, chromium() as browser:
            headers = {"X-Flow-Token": ui.token}
            with httpx.Client(base_url=ui.base, headers=headers, timeout=30) as client:
                n = f"{rows:,}"
                first = _first_byte(client, "/", runs)
                add(f"tasks page, first byte ({n} tasks)", *first, "100 ms")
                add("API: newest 50 tasks", *_first_byte(client, "/api/tasks", runs))
                middle = f"/api/tasks?page={rows // 100}"
                add("API: a page in the middle of the history", *_first_byte(client, middle, runs))
                failed = "/api/tasks?status=failed"
                add("API: filtered by status (failed)", *_first_byte(client, failed, runs))
                named = "/api/tasks?name=job-0042"
                add("API: filtered by name", *_first_byte(client, named, runs))
            add(f"tasks page usable in Chromium ({n} tasks)", *_usable(browser, ui, runs), "500 ms")
            latencies = _log_latency(browser, ui, home, code, max(20, runs))
            add("log line written -> shown in the open task page", *_stats(latencies), "300 ms")
            results[-1]["max_ms"] = max(latencies)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    print("| benchmark | median | p95 | target |")
    print("|---|---:|---:|---:|")
    for r in run(args.rows, args.runs):
        target = r["target"]
        if target != "-":
            target += " ok" if r["median_ms"] < float(target.split()[0]) else " MISSED"
        print(f"| {r['benchmark']} | {r['median_ms']:.1f} ms | {r['p95_ms']:.1f} ms | {target} |")


if __name__ == "__main__":
    main()
