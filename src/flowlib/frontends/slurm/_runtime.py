"""What a translated sbatch script finds when it runs off-cluster: the ``SLURM_*`` environment
and an ``srun`` that launches the job's tasks on this machine with their ranks."""

from __future__ import annotations

import hashlib
import itertools
import shlex

from flowlib.core.startup import numeric_id
from flowlib.frontends.slurm._script import SbatchScript

__all__ = ["SRUN_SHIM", "render_job_script", "slurm_environment"]


def slurm_environment(
    script: SbatchScript,
    *,
    submit_dir: str,
    job_id: str | None = None,
    array_index: int | None = None,
) -> dict[str, str]:
    """The ``SLURM_*`` variables a batch job sees on its first node.

    ``job_id`` None leaves ``SLURM_JOB_ID`` to the run: ``FLOW_TASK_NUMBER``, the number the
    startup script gives the task (:func:`flowlib.core.startup.task_number`); an array's
    ``SLURM_ARRAY_JOB_ID`` is :func:`numeric_id` of the script, shared by its elements. Per-node
    values (``SLURM_NODEID``, ``SLURM_PROCID``) are set when the script starts, from
    ``FLOW_NODE_RANK``.
    """
    env = {
        "SLURM_JOB_NAME": script.name,
        "SLURM_SUBMIT_DIR": submit_dir,
        "SLURM_NNODES": str(script.num_nodes),
        "SLURM_JOB_NUM_NODES": str(script.num_nodes),
        "SLURM_NTASKS": str(script.num_tasks),
        "SLURM_NPROCS": str(script.num_tasks),
        "SLURM_NODEID": "0",
        "SLURM_PROCID": "0",
        "SLURM_LOCALID": "0",
        "SLURM_CLUSTER_NAME": "flowlib",
    }
    if job_id is not None:
        env["SLURM_JOB_ID"] = env["SLURM_JOBID"] = job_id
    if script.ntasks_per_node is not None:
        env["SLURM_NTASKS_PER_NODE"] = str(script.ntasks_per_node)
    if script.cpus_per_task is not None:
        env["SLURM_CPUS_PER_TASK"] = str(script.cpus_per_task)
    gpus = script.gpu_request_per_node
    if gpus is not None:
        env["SLURM_GPUS_ON_NODE"] = str(gpus.count)
    if script.partition is not None:
        env["SLURM_JOB_PARTITION"] = script.partition
    if script.mem_mb is not None:
        env["SLURM_MEM_PER_NODE"] = str(script.mem_mb)
    if script.array is not None and array_index is not None:
        indices = script.array.indices
        steps = {b - a for a, b in itertools.pairwise(indices)}
        env.update(
            SLURM_ARRAY_TASK_ID=str(array_index),
            SLURM_ARRAY_TASK_COUNT=str(len(indices)),
            SLURM_ARRAY_TASK_MIN=str(indices[0]),
            SLURM_ARRAY_TASK_MAX=str(indices[-1]),
            SLURM_ARRAY_TASK_STEP=str(steps.pop() if len(steps) == 1 else 1),
        )
        # Every element of the array shares one array job id (each keeps its own
        # SLURM_JOB_ID): numeric, as SLURM's, and the same for every translation of the script.
        # Under a real SLURM (the slurm provider) SLURM's own id wins: the script reads this
        # one only when SLURM_ARRAY_JOB_ID is unset.
        if job_id is not None:
            env["SLURM_ARRAY_JOB_ID"] = job_id
        else:
            env[ARRAY_JOB_ID_FALLBACK] = numeric_id(script.text)
    return env


ARRAY_JOB_ID_FALLBACK = "FLOW_SLURM_ARRAY_JOB_ID"  # an array's shared id where SLURM gives none


