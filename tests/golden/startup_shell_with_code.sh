#!/bin/bash
# flowlib startup script for task task-golden
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
export FLOW_TASK_ID=task-golden
export FLOW_TASK_NUMBER=59526255
export FLOW_TASK_NAME=golden
export FLOW_NUM_INSTANCES=1
export FLOW_WORKSPACE=/workspace
export WANDB_MODE=offline
export QUOTED='it'"'"'s "fine"'
# code upload
[ -f "$FLOW_ROOT/var/lib/flow/code.tar.gz" ] || flow_fail "code archive is missing"
printf '%s  %s\n' 0000000000000000000000000000000000000000000000000000000000000000 "$FLOW_ROOT/var/lib/flow/code.tar.gz" | sha256sum -c --status - || flow_fail "code archive is corrupt (checksum mismatch)"
tar --quoting-style=c --numeric-owner -tvzPf "$FLOW_ROOT/var/lib/flow/code.tar.gz" > "$FLOW_LIB/code.list" || flow_fail "code archive is unreadable"
flow_unsafe=$(awk 'function up(path, depth,  n, p, k) {
  if (path ~ /^\//) return -1
  n = split(path, p, "/")
  for (k = 1; k <= n; k++)
    if (p[k] == "..") { if (--depth < 0) return -1 }
    else if (p[k] != "." && p[k] != "") depth++
  return depth
}
{
  t = substr($0, 1, 1); rest = substr($0, index($0, "\""))
  match(rest, /^"([^"\\]|\\.)*"/); name = substr(rest, 2, RLENGTH - 2)
  if (t !~ /[-dlh]/) { print "code archive has a device node or FIFO: " name; exit }
  if (name ~ /^\// || name ~ /(^|\/)\.\.(\/|$)/) { print "code archive has unsafe paths"; exit }
  if (t == "l" || t == "h") {
    match(rest, /"([^"\\]|\\.)*"$/); link = substr(rest, RSTART + 1, RLENGTH - 2)
    dir = name; sub(/\/?[^\/]*$/, "", dir)
    if (up(link, t == "l" ? up(dir, 0) : 0) < 0) {
      print "code archive has a link out of the tree: " name " -> " link; exit
    }
  }
}
' "$FLOW_LIB/code.list")
[ -z "$flow_unsafe" ] || flow_fail "$flow_unsafe"
mkdir -p "$FLOW_ROOT"/workspace
tar -xzf "$FLOW_ROOT/var/lib/flow/code.tar.gz" -C "$FLOW_ROOT"/workspace --no-same-owner --no-same-permissions || flow_fail "cannot extract the code archive"
mkdir -p "$FLOW_ROOT"/workspace
cd "$FLOW_ROOT"/workspace
# the workload, under its time limit; its output goes to task.log
date +%s > "$FLOW_RUN/started"
set +e
rm -f "$FLOW_RUN/workload_rc"
timeout --kill-after=30 7200 bash -c 'trap : TERM; f=$1; shift; "$@"; rc=$?; echo "$rc" > "$f"; exit "$rc"' flow-workload "$FLOW_RUN/workload_rc" \
  bash -c 'python train.py --epochs 3 && echo done' >> "$FLOW_LOGS/task.log" 2>&1 < /dev/null &
FLOW_PID=$!
( trap 'kill "$s" 2>/dev/null; exit 0' TERM; sleep 7170 & s=$!; wait "$s"; flow_stop 'time limit: max_run_time_hours=2 reached' ) &
FLOW_TIMER=$!
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
if [ "$FLOW_RC" -eq 124 ]; then
  printf '%s\n' 'stopped: max_run_time_hours=2 reached' >> "$FLOW_RUN/message"
fi
flow_finish "$FLOW_RC"
# self-release: stop billing
flow-release-self || true
exit "$FLOW_RC"
