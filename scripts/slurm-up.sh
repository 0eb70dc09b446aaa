#!/usr/bin/env bash
# slurm-up.sh - bring up a single-node SLURM 22.05 cluster (Debian bookworm) on localhost.
# flowlib's copy: tests/integration/test_sbatch_oracle.py and .ci/run use it.
#
# Idempotent: installs what is missing, (re)writes config only when it changed,
# starts only the daemons that are not already running, and waits until
# `sinfo` reports the node idle. Needs root. No systemd needed: every daemon is
# started by hand and tracked by its pid file.
#
#   munged      pid /run/munge/munged.pid
#   mariadbd    pid /run/mysqld/mysqld.pid   (only with SLURM_WITH_DBD=1, the default)
#   slurmdbd    pid /run/slurm/slurmdbd.pid  (only with SLURM_WITH_DBD=1)
#   slurmctld   pid /run/slurm/slurmctld.pid
#   slurmd      pid /run/slurm/slurmd.pid
#
# Daemons this script started are listed in /run/slurm-local/started (one name a
# line); slurm-down.sh stops exactly those, by pid.
#
# Knobs (environment):
#   SLURM_WITH_DBD=1|0   slurmdbd + MariaDB so that sacct works (default 1)
#   SLURM_CPUS=8         CPUs the node advertises (config_overrides: may exceed the real count)
#   SLURM_MEM_MB=8000    RealMemory the node advertises
#   SLURM_GPUS=4         fake GPUs (gres/gpu); 0 disables GRES
#   SLURM_UP_TIMEOUT=60  seconds to wait for each readiness check
#   SLURM_FEATURES=a100,h100,v100  node features (so --constraint=a100 is accepted)
set -euo pipefail

WITH_DBD=${SLURM_WITH_DBD:-1}
CPUS=${SLURM_CPUS:-8}
MEM_MB=${SLURM_MEM_MB:-8000}
GPUS=${SLURM_GPUS:-4}
TIMEOUT=${SLURM_UP_TIMEOUT:-60}
FEATURES=${SLURM_FEATURES:-a100,h100,v100}
CLUSTER=flowlib
NODE=localhost
STATE_DIR=/run/slurm-local
STARTED=$STATE_DIR/started
FAKE_GPU_DIR=/var/lib/slurm/fake-gpu
DB_PASS=slurmdbpass

T0=$(date +%s%N)
log() { local ms=$(( ($(date +%s%N) - T0) / 1000000 )); printf '[slurm-up %3d.%02ds] %s\n' $((ms / 1000)) $((ms % 1000 / 10)) "$*"; }
die() { log "ERROR: $*"; exit 1; }

[ "$(id -u)" = 0 ] || die "must run as root"

# ---------------------------------------------------------------- packages
PKGS=(munge slurmctld slurmd slurm-client)
if [ "$WITH_DBD" = 1 ]; then PKGS+=(slurmdbd mariadb-server); fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  log "installing: ${missing[*]}"
  # Keep postinst scripts from starting daemons (they would fail without our config).
  made_policy=0
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made_policy=1
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q > /tmp/slurm-up-apt.log 2>&1 || log "apt-get update failed (continuing)"
  apt-get install -y -q --no-install-recommends "${missing[@]}" >> /tmp/slurm-up-apt.log 2>&1 \
    || { tail -20 /tmp/slurm-up-apt.log; die "apt-get install failed (log: /tmp/slurm-up-apt.log)"; }
  if [ $made_policy = 1 ]; then rm -f /usr/sbin/policy-rc.d; trap - EXIT; fi
  log "packages installed"
else
  log "packages already installed"
fi

# ---------------------------------------------------------------- host name
# Slurm itself only needs "localhost", but munge and sbatch call gethostname();
# make sure that name resolves.
HN=$(hostname)
if ! getent hosts "$HN" > /dev/null 2>&1; then
  echo "127.0.0.1 $HN" >> /etc/hosts
  log "added $HN to /etc/hosts"
fi

