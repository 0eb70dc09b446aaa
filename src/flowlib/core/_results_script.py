"""The startup-script side of a results location (``TaskConfig.results``, docs/keeper.md).

Rendered into the script by :mod:`flowlib.core.startup` (``section_results_start`` right after
the environment, ``section_results_end`` after the exit code is written and before the machine
releases itself). Nothing of flowlib needs to be installed on the machine: a small embedded
program (``flow_results.py``) runs with ``$FLOW_PYTHON`` (default ``python3``) and fsspec (s3fs
for ``s3://``, pip-installed for the user when missing). What it writes under
``<results>/<task id>/`` (node ``r`` > 0 of a multi-node task under ``node-<r>/``)::

    task.log        the workload's output, uploaded again whenever it grew (every
                    ``FLOW_RESULTS_EVERY`` seconds, default 5), and once more when it ends or
                    the script is stopped (a preempted task keeps its log up to then)
    metrics.jsonl   the log's metric and checkpoint lines (flowlib.metrics), the same way
    message         why the script failed, when it did
    files/...       what remote Python calls left in ``<working_dir>/.flow-remote``
    exit_code       ``<code> <stopped>``, written last: its presence means the rest is there

Credentials are the machine's own (an instance role, the task's ``env``, a local task's
environment): the program never prints them, nor any URL with them; an upload that fails is
retried and then reported by its exception's type only.
"""

from __future__ import annotations

import shlex

from flowlib.core._results_location import task_results_url
from flowlib.core.cloud import RESULTS_DIR
from flowlib.models import TaskConfig

__all__ = ["EXIT_READ", "RESULTS_DONE", "results_end", "results_start", "task_results_url"]

RESULTS_DONE = "var/run/flow/results.done"  # the exit code reached the results location
EXIT_READ = "var/run/flow/exit_code.read"  # a client read (and kept) the exit code

FLOW_RESULTS_PY = r"""import os, signal, sys, time
import fsspec
base = os.environ["FLOW_RESULTS_URL"].rstrip("/")
rank = os.environ.get("FLOW_NODE_RANK", "0") or "0"
if rank != "0":
    base += "/node-" + rank
opts = {}
if base.startswith("s3://") and os.environ.get("FLOW_S3_ENDPOINT_URL"):
    opts["endpoint_url"] = os.environ["FLOW_S3_ENDPOINT_URL"]
if base.startswith("file://"):
    opts["auto_mkdir"] = True
fs, root = fsspec.core.url_to_fs(base, **opts)
def put(name, data):
    err = None
    for i in range(4):
        try:
            fs.pipe_file(root + "/" + name, data)
            return True
        except Exception as e:
            err = e
            time.sleep(2 ** i)
    print("flow_results: cannot write %s (%s)" % (name, type(err).__name__), file=sys.stderr)
    return False
def read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None
def logs(path):
    data = read(path) or b""
    marks = (b'"__flow__"', b'"__mlflare__"')
    lines = b"".join(l for l in data.splitlines(True) if any(m in l for m in marks))
    return put("task.log", data) & put("metrics.jsonl", lines)
op = sys.argv[1]
if op == "stream":
    log, stop = sys.argv[2], sys.argv[3]
    every = float(os.environ.get("FLOW_RESULTS_EVERY", "5"))
    stopped = []
    signal.signal(signal.SIGTERM, lambda *_: stopped.append(1))
    seen = None
    while True:
        done = stopped or os.path.exists(stop)
        try:
            st = os.stat(log)
            now = (st.st_size, st.st_mtime_ns)
        except OSError:
            now = None
        if now != seen and now is not None:
            seen = now if logs(log) else None
        if done:
            break
        for _ in range(int(every * 10)):
            if stopped or os.path.exists(stop):
                break
            time.sleep(0.1)
elif op == "finish":
    run, log, files = sys.argv[2], sys.argv[3], sys.argv[4]
    ok = logs(log)
    message = read(os.path.join(run, "message"))
    if message:
        ok &= put("message", message)
    for d, _, names in os.walk(files):
        for n in names:
            p = os.path.join(d, n)
            ok &= put("files/" + os.path.relpath(p, files), read(p) or b"")
    code = (read(os.path.join(run, "exit_code")) or b"").strip().decode() or "1"
    stop = int(os.path.exists(os.path.join(run, "stop_requested")))
    ok &= put("exit_code", ("%s %d\n" % (code, stop)).encode())
    sys.exit(0 if ok else 1)
"""

_START = """\
# results location (docs/keeper.md): the log and metric lines stream there while the task runs
export FLOW_RESULTS_URL=%(url)s
cat > "$FLOW_LIB/flow_results.py" <<'FLOW_RESULTS_PY'
%(program)sFLOW_RESULTS_PY
flow_results() { "${FLOW_PYTHON:-python3}" "$FLOW_LIB/flow_results.py" "$@"; }
if ! flow_results check 2>/dev/null; then
  "${FLOW_PYTHON:-python3}" -m pip install -q --user %(packages)s >&2 ||
    "${FLOW_PYTHON:-python3}" -m pip install -q --user --break-system-packages %(packages)s >&2 ||
    true
fi
FLOW_RESULTS_PID=
if flow_results check 2>/dev/null; then
  flow_results stream "$FLOW_LOGS/task.log" "$FLOW_RUN/results.stop" &
  FLOW_RESULTS_PID=$!
else
  flow_log "results: cannot reach the results location (no fsspec, or refused); not streaming"
fi
flow_results_end() {  # once: a last upload of the log, then message, files and the exit code
  [ -n "$FLOW_RESULTS_PID" ] || return 0
  touch "$FLOW_RUN/results.stop"
  wait "$FLOW_RESULTS_PID" 2>/dev/null || true
  FLOW_RESULTS_PID=
  if flow_results finish "$FLOW_RUN" "$FLOW_LOGS/task.log" %(files)s; then
    touch "$FLOW_ROOT/%(done)s"
    flow_log "results: log, metrics and exit code kept at the results location"
  fi
}
trap 'flow_on_exit; flow_results_end' EXIT
"""


def results_start(task_id: str, config: TaskConfig) -> str:
    """Start streaming to the task's results location (nothing when it has none)."""
    if not config.results:
        return ""
    files = f'"$FLOW_ROOT"{shlex.quote(config.working_dir.rstrip("/") + "/" + RESULTS_DIR)}'
    packages = "'s3fs>=2024.2'" if config.results.startswith("s3://") else "'fsspec>=2024.2'"
    return _START % {
        "url": shlex.quote(task_results_url(config.results, task_id)),
        "program": FLOW_RESULTS_PY,
        "packages": packages,
        "files": files,
        "done": RESULTS_DONE,
    }


def results_end(config: TaskConfig) -> str:
    """After the exit code is written, before the release: the final uploads."""
    return "flow_results_end\n" if config.results else ""
