"""The multi-node contract (docs/multi-node.md): every node of a task gets FLOW_NODE_RANK,
FLOW_NUM_NODES, FLOW_MAIN_IP, MASTER_ADDR, MASTER_PORT, NODE_RANK, WORLD_SIZE, GPUs per node
(and torchrun's PET_* variables), whether a provider knows the values when it builds the script
(a cloud VM) or the scheduler sets them on each node (SLURM, through ``srun``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from flowlib.core.startup import MultiNode, ScriptContext, build_script
from flowlib.models import TaskConfig
from flowlib.providers.slurm._render import multi_node

KEYS = [
    "FLOW_NODE_RANK",
    "FLOW_NUM_NODES",
    "FLOW_MAIN_IP",
    "FLOW_GPUS_PER_NODE",
    "NODE_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "WORLD_SIZE",
    "PET_NNODES",
    "PET_NODE_RANK",
    "PET_NPROC_PER_NODE",
]
SHOW = f"import os, json; print(json.dumps({{k: os.environ.get(k) for k in {KEYS!r}}}))"


def run_startup(ctx: ScriptContext, root: Path, env: dict[str, str] | None = None) -> dict:
    script = root / "startup.sh"
    script.write_text(build_script(ctx))
    subprocess.run(
        ["bash", str(script)],
        env={"PATH": os.environ["PATH"], "FLOW_ROOT": str(root), **(env or {})},
        check=True,
        timeout=60,
    )
    log = (root / "var/log/flow/task.log").read_text()
    return json.loads(log.splitlines()[-1])


def test_a_provider_that_knows_the_rank_gives_every_variable(tmp_path: Path) -> None:
    config = TaskConfig(command=[sys.executable, "-c", SHOW], num_instances=4)
    nodes = MultiNode(node_rank="2", num_nodes="4", main_ip="10.0.0.5", gpus_per_node="8")
    seen = run_startup(ScriptContext("task-1", config, multi_node=nodes), tmp_path)
    assert seen == {
        "FLOW_NODE_RANK": "2",
        "FLOW_NUM_NODES": "4",
        "FLOW_MAIN_IP": "10.0.0.5",
        "FLOW_GPUS_PER_NODE": "8",
        "NODE_RANK": "2",
        "MASTER_ADDR": "10.0.0.5",
        "MASTER_PORT": "29500",
        "WORLD_SIZE": "32",
        "PET_NNODES": "4",
        "PET_NODE_RANK": "2",
        "PET_NPROC_PER_NODE": "8",
    }


def test_a_launcher_sources_the_node_environment_on_each_node(tmp_path: Path) -> None:
    config = TaskConfig(command=[sys.executable, "-c", SHOW], num_instances=2)
    nodes = MultiNode(
        node_rank='"$RANK_FROM_LAUNCHER"',
        num_nodes="2",
        main_ip="10.0.0.1",
        gpus_per_node="0",
        launcher="env RANK_FROM_LAUNCHER=1",
    )
    seen = run_startup(ScriptContext("task-1", config, multi_node=nodes), tmp_path)
    assert (seen["FLOW_NODE_RANK"], seen["NODE_RANK"], seen["WORLD_SIZE"]) == ("1", "1", "2")


def test_slurm_values_come_from_the_job_environment(tmp_path: Path) -> None:
    if not Path("/usr/bin/scontrol").exists():
        pytest.skip("needs SLURM's scontrol (to expand the node list)")
    config = TaskConfig(command=[sys.executable, "-c", SHOW], num_instances=3)
    nodes = replace(multi_node(config, gpus_per_node=4) or pytest.fail(), launcher=None)
    slurm = {
        "SLURM_NODEID": "2",
        "SLURM_JOB_NUM_NODES": "3",
        "SLURM_JOB_NODELIST": "localhost",
        "SLURM_GPUS_ON_NODE": "4",
        "SLURM_JOB_ID": "20017",
    }
    seen = run_startup(ScriptContext("task-1", config, multi_node=nodes), tmp_path, slurm)
    assert seen["FLOW_NODE_RANK"] == seen["NODE_RANK"] == seen["PET_NODE_RANK"] == "2"
    assert seen["FLOW_NUM_NODES"] == "3" and seen["WORLD_SIZE"] == "12"
    assert seen["FLOW_MAIN_IP"] == seen["MASTER_ADDR"] == "127.0.0.1"
    assert seen["MASTER_PORT"] == "20017"


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_srun_launches_the_workload_with_the_contract_on_a_real_slurm_node(
    slurm_cluster: None, tmp_path: Path
) -> None:
    """The SLURM launcher for real: ``srun`` inside a batch job (one node here; a second node
    needs a second slurmd)."""
    config = TaskConfig(command=[sys.executable, "-c", SHOW], num_instances=2, upload_code=False)
    nodes = multi_node(config, gpus_per_node=0)
    assert nodes is not None and nodes.launcher is not None
    one_node = replace(nodes, launcher=nodes.launcher.replace("--nodes=2", "--nodes=1"))
    root = tmp_path / "root"
    root.mkdir()
    (tmp_path / "startup.sh").write_text(
        build_script(ScriptContext("task-1", config, multi_node=one_node))
    )
    job = subprocess.run(
        [
            "sbatch",
            "--parsable",
            "--nodes=1",
            f"--output={tmp_path}/slurm-%j.out",
            f"--export=ALL,FLOW_ROOT={root}",
            str(tmp_path / "startup.sh"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith(("SLURM_", "SBATCH_"))},
    )
    assert job.returncode == 0, job.stderr
    code = root / "var/run/flow/exit_code"
    # A busy single-node cluster was seen to start the job and deliver its launch to slurmd
    # 61 s later (slurmctld.log "Started" at :51, slurmd "Launching batch job" a minute on).
    deadline = time.monotonic() + 180
    while not code.exists():
        assert time.monotonic() < deadline, tmp_path / f"slurm-{job.stdout.strip()}.out"
        time.sleep(0.2)
    assert code.read_text().strip() == "0", (root / "var/log/flow/task.log").read_text()
    seen = json.loads((root / "var/log/flow/task.log").read_text().splitlines()[-1])
    assert seen["FLOW_NODE_RANK"] == "0" and seen["FLOW_NUM_NODES"] == "1"
    assert seen["MASTER_PORT"] == str(20000 + int(job.stdout.strip()) % 20000)
    assert seen["MASTER_ADDR"] == "127.0.0.1" and seen["WORLD_SIZE"] == "1"
