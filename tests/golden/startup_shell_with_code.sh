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
# A stop (cancel, release) is remembered, so an exit code written before it still counts as the
# workload's own result; during the workload the signal is passed on to it.
flow_stop() {
  date +%s > "$FLOW_RUN/stop_requested"
  if [ -n "${FLOW_PID:-}" ]; then kill -TERM "$FLOW_PID" 2>/dev/null || true; else exit 143; fi
}
trap flow_stop TERM INT HUP
# environment (values are never echoed)
export FLOW_TASK_ID=task-golden
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
timeout --kill-after=30 7200 bash -c 'python train.py --epochs 3 && echo done' >> "$FLOW_LOGS/task.log" 2>&1 < /dev/null &
FLOW_PID=$!
wait "$FLOW_PID"
FLOW_RC=$?
while kill -0 "$FLOW_PID" 2>/dev/null; do wait "$FLOW_PID"; FLOW_RC=$?; done
FLOW_PID=
set -e
if [ "$FLOW_RC" -eq 124 ]; then
  printf '%s\n' 'stopped: max_run_time_hours=2 reached' >> "$FLOW_RUN/message"
fi
flow_finish "$FLOW_RC"
# self-release: stop billing
flow-release-self || true
exit "$FLOW_RC"
