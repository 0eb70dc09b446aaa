#!/usr/bin/env bash
# slurm-down.sh - stop the daemons that slurm-up.sh started, by pid file only.
#
# Reads /run/slurm-local/started (written by slurm-up.sh) and stops, in order,
# slurmd, slurmctld, slurmdbd, mariadbd, munged - but only those listed there,
# and only if the pid in the daemon's pid file is a live process with the
# expected name. Never kills by process name.
#
# Before stopping slurmd it cancels all jobs so that no job processes
# (slurmstepd and its children) are left behind; set SLURM_DOWN_KEEP_JOBS=1 to
# skip that (jobs then stay in slurmctld's saved state and are recovered, or
# marked failed, at the next slurm-up.sh).
# State, logs, packages and the accounting database are kept.
set -uo pipefail

STATE_DIR=/run/slurm-local
STARTED=$STATE_DIR/started
T0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '[slurm-down %2d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*"; }

[ "$(id -u)" = 0 ] || { log "must run as root"; exit 1; }
if [ ! -s "$STARTED" ]; then
  log "nothing recorded in $STARTED: nothing to stop"
  exit 0
fi

pidfile_of() {
  case $1 in
    slurmd|slurmctld|slurmdbd) echo "/run/slurm/$1.pid" ;;
    mariadbd) echo /run/mysqld/mysqld.pid ;;
    munged) echo /run/munge/munged.pid ;;
  esac
}
alive() { # alive PIDFILE NAME -> pid
  local pf=$1 name=$2 pid
  [ -s "$pf" ] || return 1
  pid=$(cat "$pf" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ] || return 1
  # a zombie (exited, not yet reaped by init) is not alive
  [ "$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
  echo "$pid"
}
started() { grep -qx "$1" "$STARTED"; }
# gone PID: the process has exited (or is a zombie waiting for init to reap it)
gone() { [ ! -d "/proc/$1" ] || [ "$(awk '/^State:/{print $2}' "/proc/$1/status" 2>/dev/null)" = Z ]; }

# Cancel jobs while slurmctld and slurmd are still up.
if [ "${SLURM_DOWN_KEEP_JOBS:-0}" != 1 ] && started slurmctld && alive "$(pidfile_of slurmctld)" slurmctld > /dev/null; then
  jobs=$(squeue -h -o %A 2>/dev/null | sort -u | tr '\n' ' ')
  if [ -n "${jobs// /}" ]; then
    log "cancelling jobs: $jobs"
    # shellcheck disable=SC2086
    scancel $jobs 2>/dev/null || true
    for _ in $(seq 1 150); do   # up to 15 s (KillWait=5)
      [ -z "$(squeue -h -t R,CG,S -o %A 2>/dev/null)" ] && break
      sleep 0.1
    done
  fi
fi

rc=0
# stop_group NAME... : SIGTERM every listed daemon at once, wait for all (30 s, then SIGKILL)
stop_group() {
  local d pf pid pids=() names=()
  for d in "$@"; do
    started "$d" || continue
    pf=$(pidfile_of "$d")
    if pid=$(alive "$pf" "$d"); then
      kill -TERM "$pid" && pids+=("$pid") && names+=("$d")
    else
      log "$d not running"
      sed -i "/^$d\$/d" "$STARTED"
      rm -f "$pf"
    fi
  done
  local i
  for i in "${!pids[@]}"; do
    pid=${pids[$i]}; d=${names[$i]}
    for _ in $(seq 1 300); do gone "$pid" && break; sleep 0.1; done
    if ! gone "$pid"; then
      log "$d (pid $pid) still running after 30 s: SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      sleep 0.5
    fi
    if ! gone "$pid"; then
      log "$d (pid $pid) did not stop"; rc=1; continue
    fi
    log "stopped $d (pid $pid)"
    pf=$(pidfile_of "$d")
    # daemons remove their own pid files on a clean exit; drop stale ones
    if [ -e "$pf" ] && ! alive "$pf" "$d" > /dev/null; then rm -f "$pf"; fi
    sed -i "/^$d\$/d" "$STARTED"
  done
}
# slurmctld pushes job records to slurmdbd, which needs MariaDB; all need munged.
stop_group slurmd slurmctld
stop_group slurmdbd
stop_group mariadbd munged
[ $rc = 0 ] && log "down"
exit $rc
