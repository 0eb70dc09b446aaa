"""An emulated instance seen as a VM: its own disk at the absolute paths a real VM has.

A vendor's own tools address a VM by absolute paths: Mithril's startup script writes
``/var/log/flow/user-workload.log`` and ``/var/run/flow-startup.pid``, links
``/var/log/foundry/startup_script.log``, writes ``/etc/profile.d/uv.sh`` as root; its ``flow logs``
reads those files under ``sudo -n`` and asks ``docker`` for containers. An instance of the
emulators is a directory on this machine (its root, ``FLOW_ROOT``), so with ``vm_paths`` on, its
startup script and its sshd (hence every SSH session) run through ``<root>/etc/flow-vm``, which
enters a private mount namespace (``unshare --mount --propagation private``) where:

- ``/var``, ``/run``, ``/tmp``, ``/home`` and ``/etc/profile.d`` are the instance's own
  (``<root>/var`` ...), bound over the host's paths inside the namespace only;
- ``/etc/passwd`` has a ``ubuntu`` user with the emulator's uid (vendors log in as ``ubuntu``;
  sshd can let in only users it can find);
- every other mount of the host is read-only, so a write to a path a VM would own and this list
  does not (``mkdir /workspace``) fails with "Read-only file system" instead of landing on the
  host;
- the instance root stays reachable at its own path (``FLOW_ROOT`` scripts work unchanged), and
  so does the emulator's work directory around it (the disks of emulated volumes).

The instance's ``usr/local/bin`` comes first on ``PATH`` and holds emulator shims, small scripts
standing for what a VM has and this machine must not lend: ``sudo`` (runs its command: sessions
already are the instance's root; ``-n``, ``-E``, ``-H``, ``-u USER`` are accepted), ``docker`` (a
daemon with no containers: ``ps`` lists none, ``logs``/``inspect``/``exec`` answer "No such
container", the rest fails saying so; workloads here run on the host, the vendors' "host mode"),
and ``modprobe``, ``systemctl``, ``shutdown``/``reboot``/``poweroff``/``halt`` that refuse (an
emulated instance has no kernel or init of its own; the host's must not be driven from a test).

Needs root (CI runs as root) and ``unshare``; :func:`vm_paths_missing` says why not otherwise.
"""

from __future__ import annotations

import os
import shlex
import shutil
from pathlib import Path

from flowlib.core.files import write_private

__all__ = ["PRIVATE_DIRS", "VM_HOME", "prepare_vm", "shims_dir", "vm_command", "vm_paths_missing"]

# The VM's own directories, bound from the instance root (a host path missing here is left out:
# a mount point is never created on the host).
PRIVATE_DIRS = ("/var", "/run", "/tmp", "/home", "/etc/profile.d")
VM_HOME = "/home/ubuntu"
_SYSTEM_PATH = "/usr/sbin:/usr/bin:/sbin:/bin"

_ENTER = """#!/bin/bash
# flowlib emulator: run a command on this instance as on its VM (flowlib/testing/emulators/_vm.py):
# a private mount namespace with the instance's disk at the VM's paths; the host's stay as they are.
set -eu
if [ "${1:-}" != --inside ]; then
  exec %(unshare)s --mount --propagation private -- "$0" --inside "$@"
fi
shift
%(mounts)s
while read -r _ _ _ _ point _; do
  case "$point" in %(keep)s) continue ;; esac
  %(mount)s -o remount,bind,ro "$point" 2> /dev/null || true  # the rest of the host: read-only
done < /proc/self/mountinfo
exec "$@"
"""

_SUDO = """#!/bin/bash
# flowlib emulator shim (_vm.py): sessions already run as the instance's root, so sudo runs
# its command; its options have nothing to change here.
while [ "$#" -gt 0 ]; do
  case "$1" in
    -u|-g|-p|-C|-D|-h|-r|-t|-U|--user|--group|--prompt) shift 2 ;;
    --) shift; break ;;
    -*) shift ;;
    *) break ;;
  esac
done
[ "$#" -gt 0 ] || { echo "usage: sudo [-n] COMMAND [ARG...]" >&2; exit 1; }
exec "$@"
"""

_DOCKER = """#!/bin/bash
# flowlib emulator shim (_vm.py): this instance's docker daemon has no containers (workloads of
# emulated instances run on the host, the vendors' "host mode"); the host's docker stays out.
last=""
for arg in "$@"; do last=$arg; done
case "${1:-}" in
  ps)
    case " $* " in *" --format"*|*" -q "*|*" --quiet "*) ;;
      *) echo "CONTAINER ID   IMAGE     COMMAND   CREATED   STATUS    PORTS     NAMES" ;; esac
    exit 0 ;;
  logs|inspect|exec|stop|kill|rm|start|restart|wait|top|port)
    echo "Error response from daemon: No such container: $last" >&2; exit 1 ;;
  *)
    echo "docker (flowlib emulator): '${1:-}' is not available on an emulated instance" >&2
    exit 1 ;;
esac
"""

