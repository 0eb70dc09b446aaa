"""Packaging a 10,000-file project beside `tar czf` of the same files.

python benchmarks/bench_packaging.py
"""

from __future__ import annotations

import random
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from flowlib.core.packaging import package_directory

FILES = 10_000


def make_tree(root: Path) -> None:
    rnd = random.Random(0)
    for i in range(FILES):
        path = root / f"pkg{i % 100}" / f"module{i}.py"
        path.parent.mkdir(exist_ok=True)
        path.write_text(f"value_{i} = {i}  # a line of source\n" * rnd.randint(30, 120))


def median_time(fn: object, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def run(runs: int = 7) -> list[dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        root.mkdir()
        make_tree(root)
        out = Path(tmp) / "out.tar.gz"
        ours = median_time(lambda: package_directory(root, max_bytes=1 << 30), runs)
        tar = median_time(
            lambda: subprocess.run(["tar", "czf", str(out), "-C", str(root), "."], check=True), runs
        )
    return [
        {"benchmark": f"package {FILES:,} files (flowlib)", "seconds": ours, "target": tar * 1.5},
        {"benchmark": f"package {FILES:,} files (`tar czf`)", "seconds": tar, "target": None},
    ]


if __name__ == "__main__":
    rows = run()
    print("| benchmark | median |\n|---|---:|")
    for row in rows:
        print(f"| {row['benchmark']} | {float(row['seconds']) * 1000:.0f} ms |")  # type: ignore[arg-type]
    print(f"\nratio: {float(rows[0]['seconds']) / float(rows[1]['seconds']):.2f}x (target <= 1.5x)")  # type: ignore[arg-type]
