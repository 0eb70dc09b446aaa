"""What runs on a persistent instance: the first boot script, the agent it installs, and the
commands flowlib runs there over the remote-host seam.

On the instance (every path under ``${FLOW_ROOT:-}``, as in :mod:`flowlib.core.startup`)::

    var/lib/flow/agent.sh                 the agent (a systemd unit on a VM, a boot.d hook in the
                                          emulator): started on every boot, so it survives sleep
    etc/flow/agent.conf                   VM_ID, API_URL, COOLDOWN_S, POLICY, POLL_S (by flowlib)
    etc/flow/api-header                   "api_key: ..." (mode 0600; never printed)
    var/lib/flow/queue/pending/SEQ-ID.sh  tasks waiting, run oldest SEQ first
    var/lib/flow/queue/tasks/ID/          one task's script.sh, task.log, started, exit_code,
                                          message, pid
    var/lib/flow/queue/agent.state        one line: what the agent is doing (see parse_agent_state)
    var/log/flow/agent.log                what the agent did (HTTP codes, never the key)

The agent runs one task at a time. Once the queue has been empty for ``COOLDOWN_S`` seconds it
asks the API to put its own VM to sleep per ``POLICY`` (``hibernate``, ``stop`` or ``delete``);
a failed call is retried with backoff (after 2, 4, 8, then every 16 polls), and a hibernation
the API refuses three times (400) becomes a stop, so the VM is never left running.
``FLOW_AGENT_CLOCK`` (a file holding epoch seconds) replaces the clock, so tests drive the
cooldown without waiting.
"""

from __future__ import annotations

import shlex
from collections.abc import Sequence
from dataclasses import dataclass

from flowlib.core.startup import SECTIONS, ScriptContext, build_script
from flowlib.models import TaskConfig
from flowlib.providers.hyperstack._names import QUEUE

__all__ = [
    "AGENT_SCRIPT",
    "QUEUE",
    "AgentState",
    "cancel_command",
    "configure_command",
    "enqueue_command",
    "first_boot_script",
    "parse_agent_state",
    "probe_command",
    "task_script",
]