_REFUSE = """#!/bin/bash
# flowlib emulator shim (_vm.py): an emulated instance has no kernel or init of its own, and the
# host's are not driven from inside one.
echo "$(basename "$0") (flowlib emulator): not available on an emulated instance" >&2
exit 1
"""

_SHIMS = {
    "sudo": _SUDO,
    "docker": _DOCKER,
    **{
        name: _REFUSE
        for name in ("modprobe", "systemctl", "shutdown", "reboot", "poweroff", "halt")
    },
}


def _program(name: str) -> str | None:
    return shutil.which(name, path=_SYSTEM_PATH)


def vm_paths_missing() -> str | None:
    """Why instances cannot see their disk at a VM's paths here (None: they can)."""
    if os.geteuid() != 0:
        return "needs root: binding the instance's directories over /var, /tmp... takes it"
    for name in ("unshare", "mount"):
        if _program(name) is None:
            return f"no {name} (util-linux)"
    return None


def shims_dir(root: Path) -> Path:
    """Where the instance's emulator shims live (first on its ``PATH``)."""
    return root / "usr" / "local" / "bin"


def prepare_vm(root: Path, reachable: Path | None = None) -> Path:
    """Lay out ``root`` for :func:`vm_command` (idempotent); the entry script's path.
    ``reachable``: a directory above ``root`` that stays at its own path inside (the
    emulator's work directory: its volumes' disks), ``root`` itself by default."""
    missing = vm_paths_missing()
    if missing is not None:
        raise RuntimeError(f"vm_paths: {missing}")
    unshare, mount = _program("unshare"), _program("mount")
    assert unshare is not None and mount is not None
    private = [d for d in PRIVATE_DIRS if os.path.isdir(d)]
    for d in private:
        (root / d.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (root / "tmp").chmod(0o1777)
    var_run = root / "var" / "run"
    if not var_run.exists() and not var_run.is_symlink():
        var_run.parent.mkdir(parents=True, exist_ok=True)
        var_run.symlink_to("../run")  # as on a VM: /var/run -> /run
    (root / VM_HOME.lstrip("/")).mkdir(parents=True, exist_ok=True)
    (root / "run" / "sshd").mkdir(parents=True, exist_ok=True, mode=0o755)  # sshd's privsep dir
    passwd = root / "etc" / "passwd"
    passwd.write_text(_passwd(), encoding="utf-8")
    bins = shims_dir(root)
    bins.mkdir(parents=True, exist_ok=True)
    for name, text in _SHIMS.items():
        write_private(bins / name, text, mode=0o755)
    q = shlex.quote
    lines = []
    # The root is kept reachable at its own path when one of the VM's directories covers it (a
    # sandbox under /tmp): bound onto that path inside its covering directory first.
    kept = reachable or root
    inner = root / str(kept).lstrip("/")
    if any(str(kept).startswith(d + "/") for d in private):
        inner.mkdir(parents=True, exist_ok=True)
        lines.append(f"{mount} --bind {q(str(kept))} {q(str(inner))}")
    lines += [f"{mount} --rbind {q(str(root) + d)} {q(d)}" for d in private]
    lines.append(f"{mount} --bind {q(str(passwd))} /etc/passwd")
    keep = ["/proc", "/sys", "/dev", *private, "/etc/passwd", str(kept)]
    patterns = "|".join(f"{q(k)}|{q(k)}/*" for k in keep)
    enter = root / "etc" / "flow-vm"
    text = _ENTER % {
        "unshare": unshare,
        "mount": mount,
        "mounts": "\n".join(lines),
        "keep": patterns,
    }
    write_private(enter, text, mode=0o700)
    return enter


def vm_command(root: Path, argv: list[str]) -> list[str]:
    """``argv`` run inside the instance's VM view (after :func:`prepare_vm`)."""
    return [str(root / "etc" / "flow-vm"), *argv]


def _passwd() -> str:
    """This machine's users, and ``ubuntu`` (the emulator's uid) when it has none."""
    try:
        text = Path("/etc/passwd").read_text(encoding="utf-8")
    except OSError:
        text = ""
    if not text.endswith("\n") and text:
        text += "\n"
    if any(line.split(":", 1)[0] == "ubuntu" for line in text.splitlines()):
        return text
    uid, gid = os.getuid(), os.getgid()
    return text + f"ubuntu:x:{uid}:{gid}:flowlib emulator:{VM_HOME}:/bin/bash\n"
