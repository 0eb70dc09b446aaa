"""FCP volumes: found by name or FID, created for a bid in its region (with an idempotency key,
so a lost answer never makes two), listed and deleted; and where a bid's volumes are mounted on
its instances."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Literal

from flowlib.errors import ResourceNotFoundError, ValidationError, VolumeNotFoundError
from flowlib.models import StorageInterface, TaskConfig, Volume

if TYPE_CHECKING:
    from flowlib.core.store import TaskRecord
    from flowlib.data import VolumeMount
    from flowlib.providers.fcp._api import FcpApi
    from flowlib.providers.fcp._shapes import VolumeJson, VolumeRequest

__all__ = ["FcpVolumes", "mounts"]


class FcpVolumes:
    """The volumes of one project; ``api`` and ``project`` are looked up when first needed."""

    def __init__(self, api: Callable[[], FcpApi], project: Callable[[], str]) -> None:
        self._api = api
        self._project = project

    def by_name(self, name: str) -> VolumeJson:
        """The volume called ``name`` (or with that FID); VolumeNotFoundError when none is."""
        for vol in self._api().volumes(self._project()):
            if vol.get("name") == name or vol.get("fid") == name:
                return vol
        raise VolumeNotFoundError(
            f"no FCP volume called {name!r}",
            suggestions=["`flow volumes` lists them; give size_gb to create one"],
            provider="fcp",
        )

    def for_bid(self, record: TaskRecord, region: str) -> list[str]:
        """The FIDs of the task's volumes, in its order: existing ones (which must be in the
        bid's region) and new ones, created now under a name derived from the task."""
        fids = []
        for index, spec in enumerate(record.config.volumes):
            if spec.volume_id is not None or (spec.name and spec.size_gb is None):
                vol = self.by_name(spec.volume_id or spec.name or "")
                if vol.get("region") != region:
                    raise ValidationError(
                        f"volume {vol.get('name')} is in {vol.get('region')}, the task runs in "
                        f"{region}",
                        suggestions=[f"set region={vol.get('region')!r} on the task"],
                        provider="fcp",
                    )
                fids.append(str(vol["fid"]))
                continue
            name = spec.name or f"flowlib-{record.task_id.removeprefix('task-')}-{index}"
            interface: Literal["Block", "File"] = (
                "File" if spec.interface.value == "file" else "Block"
            )
            fids.append(str(self._create(name, region, spec.size_gb, interface)["fid"]))
        return fids

    def create(self, size_gb: int, region: str, name: str | None = None) -> Volume:
        return volume(self._create(name or f"flowlib-{secrets.token_hex(4)}", region, size_gb))

    def _create(
        self,
        name: str,
        region: str,
        size_gb: int | None,
        interface: Literal["Block", "File"] = "Block",
    ) -> VolumeJson:
        body: VolumeRequest = {
            "name": name,
            "project": self._project(),
            "disk_interface": interface,
            "region": region,
            "size_gb": size_gb,
        }
        return self._api().create_volume(body, idempotency_key=f"flowlib-{name}")

    def list(self) -> list[Volume]:
        return [volume(v) for v in self._api().volumes(self._project())]

    def delete(self, volume_id: str) -> None:
        fid = volume_id if volume_id.startswith("vol_") else self.by_name(volume_id)["fid"]
        try:
            self._api().delete_volume(str(fid))
        except ResourceNotFoundError as exc:
            raise VolumeNotFoundError(
                f"no FCP volume {volume_id}", suggestions=["`flow volumes` lists them"]
            ) from exc


def mounts(config: TaskConfig, fids: list[str]) -> list[VolumeMount]:
    """Each volume of the bid at its mount path, its device found by serial (the FID)."""
    from flowlib.data import VolumeMount
    from flowlib.providers.fcp._script import volume_device

    return [
        VolumeMount(spec.name or fid, spec.mount_path, volume_device(fid))
        for spec, fid in zip(config.volumes, fids, strict=True)
    ]


def volume(row: VolumeJson) -> Volume:
    """A volume as the API lists it, in flowlib's terms."""
    created = str(row.get("created_at") or "").replace("Z", "+00:00")
    return Volume(
        volume_id=str(row["fid"]),
        name=str(row.get("name")),
        size_gb=int(row.get("capacity_gb") or 0),
        region=row.get("region"),
        interface=StorageInterface.FILE
        if row.get("interface") == "File"
        else StorageInterface.BLOCK,
        created_at=datetime.fromisoformat(created) if created else datetime.now(timezone.utc),
        attached_to=list(row.get("bids") or []),
    )
