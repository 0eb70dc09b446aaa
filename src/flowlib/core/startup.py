"""The startup script: one bash script, built from ordered sections, that runs a task on a machine.

The very same script runs on a cloud VM (``FLOW_ROOT`` empty), in the local provider and in an
emulated cloud instance (``FLOW_ROOT`` = a sandbox directory): every path it touches is prefixed
with ``${FLOW_ROOT:-}``. Files it leaves behind, relative to that root::

    var/lib/flow/code.tar.gz   the code archive (embedded in the script, or put there by a provider)
    var/log/flow/task.log      the workload's stdout and stderr
    var/run/flow/started       when the workload began (epoch seconds)
    var/run/flow/exit_code     the workload's exit code, written atomically when it ends
    var/run/flow/stop_requested  the stop notice (``FLOW_STOP_FILE``): its first line says why
                               (cancel, preemption, release, time limit); a workload that
                               ended before it ended on its own
    var/run/flow/script.pid    the script's pid: ``kill -TERM`` it to give the stop notice
    var/run/flow/message       why the script failed before or around the workload, if it did

The stop notice is one mechanism on every provider (docs/integrations.md): whatever stops a
running workload writes the reason to ``FLOW_STOP_FILE`` (if nothing wrote one yet) and sends the
script SIGTERM; the script passes SIGTERM to the workload's whole process group (through
``timeout``) and kills it ``stop_grace_s`` seconds later. The time limit gives the same notice
``stop_grace_s`` seconds before it is reached (at most half the limit before it).
:func:`flowlib.stop_requested` reads the file.

Every user value is quoted with :func:`shlex.quote`, so an env value with quotes, ``$(...)``,
backticks, newlines or unicode reaches the workload byte for byte. Nothing in the script echoes
env values: secrets stay out of logs.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from flowlib.core._results_script import results_end, results_start
from flowlib.core.hosts import reach
from flowlib.data import data_section, outputs_section, volumes_section, volumes_sync_section
from flowlib.errors import FlowError, PackagingError
from flowlib.models import TaskConfig

if TYPE_CHECKING:
    from flowlib.core.hosts import RemoteHost
    from flowlib.core.seams import Clock
    from flowlib.data import VolumeMount

__all__ = [
    "CODE_ARCHIVE",
    "EXIT_TIMEOUT",
    "KILL_GRACE_S",
    "NODE_ENV_FILE",
    "SECTIONS",
    "STOP_FILE",
    "Markers",
    "MultiNode",
    "ScriptContext",
    "build_script",
    "fit_script",
    "give_notice",
    "notice_command",
    "numeric_id",
    "read_markers",
    "task_number",
]

CODE_ARCHIVE = "var/lib/flow/code.tar.gz"
EXIT_TIMEOUT = 124
# Seconds between SIGTERM and SIGKILL when the time limit or a cancel stops the workload (the
# default of TaskConfig.stop_grace_s).
KILL_GRACE_S = 30
STOP_FILE = "var/run/flow/stop_requested"


@dataclass(frozen=True)
class Markers:
    """What a task's startup script left in ``var/run/flow``: the exit code once the workload
    ended, when it started and ended, and why the script failed (if it did)."""

    exit_code: int | None = None
    started_at: datetime | None = None
    completed_at: datetime | None = None
    message: str | None = None
    stop_requested: bool = False  # a stop notice reached the script (cancel, release...)
    stop_reason: str | None = None  # the notice's first line

    def cancelled(self, cancel_requested: bool) -> bool:
        """Whether a task whose cancel was ``cancel_requested`` ended by that cancel: yes unless
        the workload had ended on its own (an exit code and no stop reached the script)."""
        return cancel_requested and (self.exit_code is None or self.stop_requested)


def read_markers(run_dir: Path) -> Markers:
    """The markers in ``run_dir`` (a task's ``var/run/flow`` on this machine)."""

    def text(name: str) -> str | None:
        try:
            return (run_dir / name).read_text("utf-8", "replace").strip() or None
        except (FileNotFoundError, NotADirectoryError):
            return None

    def mtime(name: str) -> datetime | None:
        try:
            return datetime.fromtimestamp((run_dir / name).stat().st_mtime, timezone.utc)
        except (FileNotFoundError, NotADirectoryError):
            return None

    try:
        code = int(text("exit_code") or "")
    except ValueError:
        code = None
    return Markers(
        exit_code=code,
        started_at=mtime("started"),
        completed_at=mtime("exit_code") if code is not None else None,
        message=text("message"),
        stop_requested=(run_dir / "stop_requested").exists(),
        stop_reason=(text("stop_requested") or "").split("\n", 1)[0] or None,
    )


def notice_command(reason: str) -> str:
    """A shell command, run on the task's machine, that gives the workload the stop notice: the
    reason into ``FLOW_STOP_FILE`` (unless one is there), then SIGTERM to the startup script,
    which passes it on and kills the workload after its grace period."""
    run = '"${FLOW_ROOT:-}/var/run/flow"'
    return (
        f"d={run}; [ -s \"$d/stop_requested\" ] || printf '%s\\n' {_q(reason)} "
        '> "$d/stop_requested"; kill -TERM "$(cat "$d/script.pid")" 2>/dev/null || true'
    )


NOTICE_REACH_S = 10.0
"""How long a stop notice waits for a host to answer ssh: a machine still booting gets no
notice (its shutdown signal is the notice), and the cancel behind it does not wait out the
boot (the machine bills meanwhile)."""


def give_notice(hosts: Sequence[RemoteHost], reason: str, grace_s: float, clock: Clock) -> None:
    """Give each host's workload the stop notice, then wait up to ``grace_s`` for every one of
    them to end (its exit code appears): what a provider does before it takes machines away.
    A host already ended is left alone; one that does not answer within
    :data:`NOTICE_REACH_S` is skipped (its shutdown gives the notice instead)."""
    told = []
    for host in hosts:
        try:
            reach(host, NOTICE_REACH_S)
            if host.read_file("/var/run/flow/exit_code") is None:
                host.run(notice_command(reason), timeout=30)
                told.append(host)
        except (FlowError, OSError):
            continue
    deadline = clock.monotonic() + grace_s
    for host in told:
        try:
            while host.read_file("/var/run/flow/exit_code") is None:
                if clock.monotonic() >= deadline:
                    return
                clock.sleep(0.2)
        except (FlowError, OSError):
            continue


NODE_ENV_FILE = "var/lib/flow/node-env.sh"


@dataclass(frozen=True)
class MultiNode:
    """Where a node sits in a multi-node task, supplied by the provider (see docs/multi-node.md).

    Each value is a bash expression evaluated on the node when ``node-env.sh`` is sourced: a
    literal (``"2"``, a cloud provider knows the rank when it boots a VM) or a variable the
    scheduler sets (``"${SLURM_NODEID}"``). ``launcher``, when given, starts the workload once
    per node (``srun --ntasks-per-node=1 ...``); ``node-env.sh`` is then sourced on every node
    under it instead of once in the startup script.
    """

    node_rank: str
    num_nodes: str
    main_ip: str
    gpus_per_node: str
    master_port: str = "29500"
    launcher: str | None = None


@dataclass(frozen=True)
class ScriptContext:
    """What the sections need. ``code`` is the archive to embed, or None when the provider puts
    it at ``$FLOW_ROOT/var/lib/flow/code.tar.gz`` itself (``code_sha256`` then checks it)."""

    task_id: str
    config: TaskConfig
    code: bytes | None = None
    code_sha256: str | None = None
    code_at_path: bool = False
    extra_env: Mapping[str, str] = field(default_factory=dict)
    release_command: str | None = None  # run at the end when auto_terminate (self-release)
    docker: bool = False  # run `image` with docker
    multi_node: MultiNode | None = None  # the node's place in a multi-node task
    # mount path -> a directory on the machine to link there (local volumes, bind sources)
    data_links: Mapping[str, str] = field(default_factory=dict)
    # volumes the machine gets as block devices, mounted before the data is staged
    volume_mounts: Sequence[VolumeMount] = ()
    volume_wait_s: int = 1800  # how long the script waits for each volume's device


def _q(value: str) -> str:
    return shlex.quote(value)


def section_header(ctx: ScriptContext) -> str:
    return f"""#!/bin/bash
# flowlib startup script for task {ctx.task_id}
# shellcheck disable=SC2016,SC2329  # literal $ in quoted values; helpers run from traps
set -euo pipefail
umask 022
FLOW_ROOT="${{FLOW_ROOT:-}}"
FLOW_LIB="$FLOW_ROOT/var/lib/flow"
FLOW_LOGS="$FLOW_ROOT/var/log/flow"
FLOW_RUN="$FLOW_ROOT/var/run/flow"
mkdir -p "$FLOW_LIB" "$FLOW_LOGS" "$FLOW_RUN"
export FLOW_STOP_FILE="$FLOW_RUN/stop_requested"
echo $$ > "$FLOW_RUN/script.pid"
flow_log() {{ printf '[flow %s] %s\\n' "$(date -u +%H:%M:%S)" "$*" >&2; }}
flow_finish() {{
  printf '%s\\n' "$1" > "$FLOW_RUN/exit_code.tmp"
  mv -f "$FLOW_RUN/exit_code.tmp" "$FLOW_RUN/exit_code"
}}
flow_fail() {{
  printf '%s\\n' "$1" > "$FLOW_RUN/message"
  flow_log "error: $1"
  flow_finish "${{2:-1}}"
  exit "${{2:-1}}"
}}
flow_on_exit() {{
  local rc=$?
  if [ ! -f "$FLOW_RUN/exit_code" ]; then
    [ -f "$FLOW_RUN/message" ] ||
      printf 'startup script stopped (exit %s)\\n' "$rc" > "$FLOW_RUN/message"
    flow_finish "$rc"
  fi
}}
trap flow_on_exit EXIT
# The stop notice (cancel, preemption, release, time limit): the reason goes to FLOW_STOP_FILE
# unless whoever stops the machine wrote one first; it is remembered, so an exit code written
# before it still counts as the workload's own result. During the workload, SIGTERM goes to its
# whole process group (timeout passes it on) and the kill follows after the grace period.
flow_stop() {{
  [ -s "$FLOW_STOP_FILE" ] || printf '%s\\n' "${{1:-stopped: the machine is shutting down}}" \\
    > "$FLOW_STOP_FILE"
  if [ -n "${{FLOW_PID:-}}" ]; then kill -TERM "$FLOW_PID" 2>/dev/null || true; else exit 143; fi
}}
trap flow_stop TERM INT HUP
"""


MAX_JOB_ID = 67_043_328  # SLURM's default MaxJobId: job ids are below it


def numeric_id(text: str) -> str:
    """A stable SLURM-style job id (1 .. MAX_JOB_ID) for ``text``."""
    digest = hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()
    return str(int.from_bytes(digest[:8], "big") % MAX_JOB_ID + 1)


def task_number(task_id: str) -> str:
    """``FLOW_TASK_NUMBER``: the task id as a number, the same on every node and retry (the id
    itself when it is all digits, else :func:`numeric_id` of it). A translated sbatch script's
    ``SLURM_JOB_ID`` where SLURM gives none."""
    return task_id if task_id.isascii() and task_id.isdigit() else numeric_id(task_id)


def section_env(ctx: ScriptContext) -> str:
    env = {
        "FLOW_TASK_ID": ctx.task_id,
        "FLOW_TASK_NUMBER": task_number(ctx.task_id),
        "FLOW_TASK_NAME": ctx.config.name,
        "FLOW_NUM_INSTANCES": str(ctx.config.num_instances),
        "FLOW_WORKSPACE": ctx.config.working_dir,
        **ctx.extra_env,
        **ctx.config.env,
    }
    lines = [f"export {key}={_q(value)}" for key, value in env.items()]
    return "# environment (values are never echoed)\n" + "\n".join(lines) + "\n"


def node_env_script(nodes: MultiNode) -> str:
    """The multi-node contract as a sourceable bash snippet: every provider gives each node
    these variables, so ``torchrun`` (which also reads ``PET_*``) works unchanged."""
    return f"""# flowlib multi-node environment (docs/multi-node.md)
export FLOW_NODE_RANK={nodes.node_rank}
export FLOW_NUM_NODES={nodes.num_nodes}
export FLOW_MAIN_IP={nodes.main_ip}
export FLOW_GPUS_PER_NODE={nodes.gpus_per_node}
export NODE_RANK="$FLOW_NODE_RANK" MASTER_ADDR="$FLOW_MAIN_IP" MASTER_PORT={nodes.master_port}
export WORLD_SIZE=$(( FLOW_NUM_NODES * (FLOW_GPUS_PER_NODE > 0 ? FLOW_GPUS_PER_NODE : 1) ))
export PET_NNODES="$FLOW_NUM_NODES" PET_NODE_RANK="$FLOW_NODE_RANK"
export PET_MASTER_ADDR="$MASTER_ADDR" PET_MASTER_PORT="$MASTER_PORT"
export PET_NPROC_PER_NODE=$(( FLOW_GPUS_PER_NODE > 0 ? FLOW_GPUS_PER_NODE : 1 ))
"""


def section_multi_node(ctx: ScriptContext) -> str:
    if ctx.multi_node is None:
        return ""
    path = f'"$FLOW_ROOT/{NODE_ENV_FILE}"'
    out = f"cat > {path} <<'FLOW_NODE_ENV'\n{node_env_script(ctx.multi_node)}FLOW_NODE_ENV\n"
    if ctx.multi_node.launcher is None:
        out += f". {path}\n"
    return out


# One line of `tar -tv --quoting-style=c --numeric-owner` per member: type, mode, owner, size,
# date, "name", then -> "target" (symlink) or link to "target" (hard link). Prints the first
# problem, in words, or nothing.
_TAR_CHECK = r"""function up(path, depth,  n, p, k) {
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
"""


def section_code(ctx: ScriptContext) -> str:
    if ctx.code is None and not ctx.code_at_path:
        return ""
    workdir = f'"$FLOW_ROOT"{_q(ctx.config.working_dir)}'
    parts = ["# code upload"]
    if ctx.code is not None:
        encoded = base64.encodebytes(ctx.code).decode("ascii")
        parts.append(f"base64 -d > \"$FLOW_ROOT/{CODE_ARCHIVE}\" <<'FLOW_CODE'\n{encoded}FLOW_CODE")
    sha = ctx.code_sha256 or (hashlib.sha256(ctx.code).hexdigest() if ctx.code else None)
    archive = f'"$FLOW_ROOT/{CODE_ARCHIVE}"'
    parts.append(f'[ -f {archive} ] || flow_fail "code archive is missing"')
    if sha:
        parts.append(
            f"printf '%s  %s\\n' {sha} {archive} | sha256sum -c --status - "
            '|| flow_fail "code archive is corrupt (checksum mismatch)"'
        )
    parts.append(
        # The rules of packaging.extract_archive, checked on the listing before anything is
        # extracted: names C-quoted (a name cannot fake the ' -> ' of a link), owners numeric
        # (an owner name cannot hold a quote), absolute names shown as stored (-P).
        f'tar --quoting-style=c --numeric-owner -tvzPf {archive} > "$FLOW_LIB/code.list" '
        '|| flow_fail "code archive is unreadable"\n'
        f'flow_unsafe=$(awk {_q(_TAR_CHECK)} "$FLOW_LIB/code.list")\n'
        '[ -z "$flow_unsafe" ] || flow_fail "$flow_unsafe"\n'
        f"mkdir -p {workdir}\n"
        f"tar -xzf {archive} -C {workdir} --no-same-owner --no-same-permissions "
        '|| flow_fail "cannot extract the code archive"'
    )
    return "\n".join(parts) + "\n"


def section_workdir(ctx: ScriptContext) -> str:
    workdir = f'"$FLOW_ROOT"{_q(ctx.config.working_dir)}'
    return f"mkdir -p {workdir}\ncd {workdir}\n"


def _workload_argv(ctx: ScriptContext) -> str:
    """The workload as a bash word list (already quoted)."""
    cfg = ctx.config
    if cfg.command is not None:
        argv = shlex.join(cfg.command)
    elif cfg.shell is not None:
        argv = f"bash -c {_q(cfg.shell)}"
    else:
        argv = (
            '"$FLOW_LIB/workload"'
            if (cfg.script or "").startswith("#!")
            else ('bash "$FLOW_LIB/workload"')
        )
    if ctx.docker and cfg.image:
        envs = " ".join(f"-e {_q(k)}" for k in {**ctx.extra_env, **cfg.env})
        mount = f'-v "$PWD":{_q(cfg.working_dir)} -w {_q(cfg.working_dir)}'
        gpus = "--gpus all " if cfg.instance_type or cfg.min_gpu_memory_gb else ""
        if cfg.script is not None:
            mount += ' -v "$FLOW_LIB/workload":/flow-workload:ro'
            argv = argv.replace('"$FLOW_LIB/workload"', "/flow-workload")
        argv = f"docker run --rm {gpus}{envs} {mount} {_q(cfg.image)} {argv}".replace("  ", " ")
    return argv


def section_script_file(ctx: ScriptContext) -> str:
    if ctx.config.script is None:
        return ""
    encoded = base64.b64encode(ctx.config.script.encode("utf-8")).decode("ascii")
    return (
        f"printf '%s' {_q(encoded)} | base64 -d > \"$FLOW_LIB/workload\"\n"
        'chmod +x "$FLOW_LIB/workload"\n'
    )


def _launcher(ctx: ScriptContext) -> str:
    """The per-node launcher, sourcing ``node-env.sh`` on each node before the workload."""
    nodes = ctx.multi_node
    if nodes is None or nodes.launcher is None:
        return ""
    env_file = f"$FLOW_ROOT/{NODE_ENV_FILE}"
    return f'{nodes.launcher} bash -c \'. "$1"; shift; exec "$@"\' flow-node "{env_file}" '


def section_workload(ctx: ScriptContext) -> str:
    grace = max(1, ctx.config.stop_grace_s)  # timeout's --kill-after=0 would never kill
    hours = ctx.config.max_run_time_hours
    limit = max(1, round(hours * 3600)) if hours is not None else 0
    timer = ""
    if hours is not None:
        # The time limit's notice comes `grace` seconds before it (in the second half of the
        # run at the earliest: a short limit is not all grace); timeout is the backstop.
        reason = _q(f"time limit: max_run_time_hours={hours:g} reached")
        timer = (
            "( trap 'kill \"$s\" 2>/dev/null; exit 0' TERM; "
            f'sleep {max(limit - grace, limit / 2):g} & s=$!; wait "$s"; flow_stop {reason} ) &\n'
            "FLOW_TIMER=$!\n"
        )
    workload = _workload_argv(ctx)
    if ctx.config.command is not None and not ctx.docker and not _launcher(ctx):
        workload = f"bash -c {_q(workload)}"  # a shell builtin (`exit 3`) still works
    # The workload's own status goes to a file from inside timeout: bash's `wait`, interrupted
    # by the stop notice's SIGTERM, can lose it (a workload that saved and exited 0 read as 143).
    keep = '\'trap : TERM; f=$1; shift; "$@"; rc=$?; echo "$rc" > "$f"; exit "$rc"\''
    return f"""# the workload, under its time limit; its output goes to task.log
date +%s > "$FLOW_RUN/started"
set +e
rm -f "$FLOW_RUN/workload_rc"
timeout --kill-after={grace} {limit} bash -c {keep} flow-workload "$FLOW_RUN/workload_rc" \\
  {_launcher(ctx)}{workload} >> "$FLOW_LOGS/task.log" 2>&1 < /dev/null &
FLOW_PID=$!
{timer}wait "$FLOW_PID"
FLOW_RC=$?
while kill -0 "$FLOW_PID" 2>/dev/null; do wait "$FLOW_PID"; FLOW_RC=$?; done
# A signal interrupts `wait` (143); once the workload is gone, bash still has its real status.
wait "$FLOW_PID" 2>/dev/null; FLOW_WAIT=$?; [ "$FLOW_WAIT" -eq 127 ] || FLOW_RC=$FLOW_WAIT
# timeout's own 124 (the backstop) stands; otherwise the status the workload itself ended with.
if [ "$FLOW_RC" -ne {EXIT_TIMEOUT} ] && [ -s "$FLOW_RUN/workload_rc" ]; then
  FLOW_RC=$(cat "$FLOW_RUN/workload_rc")
fi
FLOW_PID=
[ -z "${{FLOW_TIMER:-}}" ] || kill "$FLOW_TIMER" 2>/dev/null || true
case "$(head -n 1 "$FLOW_STOP_FILE" 2>/dev/null)" in "time limit"*) FLOW_RC={EXIT_TIMEOUT} ;; esac
set -e
"""


def section_data(ctx: ScriptContext) -> str:
    volumes = volumes_section(ctx.volume_mounts, ctx.volume_wait_s)
    return volumes + data_section(ctx.config, ctx.data_links)


def section_outputs(ctx: ScriptContext) -> str:
    return volumes_sync_section(ctx.volume_mounts) + outputs_section(ctx.config)


def section_exit(ctx: ScriptContext) -> str:
    hours = ctx.config.max_run_time_hours
    note = ""
    if hours is not None:
        note = (
            f'if [ "$FLOW_RC" -eq {EXIT_TIMEOUT} ]; then\n'
            f"  printf '%s\\n' {_q(f'stopped: max_run_time_hours={hours:g} reached')} "
            '>> "$FLOW_RUN/message"\nfi\n'
        )
    return f'{note}flow_finish "$FLOW_RC"\n'


def section_results_start(ctx: ScriptContext) -> str:
    """A results location: stream the log and metric lines there (core._results_script)."""
    return results_start(ctx.task_id, ctx.config)


def section_results_end(ctx: ScriptContext) -> str:
    """A results location: the last uploads, before the machine may be released."""
    return results_end(ctx.config)


def section_release(ctx: ScriptContext) -> str:
    if not (ctx.config.auto_terminate and ctx.release_command):
        return 'exit "$FLOW_RC"\n'
    return f'# self-release: stop billing\n{ctx.release_command} || true\nexit "$FLOW_RC"\n'


Section = Callable[[ScriptContext], str]
SECTIONS: Sequence[Section] = (
    section_header,
    section_env,
    section_multi_node,
    section_results_start,
    section_code,
    section_data,
    section_workdir,
    section_script_file,
    section_workload,
    section_outputs,
    section_exit,
    section_results_end,
    section_release,
)


def build_script(ctx: ScriptContext, sections: Sequence[Section] = SECTIONS) -> str:
    """Join the sections in order into one script."""
    return "".join(s(ctx) for s in sections)


def fit_script(script: str, limit: int | None) -> str:
    """Return ``script`` if it fits ``limit`` characters, else a compressed bootstrap that
    checks its hash and runs it. Raises :class:`ValidationError` if even that is too large."""
    if limit is None or len(script) <= limit:
        return script
    raw = script.encode("utf-8")
    packed = base64.b64encode(gzip.compress(raw, compresslevel=9, mtime=0)).decode("ascii")
    sha = hashlib.sha256(raw).hexdigest()
    boot = (
        "#!/bin/bash\n"
        "# flowlib bootstrap: the real startup script, gzip+base64, checked by sha256\n"
        "set -euo pipefail\n"
        "umask 077\n"  # the unpacked script holds the task's env
        'FLOW_BOOT="${FLOW_ROOT:-}/var/lib/flow"\n'
        'mkdir -p "$FLOW_BOOT"\n'
        f"printf '%s' '{packed}' | base64 -d | gunzip > \"$FLOW_BOOT/startup.sh\"\n"
        f"printf '%s  %s\\n' {sha} \"$FLOW_BOOT/startup.sh\" | sha256sum -c --status -\n"
        'exec bash "$FLOW_BOOT/startup.sh"\n'
    )
    if len(boot) > limit:
        raise PackagingError(
            f"the startup script is {len(script):,} characters ({len(boot):,} compressed); "
            f"the provider accepts {limit:,}",
            suggestions=[
                "add a .flowignore to shrink the code upload",
                "use upload_code=False and fetch code in the command (git clone, a volume)",
            ],
            script_chars=len(script),
            limit=limit,
        )
    return boot
