"""Train a tiny model on data from S3, log metrics and a checkpoint, and save results to S3.

    python examples/train_s3.py

With ``FLOW_S3_ENDPOINT_URL`` (and AWS credentials) set it uses that S3 server; otherwise it
starts a loopback S3 server (moto, from flowlib's ``[test]`` extra) so it runs offline. The same
file is the workload: on the machine it runs as ``python train_s3.py --train``.
"""

from __future__ import annotations

import json
import os
import random
import sys
from pathlib import Path


# -- the workload: runs on the machine, needs nothing but Python --------------------------------
def flow_line(**values: object) -> None:
    """A line flowlib reads from the log: metrics, or a checkpoint event."""
    print(json.dumps({"__flow__": values}), flush=True)


def train() -> None:
    root = os.environ.get("FLOW_ROOT", "")  # empty on a real machine: /data is /data
    points = []
    for csv in sorted(Path(root + "/data").glob("*.csv")):
        for line in csv.read_text().splitlines()[1:]:
            x, y = line.split(",")
            points.append((float(x), float(y)))
    print(f"read {len(points)} points from /data")
    w = b = 0.0
    resume = os.environ.get("FLOW_RESUME_FROM")
    if resume and Path(root + resume).exists():
        w, b = json.loads(Path(root + resume).read_text())["params"]
        print(f"resumed from {resume}")
    results = Path(root + "/results")
    results.mkdir(parents=True, exist_ok=True)
    for step in range(1, 201):  # gradient descent on mean squared error: y = w*x + b
        gw = sum(2 * (w * x + b - y) * x for x, y in points) / len(points)
        gb = sum(2 * (w * x + b - y) for x, y in points) / len(points)
        w, b = w - 0.1 * gw, b - 0.1 * gb
        if step % 20 == 0:
            loss = sum((w * x + b - y) ** 2 for x, y in points) / len(points)
            flow_line(loss=round(loss, 6), step=step)
        if step % 100 == 0:
            checkpoint = results / "checkpoint.json"
            checkpoint.write_text(json.dumps({"step": step, "params": [w, b]}))
            flow_line(event="checkpoint", path="/results/checkpoint.json", step=step)
    (results / "model.json").write_text(json.dumps({"w": w, "b": b, "loss": loss}))
    print(f"done: w={w:.3f} b={b:.3f} loss={loss:.6f}")


# -- the driver: runs here, submits the workload -------------------------------------------------
def main() -> None:
    import flowlib
    from flowlib.testing.s3 import loopback_s3, s3_filesystem  # the driver only

    try:  # needs flowlib[s3] (and flowlib[test] for the offline S3 server)
        server = None if os.environ.get("FLOW_S3_ENDPOINT_URL") else loopback_s3()
        fs = s3_filesystem()
    except flowlib.FlowError as exc:
        sys.exit("\n  hint: ".join([f"error: {exc.message}", *exc.suggestions]))
    bucket = f"flow-example-{random.randrange(16**8):08x}"
    fs.mkdir(bucket)
    rng = random.Random(0)
    for part in range(2):  # y = 3x + 1, with a little noise
        rows = [
            f"{x:.3f},{3 * x + 1 + rng.gauss(0, 0.05):.3f}"
            for x in (rng.random() for _ in range(50))
        ]
        fs.pipe(f"{bucket}/dataset/part-{part}.csv", ("x,y\n" + "\n".join(rows)).encode())

    task = flowlib.submit(
        "python train_s3.py --train",
        data=f"s3://{bucket}/dataset",  # staged at /data before the workload starts
        outputs={"/results": f"s3://{bucket}/runs/tiny"},  # synced back when it ends
        name="train-s3",
        code_dir=Path(__file__).parent,
    )
    print(f"submitted {task.task_id}; data: s3://{bucket}/dataset")
    for line in task.logs(follow=True):
        print(f"  | {line}")
    task.wait()
    assert task.status == flowlib.TaskStatus.COMPLETED, task.message

    model = json.loads(fs.cat(f"{bucket}/runs/tiny/model.json"))
    print(f"results in s3://{bucket}/runs/tiny/: {sorted(fs.ls(f'{bucket}/runs/tiny'))}")
    print(f"learned w={model['w']:.2f} b={model['b']:.2f} (truth: 3 and 1)")
    assert abs(model["w"] - 3) < 0.5 and abs(model["b"] - 1) < 0.5, model
    rows = task.metrics()  # the {"__flow__": {...}} lines of its log
    print("metrics:", ", ".join(f"step {r.step}: loss {r.values['loss']:.4f}" for r in rows))
    assert rows[-1].values["loss"] < rows[0].values["loss"]
    print(f"checkpoints: {[c.path for c in task.checkpoints()]}")
    print(f"next: flow metrics {task.task_id}")
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    train() if "--train" in sys.argv else main()