AGENT_SCRIPT = r"""#!/bin/bash
# flowlib instance agent: runs queued tasks one at a time (oldest first) and puts this instance
# to sleep once the queue has been empty for the cooldown. Started on every boot.
set -uo pipefail
umask 022
FLOW_ROOT="${FLOW_ROOT:-}"
Q="$FLOW_ROOT/var/lib/flow/queue"
CONF="$FLOW_ROOT/etc/flow/agent.conf"
HEADER="$FLOW_ROOT/etc/flow/api-header"
LOG="$FLOW_ROOT/var/log/flow/agent.log"
mkdir -p "$Q/pending" "$Q/tasks" "$Q/incoming" "${LOG%/*}"
VM_ID="" API_URL="" COOLDOWN_S=300 POLICY=hibernate POLL_S=5 LAST_CODE=000
say() { printf '%s %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*" >> "$LOG"; }
now() {
  local t=""
  if [ -n "${FLOW_AGENT_CLOCK:-}" ] && [ -f "$FLOW_AGENT_CLOCK" ]; then
    t=$(cat "$FLOW_AGENT_CLOCK" 2>/dev/null)
  fi
  case "$t" in ''|*[!0-9]*) date +%s ;; *) printf '%s\n' "$t" ;; esac
}
state() { printf '%s\n' "$*" > "$Q/agent.state.tmp" && mv -f "$Q/agent.state.tmp" "$Q/agent.state"
}
call() {  # call METHOD PATH: the API with the stored key (curl reads the header from the file)
  curl -sS -o "$Q/api-answer" -w '%{http_code}' -X "$1" -H "@$HEADER" --max-time 60 \
    "$API_URL$2" 2>> "$LOG" || true
}
go_to_sleep() {
  case "$1" in
    hibernate) LAST_CODE=$(call GET "/core/virtual-machines/$VM_ID/hibernate?retain_ip=true") ;;
    stop) LAST_CODE=$(call GET "/core/virtual-machines/$VM_ID/stop") ;;
    delete) LAST_CODE=$(call DELETE "/core/virtual-machines/$VM_ID") ;;
    *) LAST_CODE=000 ;;
  esac
  LAST_CODE=${LAST_CODE:-000}
  say "$1: HTTP $LAST_CODE"
  [ "$LAST_CODE" = 200 ]
}
run_task() {
  local file="$1" id dir rc
  id="${file#*-}"
  id="${id%.sh}"
  dir="$Q/tasks/$id"
  mkdir -p "$dir"
  mv -f "$Q/pending/$file" "$dir/script.sh" || return 0
  state "running $id $(now)"
  say "task $id started"
  bash "$dir/script.sh" > "$dir/runner.log" 2>&1 < /dev/null &
  printf '%s\n' "$!" > "$dir/pid"
  wait "$!"
  rc=$?
  say "task $id ended ($rc)"
}
# A task that was running when the instance went down will not end by itself: say so.
for dir in "$Q"/tasks/*/; do
  [ -f "$dir/script.sh" ] && [ ! -f "$dir/exit_code" ] || continue
  printf 'interrupted: the instance went down while the task ran\n' > "$dir/message"
  printf '137\n' > "$dir/exit_code"
done
idle_since=$(now)
failures=0 refused=0 hold=0  # hold: polls to let pass before asking the API again
say "agent started"
while true; do
  if [ -f "$CONF" ]; then . "$CONF"; fi
  next=$(ls -1 "$Q/pending" 2>/dev/null | LC_ALL=C sort | head -n 1)
  if [ -n "$next" ]; then
    run_task "$next"
    idle_since=$(now) failures=0 hold=0
    continue
  fi
  t=$(now)
  if [ $(( t - idle_since )) -lt "$COOLDOWN_S" ]; then
    state "idle $idle_since $t $COOLDOWN_S $POLICY"
  elif [ -z "$VM_ID" ] || [ ! -s "$HEADER" ]; then
    state "idle $idle_since $t $COOLDOWN_S $POLICY no-credential"
  elif [ "$hold" -gt 0 ]; then
    hold=$(( hold - 1 ))
  else
    action=$POLICY
    if [ "$POLICY" = hibernate ] && [ "$refused" -ge 3 ]; then action=stop; fi
    state "sleeping $action $t"
    if go_to_sleep "$action"; then
      failures=0 hold=24  # the platform stops us; ask again (2 minutes later) if it did not
    else
      failures=$(( failures + 1 ))
      if [ "$LAST_CODE" = 400 ]; then refused=$(( refused + 1 )); fi
      hold=$(( 1 << (failures < 4 ? failures : 4) ))  # 2, 4, 8, 16 polls
      state "retrying $action $hold $LAST_CODE"
    fi
  fi
  if [ -z "$VM_ID" ]; then sleep 1; else sleep "$POLL_S"; fi
done
"""

_UNIT = """[Unit]
Description=flowlib instance agent (runs queued tasks, sleeps the instance when idle)
After=network-online.target
Wants=network-online.target

[Service]
User={user}
ExecStart=/bin/bash /var/lib/flow/agent.sh
Restart=always
RestartSec=5
RuntimeDirectory=flow
RuntimeDirectoryPreserve=yes

[Install]
WantedBy=multi-user.target
"""


