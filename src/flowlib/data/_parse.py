"""``data=`` and ``outputs=`` as flowlib understands them, before anything is looked up.

Everything here is pure: no network, no filesystem. :func:`expand` turns ``volume://`` mounts
into :class:`~flowlib.models.VolumeSpec` entries (the provider attaches volumes its own way) and
checks what can be checked without asking anyone: URL shapes, bucket names, mount targets that
collide.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowlib.errors import ValidationError
from flowlib.models import MountSpec, TaskConfig, VolumeSpec

__all__ = [
    "DEFAULT_DATA_TARGET",
    "DEFAULT_VOLUME_GB",
    "S3Url",
    "expand",
    "parse_data",
    "parse_s3_url",
]

DEFAULT_DATA_TARGET = "/data"
# Size of a volume that ``volume://name`` creates when no volume has that name yet. A mount's
# ``options={"size_gb": N}`` (or its ``size_estimate_gb``) overrides it.
DEFAULT_VOLUME_GB = 100
# S3's bucket naming rules (3-63 characters, lower case, digits, dots, hyphens).
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_VOLUME_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
# Targets that would hide the machine's own system directories.
_RESERVED = ("/", "/bin", "/boot", "/dev", "/etc", "/lib", "/proc", "/sbin", "/sys", "/usr", "/var")

DataLike = str | Mapping[str, str] | MountSpec | Sequence[MountSpec]


@dataclass(frozen=True)
class S3Url:
    """``s3://bucket/key``; ``key`` ending in ``/`` (or empty) names a prefix, a "directory"."""

    bucket: str
    key: str

    @property
    def is_prefix(self) -> bool:
        return self.key == "" or self.key.endswith("/")

    @property
    def path(self) -> str:
        """The ``bucket/key`` form s3fs takes."""
        return f"{self.bucket}/{self.key}".rstrip("/")

    def __str__(self) -> str:
        return f"s3://{self.bucket}/{self.key}"


def parse_s3_url(url: str, *, what: str = "data source") -> S3Url:
    """Split an ``s3://`` URL; a bucket name S3 would refuse is an error here already."""
    if not url.startswith("s3://"):
        raise ValidationError(
            f"{what} {url!r} is not an s3:// URL",
            suggestions=["write s3://BUCKET/PREFIX, e.g. s3://my-bucket/datasets/imagenet"],
        )
    bucket, _, key = url[len("s3://") :].partition("/")
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise ValidationError(
            f"{what} {url!r}: {bucket!r} is not a valid S3 bucket name",
            suggestions=[
                "bucket names are 3-63 characters: lower-case letters, digits, '.' and '-'",
                "write s3://BUCKET/PREFIX",
            ],
        )
    if any(part in (".", "..") for part in key.split("/")):
        raise ValidationError(
            f"{what} {url!r} has '.' or '..' in its key",
            suggestions=["S3 keys are not file paths: write the full prefix"],
        )
    return S3Url(bucket, key)


def parse_data(data: DataLike) -> list[MountSpec]:
    """``data=`` as mount specs.

    - ``"s3://bucket/prefix"``: one mount at ``/data``
    - ``{"/datasets": "s3://...", "/models": "volume://pretrained"}``: mount path -> source
    - a :class:`MountSpec`, or a list of them, as they are

    A source is an ``s3://`` URL (staged onto the machine), ``volume://NAME`` (a persistent
    volume, created when missing) or an absolute path on the machine (bound in place).
    """
    if isinstance(data, MountSpec):
        return [data]
    if isinstance(data, str):
        return [_mount(DEFAULT_DATA_TARGET, data)]
    if isinstance(data, Mapping):
        return [_mount(str(target), source) for target, source in data.items()]
    if isinstance(data, Sequence) and all(isinstance(m, MountSpec) for m in data):
        return [m for m in data if isinstance(m, MountSpec)]
    raise ValidationError(
        f"data= takes a URL, a mapping of mount path to URL, or MountSpecs; got {data!r}",
        suggestions=['data="s3://bucket/dataset"', 'data={"/datasets": "s3://bucket/imagenet"}'],
    )


