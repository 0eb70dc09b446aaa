"""The machine's side of emulated volumes (Hyperstack, FCP): disks that are directories.

A real volume is a block device: attached to a VM it appears as ``/dev/vdb`` (``/dev/vdc``...),
the startup script formats it when blank and mounts it. Sandboxed VMs have no block devices and
no root, so the emulator models just what a script can observe::

    <workdir>/volumes/<volume id>/          the volume's disk (kept until the volume is deleted)
        .flowlib-volume                     marks the directory as an emulated disk
        fstype                              "ext4" once mkfs.ext4 ran (no file: blank)
        data/                               the filesystem's contents
    <sandbox root>/dev/vdX -> <the disk>    while attached (a symlink; removed on detach); FCP:
                                            dev/disk/by-id/virtio-<volume FID> (its serial)
    <workdir>/volume-tools/                 first on the PATH of every VM's scripts:
        blkid, mkfs.ext4, mount, mountpoint stand-ins that act on those directories

``mount DEV DIR`` replaces the empty directory ``DIR`` by a symlink to the disk's ``data/``, so
the production script (and the workload) read and write the volume at its mount path, and what
they wrote is there again when the volume is attached to another VM. The tools refuse anything
that is not an emulated disk. Not modelled: sizes (a volume holds what the host's disk holds),
partition tables, read-only mounts, a filesystem left dirty by a VM that was deleted.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

__all__ = ["MARKER", "VolumeDisks"]

MARKER = ".flowlib-volume"

# Each tool takes the device or mount path as its last argument, as the real ones may.
_HEADER = """#!/bin/bash
# flowlib emulator stand-in (docs/emulators.md): emulated volumes are directories
set -u
last="${*: -1}"
"""
_DISK = """\
disk() {  # the emulated disk behind a device path, or exit with the real tool's code
  local d
  d=$(readlink -f -- "$1" 2> /dev/null) || d=""
  if [ -z "$d" ] || [ ! -f "$d/%(marker)s" ]; then
    echo "$(basename "$0") (emulated): $1 is not an emulated volume" >&2
    exit "$2"
  fi
  printf '%%s\\n' "$d"
}
"""
TOOLS = {
    "blkid": """d=$(disk "$last" 8) || exit 8
[ -s "$d/fstype" ] || exit 2
printf '%s: UUID="%s" TYPE="%s"\\n' "$last" "$(basename "$d")" "$(cat "$d/fstype")"
""",
    "mkfs.ext4": """d=$(disk "$last" 1) || exit 1
rm -rf "$d/data" && mkdir "$d/data" && printf 'ext4\\n' > "$d/fstype"
""",
    "mount": """[ "$#" -ge 2 ] || { echo "mount (emulated): usage: mount DEVICE DIR" >&2; exit 1; }
dev="${*: -2:1}"
d=$(disk "$dev" 32) || exit 32
if [ ! -s "$d/fstype" ]; then
  echo "mount: $last: wrong fs type, bad option, bad superblock on $dev" >&2; exit 32
fi
if [ -L "$last" ]; then echo "mount: $last: $dev already mounted" >&2; exit 32; fi
if [ ! -d "$last" ]; then echo "mount: $last: mount point does not exist" >&2; exit 32; fi
rmdir -- "$last" 2> /dev/null || {
  echo "mount (emulated): $last is not empty; the emulator cannot hide its files" >&2; exit 32
}
ln -s "$d/data" "$last"
""",
    "mountpoint": """target=$(readlink -f -- "$last" 2> /dev/null) || exit 32
[ -L "$last" ] && [ -f "$(dirname "$target")/%(marker)s" ] && exit 0
[ "${1:-}" = -q ] || echo "$last is not a mountpoint"
exit 32
""",
}


class VolumeDisks:
    """The emulated disks of one emulator, under ``base`` (its workdir)."""

    def __init__(self, base: Path) -> None:
        self.root = base / "volumes"
        self.tools = base / "volume-tools"

    def install_tools(self) -> None:
        self.tools.mkdir(parents=True, exist_ok=True)
        for name, body in TOOLS.items():
            path = self.tools / name
            helper = _DISK if "disk " in body else ""
            text = (_HEADER + helper + body).replace("%(marker)s", MARKER).replace("%%", "%")
            path.write_text(text, encoding="utf-8")
            path.chmod(0o755)

    def path(self, volume_id: int | str) -> Path:
        return self.root / str(volume_id)

    def create(self, volume_id: int | str) -> None:
        disk = self.path(volume_id)
        disk.mkdir(parents=True, exist_ok=True)
        (disk / MARKER).touch()

    def delete(self, volume_id: int | str) -> None:
        shutil.rmtree(self.path(volume_id), ignore_errors=True)

    def attach(self, volume_id: int | str, machine: Path, device: str) -> None:
        """The disk appears at ``device`` (``/dev/vdb``) on the machine rooted at ``machine``."""
        link = machine / device.lstrip("/")
        link.parent.mkdir(parents=True, exist_ok=True)
        fresh = link.with_name(f".{link.name}.attaching")
        with contextlib.suppress(FileNotFoundError):
            fresh.unlink()
        os.symlink(self.path(volume_id), fresh)
        os.replace(fresh, link)  # atomic: a script probing the device never sees it missing

    def detach(self, machine: Path, device: str) -> None:
        with contextlib.suppress(FileNotFoundError):
            (machine / device.lstrip("/")).unlink()

    def path_env(self, inherited: str | None) -> str:
        """``PATH`` for a VM's scripts: the stand-in tools first."""
        return f"{self.tools}:{inherited or '/usr/local/bin:/usr/bin:/bin'}"
