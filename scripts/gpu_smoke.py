"""Manual check on a machine with NVIDIA GPUs: the local provider sees them, refuses what it lacks.

python scripts/gpu_smoke.py        (needs nvidia-smi; not part of the test suite)
"""

from __future__ import annotations

import json
import os
import tempfile

from flowlib import CapacityError, Flow, TaskConfig
from flowlib.core.seams import SubprocessRunner
from flowlib.providers.local._gpus import check_fits, detect_gpus

gpus = detect_gpus(SubprocessRunner())
print("detected:", gpus)
assert gpus, "no GPU detected"
have = gpus[0]
results = {}
for label, fields in {
    "own model": {"instance_type": have.model},
    f"min {have.memory_gb} GB": {"min_gpu_memory_gb": have.memory_gb},
    "too many": {"instance_type": f"8x{have.model}"},
    "other model": {"instance_type": "t4" if have.model != "t4" else "a100"},
    "too much memory": {"min_gpu_memory_gb": have.memory_gb + 100},
}.items():
    try:
        check_fits(TaskConfig(command=["true"], **fields), gpus)
        results[label] = "fits"
    except CapacityError as err:
        results[label] = f"refused: {err.message}"
print(json.dumps(results, indent=2))
assert results["own model"] == "fits" and results[f"min {have.memory_gb} GB"] == "fits"
assert all(results[k].startswith("refused") for k in ("too many", "other model", "too much memory"))

os.environ["FLOW_HOME"] = tempfile.mkdtemp()
task = Flow(provider="local").run(
    "nvidia-smi --query-gpu=name,memory.used --format=csv,noheader",
    instance_type=have.model,
    upload_code=False,
    wait=True,
)
print("task:", task.status, task.exit_code, "|", task.logs())
assert task.exit_code == 0 and have.name in task.logs()
print("GPU SMOKE OK")
