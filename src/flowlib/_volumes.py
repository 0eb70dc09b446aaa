"""Persistent volumes through the engine: :meth:`Flow.create_volume`, :meth:`Flow.list_volumes`
and :meth:`Flow.delete_volume` on any provider that has ``create_volume`` / ``list_volumes`` /
``delete_volume`` (:class:`~flowlib.providers.base.VolumeProvider`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flowlib.errors import ValidationError
from flowlib.models import TaskStatus
from flowlib.providers.base import Feature, optional_method

if TYPE_CHECKING:
    from flowlib.flow import Flow
    from flowlib.models import Volume

__all__ = ["create_volume", "delete_volume", "list_volumes"]


def _volume_provider(flow: Flow, name: str | None) -> Any:
    chosen = flow.provider(name)
    optional_method(
        chosen,
        "create_volume",
        Feature.VOLUMES,
        cannot="cannot manage volumes",
        default="it has no volumes",
        suggestions=["choose a provider with volumes: --provider NAME"],
    )
    return chosen


def create_volume(flow: Flow, size_gb: int, name: str | None, provider: str | None) -> Volume:
    if name is not None and any(v.name == name for v in list_volumes(flow, provider)):
        raise ValidationError(
            f"a volume named {name!r} already exists",
            suggestions=["pick another name, or use the existing one: volume://" + name],
        )
    volume: Volume = _volume_provider(flow, provider).create_volume(size_gb, name)
    return volume


def list_volumes(flow: Flow, provider: str | None) -> list[Volume]:
    volumes: list[Volume] = _volume_provider(flow, provider).list_volumes()
    return volumes


def delete_volume(flow: Flow, ref: str, provider: str | None) -> Volume:
    chosen = _volume_provider(flow, provider)
    volumes: list[Volume] = chosen.list_volumes()
    volume = next((v for v in volumes if v.volume_id == ref), None) or next(
        (v for v in volumes if v.name == ref), None
    )
    if volume is None:
        from flowlib.errors import VolumeNotFoundError

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
    chosen.delete_volume(volume.volume_id)
    return volume
