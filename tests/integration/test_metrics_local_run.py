"""Metrics printed by a real workload on the local provider, read back through the API and CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from flowlib import Flow

WORKLOAD = """\
import flowlib
for step in range(5):
    flowlib.log_metrics(loss=1 / (step + 1), step=step)
    print("epoch", step)
print('{"__flow__": {"loss": ')
print('{"__mlflare__": {"accuracy": 0.9}}')
"""


@pytest.fixture
def trained(project: Path) -> tuple[Flow, str]:
    (project / "train.py").write_text(WORKLOAD)
    flow = Flow()
    task = flow.run([sys.executable, "train.py"], name="train")
    flow.wait(task.task_id, timeout=60)
    return flow, task.task_id


def test_task_metrics_are_rows_of_step_time_and_values(trained: tuple[Flow, str]) -> None:
    flow, task_id = trained
    rows = flow.get_task(task_id).metrics()
    assert [r.step for r in rows] == [0, 1, 2, 3, 4, 5]
    assert rows[1].values == {"loss": 0.5}
    assert rows[0].time is not None
    assert rows[-1].values == {"accuracy": 0.9} and rows[-1].time is None


def test_metric_lines_stay_out_of_the_log_unless_asked(trained: tuple[Flow, str]) -> None:
    flow, task_id = trained
    shown = flow.logs(task_id).splitlines()
    assert shown == [
        "epoch 0",
        "epoch 1",
        "epoch 2",
        "epoch 3",
        "epoch 4",
        '{"__flow__": {"loss": ',
    ]
    assert flow.logs(task_id, tail=2).splitlines() == ["epoch 4", '{"__flow__": {"loss": ']
    everything = flow.logs(task_id, include_metrics=True).splitlines()
    assert len(everything) == 12
    assert list(flow.follow_logs(task_id)) == shown


def test_flow_metrics_prints_a_table_json_and_a_chart(
    trained: tuple[Flow, str], tmp_path: Path
) -> None:
    _, task_id = trained

    def flow_cli(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "flowlib.cli", *args], capture_output=True, text=True
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    table = flow_cli("metrics", "train").splitlines()
    assert table[0].split() == ["METRIC", "N", "STEP", "LAST", "MIN", "MAX", "TREND"]
    assert table[1].split() == ["loss", "5", "4", "0.2", "0.2", "1", "█▃▂▁▁"]
    rows = json.loads(flow_cli("metrics", task_id, "--json"))
    assert rows[0]["values"] == {"loss": 1.0} and rows[0]["step"] == 0
    assert "epoch 0" not in flow_cli("logs", "train", "--tail", "3", "--metrics")
    pytest.importorskip("matplotlib")
    chart = tmp_path / "loss.png"
    flow_cli("metrics", "train", "--plot", str(chart))
    assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_following_metrics_yields_rows_until_the_task_ends(project: Path) -> None:
    (project / "train.py").write_text(
        WORKLOAD.replace("print(", "import time; time.sleep(0.05); print(")
    )
    flow = Flow()
    task = flow.run([sys.executable, "train.py"])
    steps = [row.step for row in flow.follow_metrics(task.task_id)]
    assert steps == [0, 1, 2, 3, 4, 5]
