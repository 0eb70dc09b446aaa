#!/bin/bash
# flowlib startup script for task task-0123456789ab
# shellcheck disable=SC2016,SC2329  # literal $ in quoted values; helpers run from traps
set -euo pipefail
umask 022
FLOW_ROOT="${FLOW_ROOT:-}"
FLOW_LIB="$FLOW_ROOT/var/lib/flow"
FLOW_LOGS="$FLOW_ROOT/var/log/flow"
FLOW_RUN="$FLOW_ROOT/var/run/flow"
mkdir -p "$FLOW_LIB" "$FLOW_LOGS" "$FLOW_RUN"
export FLOW_STOP_FILE="$FLOW_RUN/stop_requested"
echo $$ > "$FLOW_RUN/script.pid"
flow_log() { printf '[flow %s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
flow_finish() {
  printf '%s\n' "$1" > "$FLOW_RUN/exit_code.tmp"
  mv -f "$FLOW_RUN/exit_code.tmp" "$FLOW_RUN/exit_code"
}
flow_fail() {
  printf '%s\n' "$1" > "$FLOW_RUN/message"
  flow_log "error: $1"
  flow_finish "${2:-1}"
  exit "${2:-1}"
}
flow_on_exit() {
  local rc=$?
  if [ ! -f "$FLOW_RUN/exit_code" ]; then
    [ -f "$FLOW_RUN/message" ] ||
      printf 'startup script stopped (exit %s)\n' "$rc" > "$FLOW_RUN/message"
    flow_finish "$rc"
  fi
}
trap flow_on_exit EXIT
# The stop notice (cancel, preemption, release, time limit): the reason goes to FLOW_STOP_FILE
# unless whoever stops the machine wrote one first; it is remembered, so an exit code written
# before it still counts as the workload's own result. During the workload, SIGTERM goes to its
# whole process group (timeout passes it on) and the kill follows after the grace period.
flow_stop() {
  [ -s "$FLOW_STOP_FILE" ] || printf '%s\n' "${1:-stopped: the machine is shutting down}" \
    > "$FLOW_STOP_FILE"
  if [ -n "${FLOW_PID:-}" ]; then kill -TERM "$FLOW_PID" 2>/dev/null || true; else exit 143; fi
}
trap flow_stop TERM INT HUP
# environment (values are never echoed)
export FLOW_TASK_ID=task-0123456789ab
export FLOW_TASK_NUMBER=45403327
export FLOW_TASK_NAME=ddp
export FLOW_NUM_INSTANCES=4
export FLOW_WORKSPACE=/workspace
cat > "$FLOW_ROOT/var/lib/flow/node-env.sh" <<'FLOW_NODE_ENV'
# flowlib multi-node environment (docs/multi-node.md)
export FLOW_NODE_RANK="${SLURM_NODEID:-0}"
export FLOW_NUM_NODES="${SLURM_JOB_NUM_NODES:-4}"
export FLOW_MAIN_IP="$(h=$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1); getent ahostsv4 "$h" | awk '{print $1; exit}' | grep . || echo "$h")"
export FLOW_GPUS_PER_NODE="${SLURM_GPUS_ON_NODE:-8}"
export NODE_RANK="$FLOW_NODE_RANK" MASTER_ADDR="$FLOW_MAIN_IP" MASTER_PORT="$(( 20000 + ${SLURM_JOB_ID:-0} % 20000 ))"
export WORLD_SIZE=$(( FLOW_NUM_NODES * (FLOW_GPUS_PER_NODE > 0 ? FLOW_GPUS_PER_NODE : 1) ))
export PET_NNODES="$FLOW_NUM_NODES" PET_NODE_RANK="$FLOW_NODE_RANK"
export PET_MASTER_ADDR="$MASTER_ADDR" PET_MASTER_PORT="$MASTER_PORT"
export PET_NPROC_PER_NODE=$(( FLOW_GPUS_PER_NODE > 0 ? FLOW_GPUS_PER_NODE : 1 ))
FLOW_NODE_ENV
mkdir -p "$FLOW_ROOT"/workspace
cd "$FLOW_ROOT"/workspace
# the workload, under its time limit; its output goes to task.log
date +%s > "$FLOW_RUN/started"
set +e
rm -f "$FLOW_RUN/workload_rc"
timeout --kill-after=30 0 bash -c 'trap : TERM; f=$1; shift; "$@"; rc=$?; echo "$rc" > "$f"; exit "$rc"' flow-workload "$FLOW_RUN/workload_rc" \
  srun --nodes=4 --ntasks-per-node=1 --kill-on-bad-exit=1 --export=ALL bash -c '. "$1"; shift; exec "$@"' flow-node "$FLOW_ROOT/var/lib/flow/node-env.sh" bash -c 'torchrun t.py' >> "$FLOW_LOGS/task.log" 2>&1 < /dev/null &
FLOW_PID=$!
wait "$FLOW_PID"
FLOW_RC=$?
while kill -0 "$FLOW_PID" 2>/dev/null; do wait "$FLOW_PID"; FLOW_RC=$?; done
# A signal interrupts `wait` (143); once the workload is gone, bash still has its real status.
wait "$FLOW_PID" 2>/dev/null; FLOW_WAIT=$?; [ "$FLOW_WAIT" -eq 127 ] || FLOW_RC=$FLOW_WAIT
# timeout's own 124 (the backstop) stands; otherwise the status the workload itself ended with.
if [ "$FLOW_RC" -ne 124 ] && [ -s "$FLOW_RUN/workload_rc" ]; then
  FLOW_RC=$(cat "$FLOW_RUN/workload_rc")
fi
FLOW_PID=
[ -z "${FLOW_TIMER:-}" ] || kill "$FLOW_TIMER" 2>/dev/null || true
case "$(head -n 1 "$FLOW_STOP_FILE" 2>/dev/null)" in "time limit"*) FLOW_RC=124 ;; esac
set -e
flow_finish "$FLOW_RC"
exit "$FLOW_RC"
