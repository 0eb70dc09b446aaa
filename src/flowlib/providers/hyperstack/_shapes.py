"""The JSON shapes of the Hyperstack API that travel between this package's modules.

Only the fields flowlib reads are listed (docs: ``shared/docs/provider-apis.md`` 1.6-1.10).
Every shape is ``total=False``: the API leaves fields out or null, so code reads them with
``.get`` and keeps its defaults; ``id`` is always there on what the API returns.
"""

from __future__ import annotations

from typing import TypedDict

__all__ = [
    "AttachedVolume",
    "Attachment",
    "CreateVm",
    "EnvironmentRef",
    "Flavor",
    "FlavorRef",
    "Keypair",
    "VirtualMachine",
    "VolumeAttachment",
    "VolumeRow",
]


class EnvironmentRef(TypedDict, total=False):
    """An environment, as VMs, keypairs and volumes name it (``environment``)."""

    id: int
    name: str
    region: str


class Flavor(TypedDict, total=False):
    """A flavor of ``GET /core/flavors`` (the groups' ``flavors``, flattened)."""

    id: int
    name: str
    region_name: str
    cpu: int
    ram: float  # GB
    disk: int  # root GB
    ephemeral: int  # GB, wiped on delete and hibernate
    gpu: str  # the model string, "" for CPU-only
    gpu_count: int
    stock_available: bool
    features: dict[str, object]  # "hibernation": false where it is not supported


class FlavorRef(TypedDict, total=False):
    """A VM's ``flavor``."""

    id: int
    name: str
    gpu: str
    gpu_count: int


class AttachedVolume(TypedDict, total=False):
    """The ``volume`` of a VM's ``volume_attachments`` row."""

    id: int
    name: str
    size: int


class VolumeAttachment(TypedDict, total=False):
    """One row of a VM's ``volume_attachments``."""

    id: int
    device: str
    status: str
    volume: AttachedVolume


class VirtualMachine(TypedDict, total=False):
    """``InstanceFields``: what ``GET /core/virtual-machines[/{id}]`` and the create answer."""

    id: int
    name: str
    status: str  # CREATING, BUILD, ACTIVE, SHUTOFF, HIBERNATED, DELETING, ERROR...
    environment: EnvironmentRef
    flavor: FlavorRef
    fixed_ip: str | None
    floating_ip: str | None  # the public IPv4, null until attached
    labels: list[str]
    volume_attachments: list[VolumeAttachment]
    created_at: str


class Attachment(TypedDict, total=False):
    """A volume's ``attachments`` row, and a row of the attach-volumes answer (which adds
    ``volume_id``)."""

    id: int
    instance_id: int
    volume_id: int
    device: str  # /dev/vdb
    status: str
    protected: bool


class VolumeRow(TypedDict, total=False):
    """A volume: ``GET /core/volumes[/{id}]`` and the create answer."""

    id: int
    name: str
    size: int
    volume_type: str
    status: str  # creating, available, in-use... (casing unverified: compare lowercased)
    environment: EnvironmentRef
    attachments: list[Attachment]
    created_at: str


class Keypair(TypedDict, total=False):
    """A keypair (keypairs are environment-scoped)."""

    id: int
    name: str
    environment: EnvironmentRef
    public_key: str


class CreateVm(TypedDict):
    """The body of ``POST /core/virtual-machines`` as flowlib sends it (one VM)."""

    name: str
    environment_name: str
    flavor_name: str
    image_name: str
    key_name: str
    count: int
    assign_floating_ip: bool
    user_data: str
    labels: list[str]
    security_rules: list[dict[str, object]]
