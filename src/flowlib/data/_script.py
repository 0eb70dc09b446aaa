"""The startup-script side of data: stage sources before the workload, sync outputs after it.

Rendered into the script by :mod:`flowlib.core.startup` (``section_data``, ``section_outputs``).
Nothing of flowlib needs to be installed on the machine. S3 transfers use, in this order:

1. ``$FLOW_PYTHON`` (default ``python3``) with s3fs importable: a small embedded program
   (``flow_s3.py``) that lists once and transfers files concurrently;
2. the ``aws`` CLI (``aws s3 sync`` / ``aws s3 cp``);
3. s3fs installed for the user with pip, then 1.

``FLOW_DATA_TOOL=python|aws`` forces one. Every transfer is retried ``FLOW_SYNC_ATTEMPTS``
times (default 4), waiting 1, 2, 4... seconds in between. A source that cannot be staged fails
the task before the workload starts; an output that cannot be synced is written to the task's
message and a workload that exited 0 then counts as failed.
"""

from __future__ import annotations

import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from flowlib.models import TaskConfig

__all__ = [
    "VOLUME_DEVICES",
    "WRITE_VOLUME_DEVICES",
    "VolumeMount",
    "data_section",
    "outputs_section",
    "volume_devices_file",
    "volumes_section",
    "volumes_sync_section",
]

# Runs on the machine with whatever python3 it has: keep it small and dependency-free besides
# fsspec/s3fs. `get URL DIR` copies an object or a prefix ("/"-terminated) into DIR;
# `put DIR URL` copies DIR's files under the prefix URL.
FLOW_S3_PY = r"""import os, sys
import fsspec
op, src, dst = sys.argv[1:4]
ep = os.environ.get("FLOW_S3_ENDPOINT_URL")
fs = fsspec.filesystem("s3", skip_instance_cache=True, **({"endpoint_url": ep} if ep else {}))
def bare(url):
    return url.split("://", 1)[1]
if op == "get":
    if src.endswith("/"):
        base = bare(src).rstrip("/")
        rs = [p for p in fs.find(base) if not p.endswith("/")]
        rels = [p[len(base) + 1:] for p in rs]
    else:
        rs = [bare(src)]
        rels = [os.path.basename(rs[0])]
    for rel in rels:
        if rel.startswith("/") or ".." in rel.split("/"):
            sys.exit("refusing to write %r outside %s" % (rel, dst))
    ls = [os.path.join(dst, rel) for rel in rels]
    for p in ls:
        os.makedirs(os.path.dirname(p), exist_ok=True)
    if rs:
        fs.get(rs, ls)
else:
    base = bare(dst).rstrip("/")
    ls = [os.path.join(d, n) for d, _, names in os.walk(src) for n in names]
    rs = [base + "/" + os.path.relpath(p, src) for p in ls]
    if ls:
        fs.put(ls, rs)
print("flow_s3: %s %d file(s)" % (op, len(ls)), file=sys.stderr)
"""