def first_boot_script(instance: str, user: str) -> str:
    """The VM's ``user_data``: installs the agent as a service that starts on every boot (a
    systemd unit on a real VM; without systemd, as in the emulator, a boot.d hook), then starts
    it. It carries no task and no credential."""
    unit = _UNIT.format(user=user)
    q = shlex.quote
    return f"""#!/bin/bash
# flowlib persistent instance {instance}: installs the agent that runs its queued tasks
set -euo pipefail
FLOW_ROOT="${{FLOW_ROOT:-}}"
AGENT="$FLOW_ROOT/var/lib/flow/agent.sh"
mkdir -p "$FLOW_ROOT{QUEUE}/pending" "$FLOW_ROOT{QUEUE}/tasks" "$FLOW_ROOT{QUEUE}/incoming" \\
  "$FLOW_ROOT/etc/flow" "$FLOW_ROOT/var/log/flow" "$FLOW_ROOT/var/run/flow" "$FLOW_ROOT/workspace"
cat > "$AGENT" <<'FLOW_AGENT_SCRIPT'
{AGENT_SCRIPT}FLOW_AGENT_SCRIPT
chmod 755 "$AGENT"
if [ -z "$FLOW_ROOT" ] && [ -d /run/systemd/system ]; then
  chown -R {q(user)}: /var/lib/flow /var/log/flow /etc/flow /workspace
  chmod 700 /etc/flow
  cat > /etc/systemd/system/flow-agent.service <<'FLOW_UNIT'
{unit}FLOW_UNIT
  systemctl daemon-reload
  systemctl enable --now flow-agent.service
else
  # No systemd (an emulated instance): the emulator runs boot.d files on every later boot.
  mkdir -p "$FLOW_ROOT/etc/flowlib-emulator/boot.d"
  printf '#!/bin/bash\\nexec bash "${{FLOW_ROOT:-}}/var/lib/flow/agent.sh"\\n' \\
    > "$FLOW_ROOT/etc/flowlib-emulator/boot.d/50-flow-agent"
  exec bash "$AGENT"
fi
"""


def configure_command(
    vm_id: int, api_url: str, cooldown_s: float, policy: str, poll_s: float
) -> str:
    """Write the agent's settings; the API key comes on stdin into a 0600 file (never in a
    command line, so never in a process list or a log)."""
    conf = "\n".join(
        f"{k}={shlex.quote(v)}"
        for k, v in (
            ("VM_ID", str(vm_id)),
            ("API_URL", api_url.rstrip("/")),
            ("COOLDOWN_S", str(max(0, round(cooldown_s)))),
            ("POLICY", policy),
            ("POLL_S", f"{poll_s:g}"),
        )
    )
    return (
        "set -e\n"
        'D="${FLOW_ROOT:-}/etc/flow"\n'
        'umask 077\nmkdir -p "$D"\n'
        'cat > "$D/api-header.tmp"\nmv -f "$D/api-header.tmp" "$D/api-header"\n'
        f"printf '%s\\n' {shlex.quote(conf)} > \"$D/agent.conf.tmp\"\n"
        'chmod 644 "$D/agent.conf.tmp"\nmv -f "$D/agent.conf.tmp" "$D/agent.conf"\n'
    )


def enqueue_command(seq: str, task_id: str) -> str:
    """Put the script on stdin into the queue, atomically, unless the task is there already
    (a delivery repeated after a crash is a no-op). Prints ``queued`` or ``already``."""
    q = shlex.quote
    pending = f'"$Q/pending/"{q(f"{seq}-{task_id}.sh")}'
    return (
        "set -e\n"
        f'Q="${{FLOW_ROOT:-}}{QUEUE}"\n'
        'mkdir -p "$Q/pending" "$Q/tasks" "$Q/incoming"\n'
        f'if [ -e "$Q/tasks/"{q(task_id)} ] || ls "$Q/pending/" | grep -qF -- {q(task_id)}; then\n'
        "  cat > /dev/null\n  echo already\n  exit 0\nfi\n"
        f'cat > "$Q/incoming/"{q(task_id)}\n'
        f'mv -f "$Q/incoming/"{q(task_id)} {pending}\n'
        "echo queued\n"
    )


