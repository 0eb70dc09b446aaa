"""Before submission: look every data source, output and volume up, so a wrong bucket, a
rejected key or a missing volume fails here, in the user's terminal, not an hour into a boot."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

from flowlib.data._parse import expand, parse_s3_url
from flowlib.data._s3 import S3Access
from flowlib.errors import UnsupportedError, ValidationError, VolumeNotFoundError
from flowlib.models import MountSpec, TaskConfig, Volume, VolumeSpec

__all__ = ["ListsVolumes", "Named", "needs_resolving", "resolve", "resolve_volumes", "uses_s3"]


class Named(Protocol):
    """What resolving asks of every provider: its name, for the errors."""

    @property
    def name(self) -> str: ...


@runtime_checkable
class ListsVolumes(Protocol):
    """A provider with persistent volumes, as resolving sees one (any
    :class:`flowlib.providers.base.Volumes` is one): it lists them."""

    @property
    def name(self) -> str: ...

    def list_volumes(self) -> list[Volume]: ...


def uses_s3(config: TaskConfig) -> bool:
    return bool(config.outputs) or any(m.mount_type == "s3fs" for m in config.data_mounts)


def needs_resolving(config: TaskConfig) -> bool:
    return bool(config.data_mounts or config.outputs or config.volumes)


def resolve(
    config: TaskConfig, provider: Named, *, environ: Mapping[str, str] | None = None
) -> TaskConfig:
    """``config`` with its data looked up: S3 sources checked and measured (their size in
    ``size_estimate_gb``, a prefix written with a trailing ``/``), outputs' buckets checked,
    volumes matched to the provider's (by id or name, region checked). The S3 endpoint in use
    is passed to the task as ``FLOW_S3_ENDPOINT_URL`` so the machine stages from the same
    place. Creates nothing."""
    config = expand(config)
    update: dict[str, Any] = {}
    if uses_s3(config):
        s3 = S3Access(environ)
        if s3.endpoint:
            _no_password(s3.endpoint)  # before anything is sent to it
        update["data_mounts"] = [_resolve_mount(s3, m) for m in config.data_mounts]
        for target, url in config.outputs.items():
            s3.check_bucket(parse_s3_url(url, what=f"output {target!r}:"))
        if s3.endpoint and "FLOW_S3_ENDPOINT_URL" not in config.env:
            update["env"] = {**config.env, "FLOW_S3_ENDPOINT_URL": s3.endpoint}
    if config.volumes:
        update["volumes"] = resolve_volumes(provider, config.volumes, region=config.region)
    return config.model_copy(update=update) if update else config


def _no_password(endpoint: str) -> None:
    """The endpoint travels to the machine in the task's env: never with a password in it."""
    parts = urlsplit(endpoint)
    if parts.password is None:
        return
    bare = f"{parts.scheme}://{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    raise ValidationError(
        f"the S3 endpoint {bare} is given with user:password in its URL, which would travel "
        "to the machine in the task's environment",
        suggestions=[
            "give the credentials as AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY and the bare "
            "URL as FLOW_S3_ENDPOINT_URL"
        ],
    )


def _resolve_mount(s3: S3Access, mount: MountSpec) -> MountSpec:
    if mount.mount_type != "s3fs":
        return mount
    measure = mount.size_estimate_gb is None
    found = s3.inspect(mount.source, measure=measure)
    update: dict[str, Any] = {"source": str(found.url)}
    if measure:
        update["size_estimate_gb"] = round(found.size_gb or 0.0, 6)
    return mount.model_copy(update=update)


def resolve_volumes(
    provider: Named, specs: list[VolumeSpec], *, region: str | None = None
) -> list[VolumeSpec]:
    """Match ``specs`` to the provider's volumes: an existing one is pinned by id; a name that
    does not exist yet stays a request to create it (with ``size_gb``) at submission."""
    if not isinstance(provider, ListsVolumes):
        raise UnsupportedError(
            f"provider '{provider.name}' has no persistent volumes",
            suggestions=["drop volumes / volume:// mounts, or choose another provider"],
            provider=provider.name,
        )
    existing: list[Volume] = provider.list_volumes()
    by_id = {v.volume_id: v for v in existing}
    by_name = {v.name: v for v in existing}
    resolved: list[VolumeSpec] = []
    paths: set[str] = set()
    for spec in specs:
        if spec.mount_path in paths:
            raise ValidationError(
                f"two volumes are mounted at {spec.mount_path}",
                suggestions=["give each volume its own mount_path"],
            )
        paths.add(spec.mount_path)
        volume = None
        if spec.volume_id:
            volume = by_id.get(spec.volume_id)
            if volume is None:
                raise _not_found(provider, spec.volume_id, existing, can_create=False)
        elif spec.name:
            volume = by_name.get(spec.name) or by_id.get(spec.name)
            if volume is None and spec.size_gb is None:
                raise _not_found(provider, spec.name, existing, can_create=True)
        if volume is None:
            resolved.append(spec)  # to be created at submission
            continue
        if region and volume.region and volume.region != region:
            raise ValidationError(
                f"volume {volume.name} ({volume.volume_id}) is in {volume.region}; "
                f"the task runs in {region}",
                suggestions=[
                    f"run the task in {volume.region} (region={volume.region!r})",
                    "or use a volume in the task's region",
                ],
                provider=provider.name,
            )
        resolved.append(
            VolumeSpec(
                volume_id=volume.volume_id,
                name=volume.name,
                mount_path=spec.mount_path,
                interface=volume.interface,
            )
        )
    return resolved


def _not_found(
    provider: Named, ref: str, existing: list[Volume], *, can_create: bool
) -> VolumeNotFoundError:
    names = ", ".join(sorted(v.name for v in existing)[:10]) or "none yet"
    tips = [f"volumes on {provider.name}: {names} (`flow volume list`)"]
    if can_create:
        tips.append(f"create it: flow volume create {ref} --size GB, or give size_gb")
    return VolumeNotFoundError(
        f"no volume {ref!r} on provider '{provider.name}'",
        suggestions=tips,
        provider=provider.name,
    )
