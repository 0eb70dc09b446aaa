"""Volumes of the local provider: directories under ``FLOW_HOME/volumes``.

::

    volumes/<volume_id>/volume.json   id, name, size (nominal), created, the tasks that used it
    volumes/<volume_id>/data/         what the task sees at the mount path (a symlink to it)

A volume is "in use" while a task that attached it still runs (its startup script's session
is alive and it has not written its exit code): such a volume is not deleted.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

from flowlib.core import procs as _procs
from flowlib.errors import ValidationError, VolumeNotFoundError
from flowlib.models import Volume, VolumeSpec

NAME = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}")
NAME_RULE = "1-63 lower-case letters, digits, '-' or '_', starting with a letter or digit"


def check_name(name: str) -> None:
    if not NAME.fullmatch(name):
        fixed = re.sub(r"[^a-z0-9_-]+", "-", name.lower()).strip("-_")[:63] or "data"
        raise ValidationError(
            f"{name!r} is not a valid volume name for the local provider: {NAME_RULE}",
            suggestions=[f"e.g. {fixed!r}"],
            provider="local",
        )


class LocalVolumes:
    def __init__(self, home: Path) -> None:
        self.root = Path(home) / "volumes"

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "a+") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(fh, fcntl.LOCK_UN)

    def _meta(self, volume_id: str) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.root / volume_id / "volume.json").read_text())
        except (FileNotFoundError, NotADirectoryError, json.JSONDecodeError):
            return None
        return data

    def _write(self, meta: dict[str, Any]) -> None:
        path = self.root / meta["volume_id"] / "volume.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(meta, indent=1, sort_keys=True))
        os.replace(tmp, path)

    def _all(self) -> list[dict[str, Any]]:
        if not self.root.is_dir():
            return []
        metas = (self._meta(p.name) for p in sorted(self.root.iterdir()) if p.is_dir())
        return [m for m in metas if m is not None]

    def data_dir(self, volume_id: str) -> Path:
        return self.root / volume_id / "data"

    def _volume(self, meta: dict[str, Any]) -> Volume:
        return Volume(
            volume_id=meta["volume_id"],
            name=meta["name"],
            size_gb=meta["size_gb"],
            region="local",
            created_at=datetime.fromisoformat(meta["created_at"]),
            attached_to=[f"local-{u['task_id']}" for u in meta.get("users", []) if _alive(u)],
        )

    def create(self, size_gb: int, name: str | None = None) -> Volume:
        if size_gb < 1:
            raise ValidationError(f"a volume needs at least 1 GB, got {size_gb}")
        volume_id = f"vol-{secrets.token_hex(6)}"
        name = name or volume_id
        check_name(name)
        with self._locked():
            if any(m["name"] == name for m in self._all()):
                raise ValidationError(
                    f"a local volume named {name!r} already exists",
                    suggestions=[f"use it (volume://{name}), or pick another name"],
                    provider="local",
                )
            self.data_dir(volume_id).mkdir(parents=True)
            meta = {
                "volume_id": volume_id,
                "name": name,
                "size_gb": size_gb,
                "created_at": datetime.now().astimezone().isoformat(),
                "users": [],
            }
            self._write(meta)
        return self._volume(meta)

    def list(self) -> list[Volume]:
        return [self._volume(m) for m in self._all()]

    def find(self, ref: str) -> Volume | None:
        return next((v for v in self.list() if ref in (v.volume_id, v.name)), None)

    def delete(self, volume_id: str) -> None:
        with self._locked():
            meta = self._meta(volume_id)
            if meta is None:
                raise VolumeNotFoundError(
                    f"no local volume {volume_id!r}",
                    suggestions=["`flow volume list` shows the volumes"],
                    provider="local",
                )
            users = [u["task_id"] for u in meta.get("users", []) if _alive(u)]
            if users:
                raise ValidationError(
                    f"volume {meta['name']} ({volume_id}) is in use by running task "
                    + ", ".join(users),
                    suggestions=[f"wait for it to end, or `flow cancel {users[0]}` first"],
                    provider="local",
                )
            shutil.rmtree(self.root / volume_id)

    def attach(self, spec: VolumeSpec) -> Volume:
        """The volume ``spec`` asks for, created when it names one that does not exist yet."""
        ref = spec.volume_id or spec.name
        found = self.find(ref) if ref else None
        if found is not None:
            return found
        if spec.volume_id or spec.size_gb is None:
            raise VolumeNotFoundError(
                f"no local volume {ref!r}",
                suggestions=["`flow volume list` shows the volumes", "give size_gb to create it"],
                provider="local",
            )
        return self.create(spec.size_gb, spec.name)

    def record_user(self, volume_id: str, task_id: str, pid: int, ticks: int | None) -> None:
        with self._locked():
            meta = self._meta(volume_id)
            if meta is None:
                return
            users = [u for u in meta.get("users", []) if _alive(u)]
            users.append({"task_id": task_id, "pid": pid, "start_ticks": ticks})
            meta["users"] = users
            self._write(meta)


def _alive(user: dict[str, Any]) -> bool:
    pid = user.get("pid")
    if pid is None:
        return False
    return _procs.alive(int(pid), user.get("start_ticks")) or bool(_procs.session_members(int(pid)))
