"""S3 data access on FCP: a dataset staged from S3 at /data, results synced back to S3.

    python examples/fcp_s3_data.py [--real-cloud]

With --real-cloud (and FLOW_API_KEY) this runs on FCP (Mithril) for real (1 x A100, at most
$2.50/hour) and needs FLOW_EXAMPLE_BUCKET, an S3 bucket your AWS credentials may write to. FCP
instances have no AWS role, so the example passes your AWS_* variables in the task's ``env``:
they travel in the bid's startup script, so use a key scoped to that bucket. Without the flag it
runs against the FCP emulator on loopback, and, unless FLOW_S3_ENDPOINT_URL points at an S3
server, against a loopback S3 server (moto, from flowlib's ``[test]`` extra) too.
"""

from __future__ import annotations

import os
import random
import sys

from flowlib import FlowError, TaskStatus
from flowlib.testing.emulators import REAL_CLOUD_FLAG, cloud_flow
from flowlib.testing.s3 import loopback_s3, s3_filesystem

REAL = REAL_CLOUD_FLAG in sys.argv[1:]  # spends money: an explicit flag, never a key in the env
CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")
WORKLOAD = r"""
root="${FLOW_ROOT:-}"  # set on an emulated instance only: on a real VM /data is /data
echo "dataset: $(ls "$root/data" | tr '\n' ' ')"
total=$(cat "$root"/data/*.csv | grep -vc '^x,y')
echo "rows: $total"
mkdir -p "$root/results"
echo "{\"rows\": $total}" > "$root/results/summary.json"
"""


def main() -> None:
    if REAL and not os.environ.get("FLOW_EXAMPLE_BUCKET"):
        sys.exit("set FLOW_EXAMPLE_BUCKET to an S3 bucket you may write to")
    try:  # needs flowlib[s3] (and flowlib[test] for the offline S3 server)
        server = None if REAL or os.environ.get("FLOW_S3_ENDPOINT_URL") else loopback_s3()
        fs = s3_filesystem()
    except FlowError as exc:
        sys.exit("\n  hint: ".join([f"error: {exc.message}", *exc.suggestions]))
    bucket = os.environ.get("FLOW_EXAMPLE_BUCKET") or f"flow-example-{random.randrange(16**8):08x}"
    if not REAL:
        fs.mkdir(bucket)
    run = f"fcp-s3-{random.randrange(16**6):06x}"
    for part in range(2):
        rows = "\n".join(f"{i},{2 * i}" for i in range(part * 10, part * 10 + 10))
        fs.pipe(f"{bucket}/{run}/dataset/part-{part}.csv", f"x,y\n{rows}\n".encode())

    keys = {k: os.environ[k] for k in (*CREDENTIALS, "AWS_DEFAULT_REGION") if k in os.environ}
    # The emulated VM gets the credentials the way a VM with an instance role would: from its
    # own environment, not from the startup script.
    options = {} if REAL else {"boot_env": lambda _instance: dict(keys)}
    with cloud_flow("fcp", real=REAL, **options) as flow:  # the emulator unless --real-cloud
        task = flow.run(
            WORKLOAD,
            name="s3-data",
            instance_type="a100",
            max_price_per_hour=2.50,
            max_run_time_hours=0.25,
            data=f"s3://{bucket}/{run}/dataset",  # staged at /data before the workload
            outputs={"/results": f"s3://{bucket}/{run}/results"},  # synced back when it ends
            env=keys if REAL else {},  # real FCP: your keys go in the startup script
            upload_code=False,
        )
        print(f"bid placed for {task.task_id}: {task.instance_type} in {task.region}")
        for line in flow.follow_logs(task.task_id):
            print(f"  | {line}")
        done = flow.wait(task.task_id, timeout=900)
        print(f"{done.name}: {done.status}, exit code {done.exit_code}")
        assert done.status == TaskStatus.COMPLETED, done.message

    summary = fs.cat(f"{bucket}/{run}/results/summary.json").decode().strip()
    print(f"s3://{bucket}/{run}/results/summary.json: {summary}")
    assert summary == '{"rows": 20}', summary
    if server is not None:
        server.stop()  # type: ignore[attr-defined]


if __name__ == "__main__":
    main()