SRUN_SHIM = r"""#!/bin/bash
# flowlib's srun: launches this node's share of the job step's tasks, each with its
# SLURM_PROCID (global rank) and SLURM_LOCALID, and exits with the first failing task's status.
ntasks="" per_node="" label=0
while [ $# -gt 0 ]; do
  case "$1" in
    -n|--ntasks) ntasks=$2; shift 2 ;;
    -n*) ntasks=${1#-n}; shift ;;
    --ntasks=*) ntasks=${1#*=}; shift ;;
    --ntasks-per-node=*) per_node=${1#*=}; shift ;;
    --ntasks-per-node) per_node=$2; shift 2 ;;
    -c|--cpus-per-task) export SLURM_CPUS_PER_TASK=$2; shift 2 ;;
    --cpus-per-task=*) export SLURM_CPUS_PER_TASK=${1#*=}; shift ;;
    -l|--label) label=1; shift ;;
    -N|-J|-p|-t|-w|-x|-G|-o|-e) shift 2 ;;
    --nodes|--job-name|--partition|--time|--gpus|--gres|--mpi|--export|--mem) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ $# -gt 0 ] || { echo "srun: no command given" >&2; exit 2; }
nnodes=${SLURM_NNODES:-1} node=${SLURM_NODEID:-0}
total=${ntasks:-${SLURM_NTASKS:-$nnodes}}
if [ -z "$per_node" ]; then
  if [ -z "$ntasks" ] && [ -n "${SLURM_NTASKS_PER_NODE:-}" ]; then per_node=$SLURM_NTASKS_PER_NODE
  else per_node=$(( (total + nnodes - 1) / nnodes )); fi
  first=$(( node * per_node ))
else
  total=$(( per_node * nnodes )); first=$(( node * per_node ))
fi
last=$(( first + per_node )); [ "$last" -le "$total" ] || last=$total
export SLURM_STEP_NUM_TASKS=$total SLURM_STEP_NUM_NODES=$nnodes SLURM_NTASKS=$total
pids=()
for (( rank = first; rank < last; rank++ )); do
  if [ "$label" = 1 ]; then
    ( set -o pipefail; export SLURM_PROCID=$rank SLURM_LOCALID=$(( rank - first ))
      "$@" 2>&1 | sed "s/^/$rank: /" ) &
  else
    SLURM_PROCID=$rank SLURM_LOCALID=$(( rank - first )) "$@" &
  fi
  pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || { s=$?; [ "$rc" != 0 ] || rc=$s; }; done
exit "$rc"
"""
"""The ``srun`` the translated script puts first on ``PATH``."""


def _delimiter(text: str, stem: str) -> str:
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:12]
    word = f"{stem}_{digest}"
    lines = set(text.splitlines())
    while word in lines:
        word += "_"
    return word


def render_job_script(script: SbatchScript, *, workdir: str | None = None) -> str:
    """The TaskConfig ``script``: writes ``srun`` and the unchanged sbatch script into
    ``.flowlib-slurm/`` under the working directory, sets the per-node ``SLURM_*`` values and
    runs the script with its own interpreter in ``workdir`` (relative to the workspace)."""
    body = script.text if script.text.endswith("\n") else script.text + "\n"
    job_end = _delimiter(body, "FLOWLIB_JOB")
    srun_end = _delimiter(SRUN_SHIM, "FLOWLIB_SRUN")
    cd = f"cd {shlex.quote(workdir)}\n" if workdir else ""
    return (
        "#!/bin/bash\n"
        f"# flowlib: {script.source} translated from sbatch; the script runs unchanged below\n"
        "set -eu\n"
        'FLOW_SLURM="$PWD/.flowlib-slurm"\n'
        'mkdir -p "$FLOW_SLURM/bin"\n'
        f"cat > \"$FLOW_SLURM/bin/srun\" <<'{srun_end}'\n{SRUN_SHIM}{srun_end}\n"
        f"cat > \"$FLOW_SLURM/job.sbatch\" <<'{job_end}'\n{body}{job_end}\n"
        'chmod +x "$FLOW_SLURM/bin/srun" "$FLOW_SLURM/job.sbatch"\n'
        'export PATH="$FLOW_SLURM/bin:$PATH"\n'
        'export SLURM_SUBMIT_DIR="$PWD"\n'
        'export SLURM_NODEID="${FLOW_NODE_RANK:-${SLURM_NODEID:-0}}"\n'
        # SLURM_JOB_ID is a number (scripts do arithmetic or printf %d on it): the task's
        # FLOW_TASK_NUMBER from the startup script, the same on every node and every retry.
        'export SLURM_JOB_ID="${SLURM_JOB_ID:-${FLOW_TASK_NUMBER:-0}}"\n'
        'export SLURM_JOBID="$SLURM_JOB_ID"\n'
        'if [ -n "${SLURM_ARRAY_TASK_ID:-}" ]; then\n'
        '  fallback="${FLOW_SLURM_ARRAY_JOB_ID:-$SLURM_JOB_ID}"\n'
        '  export SLURM_ARRAY_JOB_ID="${SLURM_ARRAY_JOB_ID:-$fallback}"\n'
        "fi\n"
        'export SLURM_PROCID="$SLURM_NODEID"\n'
        f"{cd}"
        'exec "$FLOW_SLURM/job.sbatch"\n'
    )