_HELPERS = """\
# data transfer helpers (docs/data.md)
FLOW_PY="${FLOW_PYTHON:-python3}"
FLOW_DATA_CACHE="${FLOW_DATA_CACHE:-$FLOW_ROOT/var/cache/flow/data}"
cat > "$FLOW_LIB/flow_s3.py" <<'FLOW_S3_PY'
"""
_HELPERS_TAIL = """\
FLOW_S3_PY
flow_s3_tool() {
  if [ -n "${FLOW_DATA_TOOL:-}" ]; then echo "$FLOW_DATA_TOOL"
  elif "$FLOW_PY" -c 'import s3fs' 2>/dev/null; then echo python
  elif command -v aws >/dev/null 2>&1; then echo aws
  elif "$FLOW_PY" -m pip install -q --user 's3fs>=2024.2' >&2 ||
    "$FLOW_PY" -m pip install -q --user --break-system-packages 's3fs>=2024.2' >&2; then
    echo python
  else echo none
  fi
}
flow_s3() {  # flow_s3 get URL DIR | flow_s3 put DIR URL
  FLOW_S3_TOOL="${FLOW_S3_TOOL:-$(flow_s3_tool)}"
  case "$FLOW_S3_TOOL" in
    python) "$FLOW_PY" "$FLOW_LIB/flow_s3.py" "$@" ;;
    aws)
      local ep=()
      [ -z "${FLOW_S3_ENDPOINT_URL:-}" ] || ep=(--endpoint-url "$FLOW_S3_ENDPOINT_URL")
      if [ "$1" = get ] && [ "${2%/}" = "$2" ]; then
        aws "${ep[@]}" s3 cp --only-show-errors "$2" "$3/"
      elif [ "$1" = get ]; then
        aws "${ep[@]}" s3 sync --only-show-errors "$2" "$3"
      else
        aws "${ep[@]}" s3 sync --only-show-errors "$2" "$3"
      fi ;;
    *) flow_log "no way to reach S3 here: no s3fs for $FLOW_PY, no aws CLI, pip failed"
       return 1 ;;
  esac
}
flow_retry() {  # flow_retry CMD...: up to FLOW_SYNC_ATTEMPTS tries, backing off 1, 2, 4... s
  local n=1 max="${FLOW_SYNC_ATTEMPTS:-4}" delay=1
  until "$@"; do
    if [ "$n" -ge "$max" ]; then return 1; fi
    flow_log "attempt $n of $max failed; again in ${delay}s"
    sleep "$delay"
    n=$((n + 1))
    delay=$((delay * 2))
  done
}
flow_readonly() { find "$1" -type f -exec chmod a-w {} +; }
flow_stage() {  # flow_stage URL TARGET READ_ONLY CACHE_KEY
  local target="$FLOW_ROOT$2" dest tmp
  if [ -n "$4" ]; then
    dest="$FLOW_DATA_CACHE/$4"
    if [ -d "$dest" ]; then
      flow_log "data: $2 from the cache ($4)"
    else
      tmp="$dest.partial.$$"
      rm -rf "$tmp"
      mkdir -p "$tmp"
      flow_retry flow_s3 get "$1" "$tmp" || { rm -rf "$tmp"; return 1; }
      flow_readonly "$tmp"
      mv -T "$tmp" "$dest" 2>/dev/null || rm -rf "$tmp"
    fi
    mkdir -p "$(dirname "$target")"
    ln -sfnT "$dest" "$target"
  else
    mkdir -p "$target"
    flow_retry flow_s3 get "$1" "$target" || return 1
    if [ "$3" = 1 ]; then flow_readonly "$target"; fi
  fi
  flow_log "data: $1 staged at $2 (with ${FLOW_S3_TOOL:-the cache})"
}
flow_output() {  # flow_output DIR URL: sync a directory back, after the workload
  local src="$FLOW_ROOT$1"
  if [ ! -d "$src" ]; then
    if [ "$FLOW_RC" -eq 0 ]; then
      printf 'outputs: %s was removed by the workload; nothing was synced to %s\\n' "$1" "$2" \\
        >> "$FLOW_RUN/message"
    fi
    return 0
  fi
  if flow_retry flow_s3 put "$src" "$2"; then
    flow_log "outputs: $1 synced to $2 (with $FLOW_S3_TOOL)"
  else
    printf 'outputs: syncing %s to %s failed after %s attempts (see the startup log)\\n' \\
      "$1" "$2" "${FLOW_SYNC_ATTEMPTS:-4}" >> "$FLOW_RUN/message"
    if [ "$FLOW_RC" -eq 0 ]; then FLOW_RC=1; fi
  fi
}
"""
_HELPERS = _HELPERS + FLOW_S3_PY + _HELPERS_TAIL


def _q(value: str) -> str:
    return shlex.quote(value)


def data_section(config: TaskConfig, links: Mapping[str, str]) -> str:
    """Stage S3 sources and link volumes and bind sources into place, before the workload.

    ``links``: mount path -> a directory on the machine the provider made available (the local
    provider's volume directories, bind sources on this machine). A bind mount not in ``links``
    is a path on the machine, under ``$FLOW_ROOT``.
    """
    s3_mounts = [m for m in config.data_mounts if m.mount_type == "s3fs"]
    binds = [m for m in config.data_mounts if m.mount_type == "bind"]
    if not (s3_mounts or binds or links or config.outputs):
        return ""
    lines = [_HELPERS] if (s3_mounts or config.outputs) else []
    if binds or links:
        lines.append(_LINK)
    for target, source in links.items():
        lines.append(f"flow_link {_q(source)} {_q(target)}\n")
    for mount in binds:
        if mount.target not in links:
            lines.append(f'flow_link "$FLOW_ROOT"{_q(mount.source)} {_q(mount.target)}\n')
    for path in config.outputs:
        lines.append(f'mkdir -p "$FLOW_ROOT"{_q(path)}\n')
    for mount in s3_mounts:
        read_only = "1" if mount.read_only else "0"
        failed = _q(f"staging {mount.source} at {mount.target} failed (see the startup log)")
        lines.append(
            f"flow_stage {_q(mount.source)} {_q(mount.target)} {read_only} "
            f"{_q(mount.cache_key or '')} || flow_fail {failed}\n"
        )
    return "".join(lines)


_LINK = """\
# data mounts: volumes and directories of this machine, linked into place
flow_link() {  # flow_link SOURCE TARGET: SOURCE (a directory on this machine) appears at TARGET
  [ -e "$1" ] || flow_fail "data: $1 (for $2) does not exist on this machine"
  mkdir -p "$(dirname "$FLOW_ROOT$2")"
  ln -sfnT "$1" "$FLOW_ROOT$2"
}
"""


