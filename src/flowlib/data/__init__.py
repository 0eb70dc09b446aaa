"""Data in and results out: ``data=`` mounts, ``outputs=`` and volumes (docs/data.md).

Three steps, one per moment of a submission:

1. :func:`parse_data` / :func:`expand` (pure): ``data="s3://bucket/prefix"`` or a mapping of
   mount path to source as :class:`~flowlib.models.MountSpec` entries; ``volume://NAME`` becomes
   a :class:`~flowlib.models.VolumeSpec`; shapes and overlaps are checked.
2. :func:`resolve` (client side, before anything is created): buckets exist, credentials work,
   sizes are measured, volumes are matched to the provider's.
3. :func:`data_section` / :func:`outputs_section`: the startup script stages the data before
   the workload and syncs outputs after it, with the tools the machine has.

s3fs (the ``[s3]`` extra) is imported on first use only.
"""

from __future__ import annotations

from flowlib.data._parse import (
    DEFAULT_DATA_TARGET,
    DEFAULT_VOLUME_GB,
    S3Url,
    expand,
    parse_data,
    parse_s3_url,
)
from flowlib.data._resolve import needs_resolving, resolve, resolve_volumes, uses_s3
from flowlib.data._s3 import ENDPOINT_VARS, S3Access, S3Data, s3_endpoint
from flowlib.data._script import (
    WRITE_VOLUME_DEVICES,
    VolumeMount,
    data_section,
    outputs_section,
    volume_devices_file,
    volumes_section,
    volumes_sync_section,
)

__all__ = [
    "DEFAULT_DATA_TARGET",
    "DEFAULT_VOLUME_GB",
    "ENDPOINT_VARS",
    "WRITE_VOLUME_DEVICES",
    "S3Access",
    "S3Data",
    "S3Url",
    "VolumeMount",
    "data_section",
    "expand",
    "needs_resolving",
    "outputs_section",
    "parse_data",
    "parse_s3_url",
    "resolve",
    "resolve_volumes",
    "s3_endpoint",
    "uses_s3",
    "volume_devices_file",
    "volumes_section",
    "volumes_sync_section",
]