# ---------------------------------------------------------------- helpers
mkdir -p "$STATE_DIR"; touch "$STARTED"
# alive PIDFILE NAME -> prints pid if the pid file names a live process called NAME
alive() {
  local pf=$1 name=$2 pid
  [ -s "$pf" ] || return 1
  pid=$(cat "$pf" 2>/dev/null | tr -dc 0-9)
  [ -n "$pid" ] && [ -r "/proc/$pid/comm" ] && [ "$(cat "/proc/$pid/comm")" = "$name" ] || return 1
  # a zombie (exited, not yet reaped by init) is not alive
  [ "$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)" != Z ] || return 1
  echo "$pid"
}
mark_started() { grep -qx "$1" "$STARTED" || echo "$1" >> "$STARTED"; }
wait_for() { # wait_for DESCRIPTION CMD...
  local what=$1; shift
  local end=$(( $(date +%s) + TIMEOUT ))
  until "$@" > /dev/null 2>&1; do
    [ "$(date +%s)" -lt "$end" ] || die "timed out waiting for $what"
    sleep 0.1
  done
  log "$what: ready"
}
# install_file DEST MODE OWNER < content ; returns 0 if the file changed
install_file() {
  local dest=$1 mode=$2 owner=$3 tmp
  tmp=$(mktemp)
  cat > "$tmp"
  if [ -f "$dest" ] && cmp -s "$tmp" "$dest"; then rm -f "$tmp"; return 1; fi
  install -m "$mode" -o "${owner%%:*}" -g "${owner##*:}" "$tmp" "$dest"; rm -f "$tmp"; return 0
}
stop_pid() { # stop_pid PIDFILE NAME
  local pid
  pid=$(alive "$1" "$2") || return 0
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 300); do alive "$1" "$2" > /dev/null || return 0; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
}

