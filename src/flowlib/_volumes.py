"""Persistent volumes through the engine: :meth:`Flow.create_volume`, :meth:`Flow.list_volumes`
and :meth:`Flow.delete_volume` on any provider that has ``create_volume`` / ``list_volumes`` /
``delete_volume`` (:class:`~flowlib.providers.base.Volumes`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from flowlib.errors import ValidationError, VolumeNotFoundError
from flowlib.models import TaskStatus
from flowlib.providers.base import Volumes, require

if TYPE_CHECKING:
    from flowlib._engine import Engine
    from flowlib.models import Volume

__all__ = ["create_volume", "delete_volume", "list_volumes"]


def _volume_provider(flow: Engine, name: str | None) -> Volumes:
    return require(flow.provider(name), Volumes, flow.registry.specs())


def create_volume(flow: Engine, size_gb: int, name: str | None, provider: str | None) -> Volume:
    if name is not None and any(v.name == name for v in list_volumes(flow, provider)):
        raise ValidationError(
            f"a volume named {name!r} already exists",
            suggestions=["pick another name, or use the existing one: volume://" + name],
        )
    return _volume_provider(flow, provider).create_volume(size_gb, name)


def list_volumes(flow: Engine, provider: str | None) -> list[Volume]:
    return _volume_provider(flow, provider).list_volumes()


def delete_volume(flow: Engine, ref: str, provider: str | None) -> Volume:
    chosen = flow.provider(provider)
    holder = require(chosen, Volumes, flow.registry.specs())
    volumes = holder.list_volumes()
    volume = next((v for v in volumes if v.volume_id == ref), None) or next(
        (v for v in volumes if v.name == ref), None
    )
    if volume is None:
        names = ", ".join(sorted(v.name for v in volumes)) or "none"
        raise VolumeNotFoundError(
            f"no volume {ref!r} on provider '{chosen.name}'",
            suggestions=[f"volumes there: {names} (`flow volume list`)"],
            provider=chosen.name,
        )
    running = flow.list_tasks(status=[TaskStatus.PENDING, TaskStatus.RUNNING], provider=chosen.name)
    users = [
        t
        for t in running
        if t.config is not None
        and any(
            v.volume_id == volume.volume_id or (v.volume_id is None and v.name == volume.name)
            for v in t.config.volumes
        )
    ]
    if users:
        ids = ", ".join(t.task_id for t in users)
        raise ValidationError(
            f"volume {volume.name} ({volume.volume_id}) is in use by {ids}",
            suggestions=[f"wait for it to end, or cancel it first: flow cancel {users[0].task_id}"],
            volume_id=volume.volume_id,
        )
    holder.delete_volume(volume.volume_id)
    return volume
