"""`flow metrics A B`: two real local runs compared in the terminal (and as JSON, and a chart)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowlib import Flow

TRAIN = """\
import sys, flowlib
lr = float(sys.argv[1])
for step in range(4):
    flowlib.log_metrics(loss=1 / (1 + lr * step), step=step)
"""


def _flow(*args: str, ok: bool = True) -> subprocess.CompletedProcess[str]:
    result = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *args], capture_output=True, text=True
    )
    assert (result.returncode == 0) == ok, result.stderr
    return result


def test_two_runs_side_by_side(project: Path, tmp_path: Path) -> None:
    (project / "train.py").write_text(TRAIN)
    with Flow() as flow:
        ids = [flow.run([sys.executable, "train.py", lr], name=f"lr-{n}").task_id
               for n, lr in ((1, "1"), (3, "3"))]  # fmt: skip
        for task_id in ids:
            flow.wait(task_id, timeout=60)
    lines = _flow("metrics", "lr-1", "lr-3").stdout.splitlines()
    assert lines[0].split()[:2] == ["LOSS", "N"]
    first = next(line for line in lines if ids[0] in line).split()
    second = next(line for line in lines if ids[1] in line).split()
    assert first[3:8] == ["4", "3", "0.25", "0.25", "1"]  # N, step, last, min, max
    assert second[3:8] == ["4", "3", "0.1", "0.1", "1"]
    assert len(lines) > 3  # the overlaid curves under the table
    rows = json.loads(_flow("metrics", *ids, "--json").stdout)
    assert list(rows) == ids and rows[ids[1]][1]["values"] == {"loss": 0.25}
    refused = _flow("metrics", "lr-1", "lr-3", "-f", ok=False)
    assert "--follow takes one task" in refused.stderr
    same = _flow("metrics", "lr-1", ids[0], ok=False)
    assert "all one task" in same.stderr
    pytest.importorskip("matplotlib")
    chart = tmp_path / "runs.png"
    _flow("metrics", *ids, "--plot", str(chart))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
