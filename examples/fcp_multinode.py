"""A multi-node job on FCP: one bid for two instances; each learns its rank and the main node.

python examples/fcp_multinode.py

Every instance of a bid runs the same startup script; flowlib tells each one who it is through
FLOW_NODE_RANK, FLOW_NUM_NODES, FLOW_MAIN_IP and FLOW_NODE_IPS, which is what a launcher such as
`torchrun` needs. It runs on the FCP emulator; `--real-cloud` (with FLOW_API_KEY) runs it on
FCP for real.
"""

import sys

from flowlib import TaskStatus
from flowlib.testing.emulators import REAL_CLOUD_FLAG, cloud_flow

REAL = REAL_CLOUD_FLAG in sys.argv[1:]  # spends money: an explicit flag, never a key in the env

LAUNCH = (
    'echo "node $FLOW_NODE_RANK of $FLOW_NUM_NODES, main node at $FLOW_MAIN_IP"; '
    "echo torchrun --nnodes=$FLOW_NUM_NODES --node_rank=$FLOW_NODE_RANK "
    "--master_addr=$FLOW_MAIN_IP --master_port=29500 train.py"
)


with cloud_flow("fcp", real=REAL) as flow:  # the emulator unless --real-cloud
    task = flow.run(LAUNCH, name="multinode", instance_type="8xa100", num_instances=2,
                    max_price_per_hour=20, upload_code=False)  # fmt: skip
    done = flow.wait(task.task_id, timeout=600)
    print(f"{done.name}: {done.status} on {done.num_instances} x {done.instance_type}")
    print(flow.logs(task.task_id))  # node 0's output
    assert done.status == TaskStatus.COMPLETED, done.message
    assert flow.logs(task.task_id).startswith("node 0 of 2, main node at ")