def probe_command(task_ids: Sequence[str]) -> str:
    """One round trip for an instance's state: the agent's state line, the pending queue, then
    ``ID EXIT_CODE STARTED`` per task (``-`` for what is not there)."""
    ids = " ".join(shlex.quote(t) for t in task_ids)
    return (
        f'Q="${{FLOW_ROOT:-}}{QUEUE}"\n'
        'cat "$Q/agent.state" 2>/dev/null || echo unknown\n'
        "echo ---\n"
        'ls -1 "$Q/pending" 2>/dev/null | LC_ALL=C sort\n'
        "echo ---\n"
        f"for id in {ids}; do\n"
        '  d="$Q/tasks/$id"\n'
        '  if [ -d "$d" ]; then\n'
        '    code=$(cat "$d/exit_code" 2>/dev/null) started=$(cat "$d/started" 2>/dev/null)\n'
        '    printf \'%s %s %s\\n\' "$id" "${code:--}" "${started:--}"\n'  # empty: being written
        "  fi\n"
        "done\n"
        "true\n"
    )


def cancel_command(task_id: str, grace_s: int = 40) -> str:
    """Take the task out of the queue, or stop it (SIGTERM to its script, which stops the
    workload and writes its exit code) and wait up to ``grace_s`` for the exit code."""
    q = shlex.quote(task_id)
    return (
        f'Q="${{FLOW_ROOT:-}}{QUEUE}"\n'
        f'for f in "$Q"/pending/*-{q}.sh; do [ -e "$f" ] && rm -f "$f"; done\n'
        f'd="$Q/tasks/"{q}\n'
        'if [ -f "$d/pid" ] && [ ! -f "$d/exit_code" ]; then\n'
        '  kill -TERM "$(cat "$d/pid")" 2>/dev/null || true\n'
        f'  for _ in $(seq {grace_s * 5}); do [ -f "$d/exit_code" ] && break; sleep 0.2; done\n'
        "fi\n"
        "true\n"
    )


def _queue_paths(task_id: str) -> str:
    # Re-points the markers of the startup script to the task's own directory, so each queued
    # task keeps its own log, start time and exit code.
    return (
        f'FLOW_LIB="$FLOW_ROOT{QUEUE}/tasks/"{shlex.quote(task_id)}\n'
        'FLOW_LOGS="$FLOW_LIB"\nFLOW_RUN="$FLOW_LIB"\nmkdir -p "$FLOW_LIB"\n'
    )


def task_script(task_id: str, config: TaskConfig, code: bytes | None) -> str:
    """The startup script of a queued task, its markers in ``queue/tasks/ID/``."""
    sections = [SECTIONS[0], lambda _ctx: _queue_paths(task_id), *SECTIONS[1:]]
    context = ScriptContext(task_id=task_id, config=config, code=code)
    return build_script(context, sections)


@dataclass(frozen=True)
class AgentState:
    """What the agent said it is doing. ``kind``: running, idle, sleeping, retrying, unknown."""

    kind: str
    task_id: str | None = None
    cooldown_left_s: float | None = None
    action: str | None = None
    detail: str | None = None


def parse_agent_state(line: str) -> AgentState:
    words = line.split()
    kind = words[0] if words else "unknown"
    try:
        if kind == "running" and len(words) >= 2:
            return AgentState(kind, task_id=words[1])
        if kind == "idle" and len(words) >= 5:
            since, now, cooldown = int(words[1]), int(words[2]), int(words[3])
            detail = "waiting for flowlib to deliver its API credential" if len(words) > 5 else None
            left = max(0, cooldown - (now - since))
            return AgentState(kind, cooldown_left_s=left, action=words[4], detail=detail)
        if kind == "sleeping" and len(words) >= 2:
            return AgentState(kind, action=words[1])
        if kind == "retrying" and len(words) >= 4:
            detail = f"the API answered HTTP {words[3]}; trying again in {words[2]} polls"
            return AgentState(kind, action=words[1], detail=detail)
    except ValueError:
        pass
    return AgentState("unknown")
