"""Data mounts on the local provider: the task's "machine" is a sandbox directory on this one.

S3 sources are staged by the startup script into the sandbox (the same section a cloud VM
runs); volumes (directories under ``FLOW_HOME/volumes``) and bind sources (paths on this
machine) are linked into it. Staged copies with a ``cache_key`` are kept in
``FLOW_HOME/cache/data`` and shared by later local tasks.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from flowlib.core import procs as _procs
from flowlib.errors import CapacityError, ValidationError
from flowlib.models import TaskConfig
from flowlib.providers.local._volumes import LocalVolumes, check_name


def check(config: TaskConfig, volumes: LocalVolumes) -> None:
    """What only this machine can tell, before anything is looked up or created."""
    for spec in config.volumes:
        if spec.name and spec.volume_id is None and volumes.find(spec.name) is None:
            check_name(spec.name)
    for mount in config.data_mounts:
        if mount.mount_type == "bind" and not Path(mount.source).exists():
            raise ValidationError(
                f"data mount {mount.target}: {mount.source} does not exist on this machine",
                suggestions=["bind mounts on the local provider take a path of this machine"],
                provider="local",
            )


def attach(config: TaskConfig, volumes: LocalVolumes) -> tuple[dict[str, str], list[str]]:
    """Create missing volumes; return mount path -> directory to link into the sandbox, and
    the ids of the volumes attached.
    Refuses when the data to stage cannot fit on the disk that holds ``FLOW_HOME``."""
    need_gb = sum(m.size_estimate_gb or 0.0 for m in config.data_mounts)
    if need_gb:
        volumes.root.parent.mkdir(parents=True, exist_ok=True)
        free_gb = shutil.disk_usage(volumes.root.parent).free / 1e9
        if need_gb > free_gb:
            raise CapacityError(
                f"the data to stage is {need_gb:.1f} GB; the disk holding "
                f"{volumes.root.parent} has {free_gb:.1f} GB free",
                suggestions=["free some space, or mount a smaller prefix"],
                provider="local",
            )
    links: dict[str, str] = {}
    attached: list[str] = []
    for spec in config.volumes:
        volume_id = volumes.attach(spec).volume_id
        links[spec.mount_path] = str(volumes.data_dir(volume_id))
        attached.append(volume_id)
    return {**links, **bind_links(config)}, attached


def planned_links(config: TaskConfig, volumes: LocalVolumes) -> dict[str, str]:
    """What :func:`attach` would link, creating nothing: a volume that does not exist yet
    shows the directory it would get by its name (the dry run)."""
    links: dict[str, str] = {}
    for spec in config.volumes:
        ref = spec.volume_id or spec.name or "new"
        found = volumes.find(ref)
        links[spec.mount_path] = str(volumes.data_dir(found.volume_id if found else ref))
    return {**links, **bind_links(config)}


def bind_links(config: TaskConfig) -> dict[str, str]:
    """Bind mounts: a directory of this machine, linked into the sandbox at its target."""
    return {
        m.target: str(Path(m.source).absolute())
        for m in config.data_mounts
        if m.mount_type == "bind"
    }


def task_env(home: Path) -> dict[str, str]:
    """Environment for the startup script: stage with this interpreter (it has flowlib's
    ``[s3]`` extra when the client used it) and share cached data between local tasks."""
    return {
        "FLOW_PYTHON": sys.executable,
        "FLOW_DATA_CACHE": str(Path(home).absolute() / "cache" / "data"),
    }


def record_users(volume_ids: list[str], volumes: LocalVolumes, task_id: str, pid: int) -> None:
    """Remember that the task (its startup script's session ``pid``) uses these volumes."""
    ticks = _procs.start_ticks(pid)
    for volume_id in volume_ids:
        volumes.record_user(volume_id, task_id, pid, ticks)