def _mount(target: str, source: Any) -> MountSpec:
    if not isinstance(source, str) or not source:
        raise ValidationError(
            f"the source of data mount {target!r} must be a URL or a path, got {source!r}",
            suggestions=['e.g. {"/datasets": "s3://bucket/imagenet"}'],
        )
    return MountSpec(source=source, target=target)


def volume_name(mount: MountSpec) -> str:
    """The volume a ``volume`` mount names (``volume://NAME`` or a bare ``NAME``)."""
    name = mount.source.removeprefix("volume://").strip("/")
    if not _VOLUME_NAME.fullmatch(name):
        raise ValidationError(
            f"data mount {mount.target!r}: {mount.source!r} does not name a volume",
            suggestions=["write volume://NAME (letters, digits, '-', '_', '.')"],
        )
    return name


def expand(config: TaskConfig) -> TaskConfig:
    """Check the data mounts and outputs of ``config`` and move ``volume://`` mounts to
    ``volumes``. Pure: no network. Raises :class:`ValidationError`."""
    mounts: list[MountSpec] = []
    volumes = list(config.volumes)
    for mount in config.data_mounts:
        if mount.mount_type == "volume":
            volumes.append(_volume_spec(mount))
            continue
        if mount.mount_type == "s3fs":
            parse_s3_url(mount.source, what=f"data mount {mount.target!r}:")
        elif not mount.source.startswith("/"):
            raise ValidationError(
                f"data mount {mount.target!r}: {mount.source!r} is neither a URL nor an "
                "absolute path",
                suggestions=["use s3://BUCKET/PREFIX, volume://NAME or an absolute path"],
            )
        mounts.append(mount)
    for target, url in config.outputs.items():
        parse_s3_url(url, what=f"output {target!r}:")
    _check_targets(config, mounts, volumes)
    if mounts == list(config.data_mounts) and volumes == list(config.volumes):
        return config
    return config.model_copy(update={"data_mounts": mounts, "volumes": volumes})


def _volume_spec(mount: MountSpec) -> VolumeSpec:
    name = volume_name(mount)
    size = mount.options.get("size_gb")
    if size is None and mount.size_estimate_gb:
        size = max(1, int(-(-mount.size_estimate_gb // 1)))
    return VolumeSpec(name=name, mount_path=mount.target, size_gb=size or DEFAULT_VOLUME_GB)


def _check_targets(config: TaskConfig, mounts: list[MountSpec], volumes: list[VolumeSpec]) -> None:
    """Every mount path, output directory and volume path is distinct, none holds another,
    none hides a system directory or the code's working directory."""
    places = [(m.target, f"data mount {m.target}") for m in mounts]
    places += [(v.mount_path, f"volume at {v.mount_path}") for v in volumes]
    outputs = [(t, f"output {t}") for t in config.outputs]
    for path, what in [*places, *outputs]:
        if not path.startswith("/"):
            raise ValidationError(f"{what}: the path must be absolute")
        norm = posixpath.normpath(path)
        if norm in _RESERVED:
            raise ValidationError(
                f"{what} would hide the machine's {norm} directory",
                suggestions=["mount data under a path of its own, e.g. /data or /datasets"],
            )
        if _within(norm, config.working_dir) or _within(config.working_dir, norm):
            raise ValidationError(
                f"{what} overlaps the working directory {config.working_dir}, where the code is",
                suggestions=["mount data outside it (e.g. /data), or change working_dir"],
            )
    # Outputs may live inside nothing else; mounts may not nest in each other.
    seen: list[tuple[str, str]] = []
    for path, what in [*places, *outputs]:
        norm = posixpath.normpath(path)
        for other, other_what in seen:
            if _within(norm, other) or _within(other, norm):
                raise ValidationError(
                    f"{what} and {other_what} overlap",
                    suggestions=["give each mount and output a directory of its own"],
                )
        seen.append((norm, what))


def _within(path: str, parent: str) -> bool:
    path, parent = posixpath.normpath(path), posixpath.normpath(parent)
    return path == parent or path.startswith(parent.rstrip("/") + "/")
