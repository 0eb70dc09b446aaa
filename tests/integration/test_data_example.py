"""examples/train_s3.py against the suite's loopback S3 server (test_docs.py also runs it on
its own, when it starts a server of its own)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from s3server import S3

ROOT = Path(__file__).parents[2]


def test_the_s3_training_example_reads_data_and_writes_results_to_the_server(
    s3: S3, isolated_home: Path
) -> None:
    pytest.importorskip("s3fs", reason="needs flowlib[s3]")
    result = subprocess.run(
        [sys.executable, str(ROOT / "examples" / "train_s3.py")],
        cwd=ROOT,
        env={**os.environ, "FLOW_HOME": str(isolated_home / ".flow")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "read 100 points from /data" in result.stdout
    assert "learned w=" in result.stdout
    # The example used this server (FLOW_S3_ENDPOINT_URL), not one of its own.
    buckets = [b["Name"] for b in s3.server.client().list_buckets()["Buckets"]]
    example = [b for b in buckets if b.startswith("flow-example-")]
    assert example, buckets
    keys = {k for b in example for k in s3.keys("runs/", bucket=b)}
    assert {"runs/tiny/model.json", "runs/tiny/checkpoint.json"} <= keys

    # The README shows `flow metrics` of this very run (the data and the training are seeded).
    task_id = re.search(r"flow metrics (task-\w+)", result.stdout)
    assert task_id, result.stdout
    shown = subprocess.run(
        [sys.executable, "-m", "flowlib.cli", "metrics", task_id[1]],
        cwd=ROOT,
        env={**os.environ, "FLOW_HOME": str(isolated_home / ".flow")},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shown.returncode == 0, shown.stderr
    readme = (ROOT / "README.md").read_text()
    block = readme[readme.index("METRIC   N") :].split("```")[0]
    assert shown.stdout.strip() == block.strip()
