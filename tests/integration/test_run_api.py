"""The run API (``flowlib.init`` / ``run.log`` / ``run.finish``) inside a real local task and
outside one (a local run in the store), and ``flow metrics --tensorboard`` read back with
TensorBoard's own event reader."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from extras import need

from flowlib import Flow, TaskStatus

SCRIPT = """\
import sys, flowlib
with flowlib.init(project="demo", config={"lr": 0.1}) as run:
    for step in range(4):
        run.log({"loss": 1.0 / (step + 1), "note": "not a number"})
    run.log({"accuracy": 0.9}, step=10)
    run.log_checkpoint("ckpt.pt", step=10)
    if sys.argv[1:] == ["fail"]:
        raise RuntimeError("diverged")
print(run.local, run.task_id)
"""


def cli(*argv: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "flowlib.cli", *argv],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_inside_a_task_the_run_prints_the_metric_lines(project: Path, isolated_home: Path) -> None:
    (project / "fit.py").write_text(SCRIPT)
    flow = Flow()
    task = flow.wait(flow.run([sys.executable, "fit.py"]).task_id, timeout=60)
    assert task.status == TaskStatus.COMPLETED, flow.logs(task.task_id)
    assert flow.logs(task.task_id) == f"False {task.task_id}"  # no local run: the task is it
    rows = flow.metrics(task.task_id)
    assert [(r.step, r.values) for r in rows] == [
        (0, {"loss": 1.0}),
        (1, {"loss": 0.5}),
        (2, {"loss": 1 / 3}),
        (3, {"loss": 0.25}),
        (10, {"accuracy": 0.9}),
    ]
    assert [(c.step, Path(c.path).name) for c in flow.checkpoints(task.task_id)] == [
        (10, "ckpt.pt")
    ]


def test_outside_a_task_a_local_run_shows_like_any_task(project: Path, isolated_home: Path) -> None:
    (project / "fit.py").write_text(SCRIPT)
    env = {**os.environ}
    done = subprocess.run([sys.executable, "fit.py"], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    local, task_id = done.stdout.split()
    assert local == "True"
    failed = subprocess.run([sys.executable, "fit.py", "fail"], capture_output=True, text=True)
    assert "diverged" in failed.stderr

    flow = Flow()
    tasks = {t.task_id: t for t in flow.list_tasks()}
    assert tasks[task_id].status == TaskStatus.COMPLETED and tasks[task_id].name == "demo"
    assert tasks[task_id].provider == "local"
    assert [t.status for t in tasks.values() if t.task_id != task_id] == [TaskStatus.FAILED]
    assert [r.step for r in flow.metrics(task_id)] == [0, 1, 2, 3, 10]
    shown = cli("metrics", task_id, cwd=project)
    assert shown.returncode == 0 and "loss" in shown.stdout and "accuracy" in shown.stdout


def test_a_local_run_whose_process_dies_unfinished_is_failed(
    project: Path, isolated_home: Path
) -> None:
    code = "import os, flowlib; run = flowlib.init(project='crash'); run.log({'a': 1}); os._exit(9)"
    subprocess.run([sys.executable, "-c", code], check=False)
    (task,) = Flow().list_tasks()
    assert task.status == TaskStatus.FAILED
    assert "without reporting an exit code" in (task.message or "")


def test_flow_metrics_writes_tensorboard_event_files(project: Path, isolated_home: Path) -> None:
    need("tensorboard")
    # TensorBoard's own reader, the one its server uses (summaries as tensors, v2 format)
    from tensorboard.backend.event_processing.plugin_event_accumulator import EventAccumulator
    from tensorboard.util.tensor_util import make_ndarray

    (project / "fit.py").write_text(SCRIPT)
    done = subprocess.run([sys.executable, "fit.py"], capture_output=True, text=True)
    task_id = done.stdout.split()[1]
    out = cli("metrics", "demo", "--tensorboard", str(project / "tb"), cwd=project)
    assert out.returncode == 0, out.stderr
    assert f"wrote 5 scalars to {project / 'tb' / task_id}" in out.stdout

    events = EventAccumulator(str(project / "tb" / task_id))
    events.Reload()
    assert sorted(events.Tags()["tensors"]) == ["accuracy", "loss"]
    assert events.SummaryMetadata("loss").plugin_data.plugin_name == "scalars"

    def scalars(tag: str) -> list[tuple[int, float]]:
        return [
            (e.step, round(float(make_ndarray(e.tensor_proto)), 6)) for e in events.Tensors(tag)
        ]

    assert scalars("loss") == [(0, 1.0), (1, 0.5), (2, 0.333333), (3, 0.25)]
    assert scalars("accuracy") == [(10, 0.9)]
    assert all(e.wall_time > 1.7e9 for e in events.Tensors("loss"))  # when each was logged