def outputs_section(config: TaskConfig) -> str:
    """After the workload, whatever its exit code (a time limit and a cancel included): sync
    each output directory to its URL before the exit code is written and the machine released."""
    if not config.outputs:
        return ""
    lines = ["# outputs: synced back before the machine is released (docs/data.md)\n"]
    for path, url in config.outputs.items():
        lines.append(f"flow_output {_q(path)} {_q(url.rstrip('/') + '/')}\n")
    return "".join(lines)


# -- volumes: block devices a provider attaches, formatted when blank, mounted at their paths --
VOLUME_DEVICES = "var/lib/flow/volumes.devices"  # "<index> <device>" lines, written by a provider
VOLUME_WAIT_S = 1800


@dataclass(frozen=True)
class VolumeMount:
    """A volume the machine gets as a block device, to mount at ``mount_path``.

    ``device`` is the device when the provider knows it as the script is written (``/dev/vdb``);
    None when it learns it only later (Hyperstack attaches volumes after the VM boots): the
    provider then writes ``<index> <device>`` lines to ``$FLOW_ROOT/var/lib/flow/volumes.devices``
    (:func:`volume_devices_file` piped into :data:`WRITE_VOLUME_DEVICES` on the machine) and the
    script waits for its line.
    """

    name: str  # for messages only
    mount_path: str
    device: str | None = None


def volume_devices_file(devices: Sequence[str]) -> str:
    """The text of ``volumes.devices`` for ``devices`` (in the order of the task's mounts)."""
    return "".join(f"{index} {device}\n" for index, device in enumerate(devices))


# Run over the remote-host seam with volume_devices_file(...) on stdin: writes the file
# atomically (with sudo when the login user is not root on a real machine).
WRITE_VOLUME_DEVICES = (
    'S=""; if [ -z "${FLOW_ROOT:-}" ] && [ "$(id -u)" != 0 ]; then S="sudo -n"; fi; '
    f'f="${{FLOW_ROOT:-}}/{VOLUME_DEVICES}"; $S mkdir -p "${{f%/*}}" && '
    '$S tee "$f.tmp" > /dev/null && $S mv -f "$f.tmp" "$f"'
)


_VOLUME = """\
# volumes: each waits for its block device, is formatted ext4 only when blank, and is mounted
flow_volume() {  # flow_volume INDEX NAME MOUNT_PATH [DEVICE]
  local dev="${4:-}" target="$FLOW_ROOT$3" waited=0 rc=0
  while [ -z "$dev" ]; do
    dev=$(awk -v i="$1" '$1 == i { print $2 }' "$FLOW_ROOT/%(devices)s" 2>/dev/null || true)
    [ -n "$dev" ] && break
    [ "$waited" -ge %(wait)d ] && flow_fail "volume $2 (for $3) was not attached within \\
%(wait)d s: the provider attaches it once the machine is up and flowlib polls the task"
    sleep 1; waited=$((waited + 1))
  done
  while [ ! -e "$FLOW_ROOT$dev" ]; do
    [ "$waited" -ge %(wait)d ] && flow_fail "volume $2: $dev did not appear within %(wait)d s"
    sleep 1; waited=$((waited + 1))
  done
  blkid "$FLOW_ROOT$dev" > /dev/null 2>&1 || rc=$?
  if [ "$rc" -eq 2 ]; then  # blkid found nothing: a new, blank volume
    flow_log "volume $2: $dev is blank; formatting it ext4"
    mkfs.ext4 -q "$FLOW_ROOT$dev" < /dev/null || flow_fail "volume $2: formatting $dev failed"
  elif [ "$rc" -ne 0 ]; then
    flow_fail "volume $2: cannot probe $dev for a filesystem (blkid exit $rc)"
  fi
  mkdir -p "$target"
  if ! mountpoint -q "$target"; then
    mount "$FLOW_ROOT$dev" "$target" || flow_fail "volume $2: cannot mount $dev at $3"
  fi
  flow_log "volume $2: $dev mounted at $3"
}
"""


def volumes_section(mounts: Sequence[VolumeMount], wait_s: int = VOLUME_WAIT_S) -> str:
    """Mount each volume before the data is staged (a bounded wait for each device; a blank
    device is formatted ext4, one with a filesystem is mounted as it is, so data persists)."""
    if not mounts:
        return ""
    lines = [_VOLUME % {"devices": VOLUME_DEVICES, "wait": int(wait_s)}]
    for index, mount in enumerate(mounts):
        device = f" {_q(mount.device)}" if mount.device else ""
        lines.append(f"flow_volume {index} {_q(mount.name)} {_q(mount.mount_path)}{device}\n")
    return "".join(lines)


def volumes_sync_section(mounts: Sequence[VolumeMount]) -> str:
    """After the workload: flush what it wrote to the volumes before the machine may go."""
    if not mounts:
        return ""
    paths = " ".join(f'"$FLOW_ROOT"{_q(m.mount_path)}' for m in mounts)
    return f"sync -f {paths} 2> /dev/null || sync  # volumes: written data reaches the disks\n"
