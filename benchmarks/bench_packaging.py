"""Packaging a project beside `tar czf` of the same files.

    python benchmarks/bench_packaging.py          # medians of 5
    python benchmarks/bench_packaging.py --runs 9

Scenarios (built once in a temporary directory, so the page cache is warm for both tools):

- "10,000 files": small source files of 1-4 KB in 100 directories.
- "10,000 files + node_modules": the same plus a 20,000-file node_modules that flowlib's
  defaults leave out without walking it; tar gets ``--exclude=./node_modules``.

The target is flowlib within 1.5x of tar. :func:`run` returns one row per scenario, with
``name``, ``flowlib_s``, ``tar_s`` and ``ratio``, plus ``benchmark``, ``seconds`` and ``target``
(seconds: 1.5x tar's time) for ``benchmarks/run.py``'s table.
"""

from __future__ import annotations

import argparse
import random
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from flowlib.core.packaging import package_directory

FILES = 10_000
DIRECTORIES = 100
NODE_MODULES_FILES = 20_000
TARGET_RATIO = 1.5


def make_tree(root: Path, files: int = FILES) -> None:
    """``files`` Python modules of about 1-4 KB spread over ``DIRECTORIES`` packages."""
    rnd = random.Random(0)
    for d in range(DIRECTORIES):
        (root / f"pkg{d}").mkdir(parents=True, exist_ok=True)
    for i in range(files):
        line = f"value_{i} = {rnd.random()!r}  # a line of source code\n"
        text = line * rnd.randint(1024 // len(line) + 1, 4096 // len(line))
        (root / f"pkg{i % DIRECTORIES}" / f"module{i}.py").write_text(text)


def make_node_modules(root: Path, files: int = NODE_MODULES_FILES) -> None:
    for i in range(files):
        path = root / "node_modules" / f"dep{i % 500}" / f"f{i}.js"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("module.exports = 1;\n")


def median_seconds(fn: Callable[[], object], runs: int) -> float:
    fn()  # warm-up: imports, page cache, the tar binary
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _compare(name: str, root: Path, out: Path, tar_args: list[str], runs: int) -> dict[str, object]:
    ours = median_seconds(lambda: package_directory(root, max_bytes=1 << 30), runs)
    argv = ["tar", "czf", str(out), *tar_args, "-C", str(root), "."]
    tar = median_seconds(lambda: subprocess.run(argv, check=True), runs)
    return {
        "name": name,
        "flowlib_s": ours,
        "tar_s": tar,
        "ratio": ours / tar,
        "benchmark": f"package {name} (flowlib; target: 1.5x `tar czf`)",
        "seconds": ours,
        "target": tar * TARGET_RATIO,
    }


def run(runs: int = 5) -> list[dict[str, object]]:
    """Time both scenarios; one row per scenario (see the module documentation)."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "project"
        make_tree(root)
        out = Path(tmp) / "out.tar.gz"
        rows = [_compare(f"{FILES:,} files", root, out, [], runs)]
        make_node_modules(root)
        rows.append(
            _compare(
                f"{FILES:,} files + node_modules ({NODE_MODULES_FILES:,} files, skipped)",
                root,
                out,
                ["--exclude=./node_modules"],
                runs,
            )
        )
    return rows


def table(rows: list[dict[str, object]]) -> str:
    lines = ["| name | flowlib s | tar s | ratio |", "|---|---:|---:|---:|"]
    for row in rows:
        lines.append(
            f"| {row['name']} | {row['flowlib_s']:.3f} | {row['tar_s']:.3f} | {row['ratio']:.2f}x |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs per tool (median)")
    args = parser.parse_args()
    rows = run(args.runs)
    print(table(rows))
    print(f"\ntarget: ratio <= {TARGET_RATIO}x")


if __name__ == "__main__":
    main()
