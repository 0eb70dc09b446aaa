"""Rent an FCP GPU and check what you got: GPUs, driver, CUDA from PyTorch, CPUs, disk.

python examples/fcp_verify_instance.py [--real-cloud]

With --real-cloud (and FLOW_API_KEY) this runs on FCP (Mithril) for real (1 x A100, at most
$2.50/hour, and the instance releases itself when the check ends). Without the flag, it runs
against the FCP emulator on loopback: the same bid, the same startup script, on an emulated
instance with no GPU, where the check says so instead of failing.
"""

import sys

from flowlib import TaskStatus
from flowlib.testing.emulators import REAL_CLOUD_FLAG, cloud_flow

REAL = REAL_CLOUD_FLAG in sys.argv[1:]  # spends money: an explicit flag, never a key in the env

CHECK = r"""
set -u
echo "host: $(hostname), $(nproc) CPUs, $(df -h --output=avail / | tail -n 1 | tr -d ' ') free"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
else
  echo "no nvidia-smi: this machine has no NVIDIA GPU (an emulated instance?)"
fi
python3 - <<'PY' || true
try:
    import torch
except ImportError:
    print("PyTorch not installed: skipping the CUDA check")
else:
    print(f"torch {torch.__version__}, CUDA available: {torch.cuda.is_available()}")
    for i in range(torch.cuda.device_count()):
        print(f"  cuda:{i} {torch.cuda.get_device_name(i)}")
PY
echo "verified"
"""


with cloud_flow("fcp", real=REAL) as flow:  # the emulator unless --real-cloud
    task = flow.run(CHECK, name="verify", instance_type="a100", max_price_per_hour=2.50,
                    upload_code=False, max_run_time_hours=0.25)  # fmt: skip
    print(f"bid placed for {task.task_id}: {task.instance_type} in {task.region}")
    for line in flow.follow_logs(task.task_id):
        print(f"  | {line}")
    done = flow.wait(task.task_id, timeout=600)
    print(f"{done.name}: {done.status}, exit code {done.exit_code}")
    assert done.status == TaskStatus.COMPLETED, done.message