# ---------------------------------------------------------------- dirs
install -d -m 0755 -o munge -g munge /run/munge
install -d -m 0755 -o slurm -g slurm /run/slurm /var/lib/slurm /var/lib/slurm/slurmctld /var/lib/slurm/slurmd /var/log/slurm
[ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey -c
chown munge:munge /etc/munge/munge.key; chmod 0400 /etc/munge/munge.key

# Fake GPUs. gres/gpu in 22.05 drops GPUs without File= ("Removing file-less GPU"),
# and File= must resolve to a character device: symlinks to /dev/null do (no mknod needed).
GRES_CONF=""
if [ "$GPUS" -gt 0 ]; then
  mkdir -p "$FAKE_GPU_DIR"
  for i in $(seq 0 $((GPUS - 1))); do ln -sfn /dev/null "$FAKE_GPU_DIR/nvidia$i"; done
  if [ "$GPUS" = 1 ]; then files=nvidia0; else files="nvidia[0-$((GPUS - 1))]"; fi
  GRES_CONF="NodeName=$NODE Name=gpu File=$FAKE_GPU_DIR/$files"
fi

# ---------------------------------------------------------------- config
changed=0
if [ "$WITH_DBD" = 1 ]; then
  ACCT="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost
AccountingStoragePort=6819
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=30
AccountingStoreFlags=job_comment,job_env,job_script"
  if [ "$GPUS" -gt 0 ]; then ACCT="$ACCT
AccountingStorageTRES=gres/gpu"; fi
else
  ACCT="AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none"
fi
GRES_LINE=""; NODE_GRES=""
if [ "$GPUS" -gt 0 ]; then GRES_LINE="GresTypes=gpu"; NODE_GRES=" Gres=gpu:$GPUS"; fi

install_file /etc/slurm/slurm.conf 0644 root:root <<EOF && changed=1 || true
# Written by slurm-up.sh - single-node test cluster
ClusterName=$CLUSTER
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=slurm
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=/var/lib/slurm/slurmctld
SlurmdSpoolDir=/var/lib/slurm/slurmd
SlurmctldPidFile=/run/slurm/slurmctld.pid
SlurmdPidFile=/run/slurm/slurmd.pid
SlurmctldLogFile=/var/log/slurm/slurmctld.log
SlurmdLogFile=/var/log/slurm/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
# no cgroups: plain /proc process tracking, no task binding
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SwitchType=switch/none
MailProg=/bin/true
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
# without a default, a job with no --mem is given the whole node's memory
DefMemPerCPU=100
# trust the node definition below even if it exceeds the real hardware
SlurmdParameters=config_overrides
ReturnToService=2
KillWait=5
# keep finished jobs visible to scontrol/squeue for an hour
MinJobAge=3600
# start jobs within ~1s instead of ~3s
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0,bf_interval=1
$ACCT
JobCompType=jobcomp/filetxt
JobCompLoc=/var/log/slurm/jobcomp.log
$GRES_LINE
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB$NODE_GRES${FEATURES:+ Features=$FEATURES} State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=2-00:00:00 DefaultTime=00:30:00 State=UP
EOF

install_file /etc/slurm/gres.conf 0644 root:root <<EOF && changed=1 || true
# Written by slurm-up.sh - fake GPUs
AutoDetect=off
$GRES_CONF
EOF

if [ "$WITH_DBD" = 1 ]; then
  install_file /etc/slurm/slurmdbd.conf 0600 slurm:slurm <<EOF && changed=1 || true
# Written by slurm-up.sh
AuthType=auth/munge
DbdHost=localhost
DbdAddr=127.0.0.1
DbdPort=6819
SlurmUser=slurm
PidFile=/run/slurm/slurmdbd.pid
LogFile=/var/log/slurm/slurmdbd.log
DebugLevel=info
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=$DB_PASS
StorageLoc=slurm_acct_db
EOF
fi

if [ $changed = 1 ]; then
  # A running daemon would keep the old config: restart the slurm daemons.
  for d in slurmd slurmctld slurmdbd; do
    if alive /run/slurm/$d.pid $d > /dev/null; then log "config changed: stopping $d"; stop_pid /run/slurm/$d.pid $d; fi
  done
  log "config written"
else
  log "config unchanged"
fi

# ---------------------------------------------------------------- munged
if alive /run/munge/munged.pid munged > /dev/null; then
  log "munged already running"
else
  runuser -u munge -- /usr/sbin/munged
  mark_started munged
fi
wait_for "munge" sh -c 'munge -n | unmunge'

# ---------------------------------------------------------------- MariaDB + slurmdbd
if [ "$WITH_DBD" = 1 ]; then
  if mariadb-admin --socket=/run/mysqld/mysqld.sock ping > /dev/null 2>&1; then
    log "MariaDB already running"
  else
    install -d -m 0755 -o mysql -g mysql /run/mysqld
    # socket only (no TCP port); daemon does not fork: detach it ourselves
    setsid /usr/sbin/mariadbd --user=mysql --skip-networking \
      --socket=/run/mysqld/mysqld.sock --pid-file=/run/mysqld/mysqld.pid \
      --innodb-lock-wait-timeout=900 \
      >> /var/log/slurm/mariadb.log 2>&1 < /dev/null &
    mark_started mariadbd
    wait_for "MariaDB" mariadb-admin --socket=/run/mysqld/mysqld.sock ping
  fi
  mariadb --socket=/run/mysqld/mysqld.sock -e "
    CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY '$DB_PASS';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  if alive /run/slurm/slurmdbd.pid slurmdbd > /dev/null; then
    log "slurmdbd already running"
  else
    /usr/sbin/slurmdbd
    mark_started slurmdbd
  fi
  wait_for "slurmdbd" sacctmgr -n -P list cluster
fi

# ---------------------------------------------------------------- slurmctld
if alive /run/slurm/slurmctld.pid slurmctld > /dev/null; then
  log "slurmctld already running"
else
  /usr/sbin/slurmctld
  mark_started slurmctld
fi
wait_for "slurmctld" sh -c 'scontrol ping | grep -q UP'

# ---------------------------------------------------------------- slurmd
if alive /run/slurm/slurmd.pid slurmd > /dev/null; then
  log "slurmd already running"
else
  /usr/sbin/slurmd -N "$NODE"
  mark_started slurmd
fi
node_idle() {
  local s
  s=$(sinfo -h -n "$NODE" -o %T 2>/dev/null | head -1)
  case "$s" in
    idle|mixed|allocated) return 0 ;;
    down*|drain*) scontrol update nodename="$NODE" state=resume > /dev/null 2>&1 || true; return 1 ;;
    *) return 1 ;;
  esac
}
wait_for "node $NODE idle" node_idle
if [ "$WITH_DBD" = 1 ]; then
  wait_for "cluster $CLUSTER registered in slurmdbd" sh -c "sacctmgr -n -P list cluster format=cluster,controlport | grep -q '^$CLUSTER|6817'"
fi
sinfo
log "cluster up"
