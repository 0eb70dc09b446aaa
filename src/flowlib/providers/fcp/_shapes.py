"""The JSON shapes of the Mithril v2 API that cross this package's modules.

Static types only: nothing is checked at run time, and the provider reads what it can do without
defensively (``.get``), so a field the API omits degrades, never crashes. Each shape is a base of
the keys the spec requires and a ``total=False`` class of the ones it may leave out (the standard
library's way before ``NotRequired``: Python 3.10 has no ``typing.NotRequired``). Facts: the
Mithril section of the provider-API notes (``InstanceTypeModel``, ``AuctionModel``, ``BidModel``,
``InstanceModel``, ``VolumeModel``).
"""

from __future__ import annotations

from typing import Literal, TypedDict

__all__ = [
    "ApiKeyJson",
    "AuctionJson",
    "BidJson",
    "BidRequest",
    "FcpTaskData",
    "InstanceJson",
    "InstanceTypeJson",
    "LaunchSpecification",
    "LegacyGpu",
    "ProjectJson",
    "SshKeyJson",
    "VolumeJson",
    "VolumeRequest",
]

DiskInterface = Literal["Block", "File"]


class _Project(TypedDict):
    fid: str
    name: str


class ProjectJson(_Project, total=False):
    """A row of ``GET /v2/projects``."""

    created_at: str


class LegacyGpu(TypedDict):
    """An entry of an old instance type's ``gpus`` list."""

    name: str
    count: int


class _InstanceType(TypedDict):
    fid: str
    name: str
    num_cpus: int
    ram_gb: int
    gpu_memory_gb: int  # per GPU


class InstanceTypeJson(_InstanceType, total=False):
    """``InstanceTypeModel``, a row of ``GET /v2/instance-types``. The legacy shape has
    ``gpus`` instead of ``num_gpus``/``gpu_type``; CPU-only rows have ``num_gpus: 0``."""

    num_gpus: int
    gpu_type: str  # "H100"
    gpu_socket: str  # "SXM5"
    gpus: list[LegacyGpu]
    cpu_type: str
    local_storage_gb: int
    network_type: str | None
    ib_count: int
    bridge_count: int
    hourly_price: float


class _Auction(TypedDict):
    fid: str
    instance_type: str  # it_ FID
    region: str
    capacity: int  # instances, not GPUs
    last_instance_price: str  # "$1.80" per instance-hour


class AuctionJson(_Auction, total=False):
    """``AuctionModel``: one spot market (instance type, region) of
    ``GET /v2/spot/availability``."""

    lowest_allocated_price: str | None
    adjustable_memory: bool
    default_image_version: str | None


class _LaunchSpecification(TypedDict):
    volumes: list[str]  # vol_ FIDs
    ssh_keys: list[str]  # sshkey_ FIDs


class LaunchSpecification(_LaunchSpecification, total=False):
    """What each instance of a bid boots with."""

    startup_script: str | None
    kubernetes_cluster: str | None
    image_version: str | None
    memory_gb: int | None


class _BidRequest(TypedDict):
    project: str
    region: str
    instance_type: str  # it_ FID
    limit_price: str  # "$2.50", per instance-hour
    instance_quantity: int
    name: str
    launch_specification: LaunchSpecification


class BidRequest(_BidRequest, total=False):
    """The body of ``POST /v2/spot/bids``."""

    notification_email: str


class _Bid(TypedDict):
    fid: str
    name: str
    status: str  # Open, Allocated, Preempting, Terminated, Paused (also Relocating, Replaced)


class BidJson(_Bid, total=False):
    """``BidModel``, a bid as ``/v2/spot/bids`` answers it. ``instances`` lists its inst_ FIDs
    in node order."""

    project: str
    limit_price: str
    instance_quantity: int
    instance_type: str
    instances: list[str]
    region: str | None
    created_by: str
    created_at: str
    deactivated_at: str | None
    launch_specification: LaunchSpecification


class _Instance(TypedDict):
    fid: str
    status: str  # STATUS_NEW ... STATUS_ERROR (see _status)


class InstanceJson(_Instance, total=False):
    """``InstanceModel``, a row of ``GET /v2/instances``. ``ssh_destination`` is ``host``,
    ``host:port`` or ``[IPv6]:port`` once the machine is up."""

    name: str
    project: str
    bid: str | None
    instance_type: str  # it_ FID
    region: str | None
    ssh_destination: str | None
    private_ip: str | None
    created_at: str
    created_by: str
    reservation: str | None


class _SshKey(TypedDict):
    fid: str
    name: str


class SshKeyJson(_SshKey, total=False):
    """An SSH key; ``private_key`` only in the answer that generated the pair."""

    project: str
    public_key: str | None
    private_key: str | None
    required: bool
    created_at: str


class _ApiKey(TypedDict):
    fid: str
    name: str


class ApiKeyJson(_ApiKey, total=False):
    """An API key; ``secret`` only in the answer that created it."""

    expires_at: str
    created_at: str
    deactivated_at: str | None
    secret: str
    snippet: str  # the secret's first characters, for a person to recognise it


class VolumeRequest(TypedDict):
    """The body of ``POST /v2/volumes``."""

    name: str
    project: str
    disk_interface: DiskInterface
    region: str
    size_gb: int | None


class _Volume(TypedDict):
    fid: str
    name: str


class VolumeJson(_Volume, total=False):
    """``VolumeModel``; ``bids`` lists the bids it is attached to."""

    region: str | None
    capacity_gb: int
    interface: DiskInterface
    project: str
    created_at: str
    deleted_at: str | None
    bids: list[str]
    reservations: list[str]
    attachments: dict[str, str]


class FcpTaskData(TypedDict, total=False):
    """What the fcp provider keeps in a task's ``provider_data`` (the task store), written by
    ``submit`` and by each status look; what any later process finds the task's bid by."""

    project: str  # proj_ FID
    bid_name: str  # the bid's name: found by it after a lost answer
    region: str
    price_per_hour: float  # the market price at submit (``flow cost``)
    release_key: str  # the task-scoped API key's FID (revoked when the task ends)
    code_upload: str  # the code archive kept home, copied in once the nodes run
    bid: str  # bid_ FID
    limit_price: str | None
    instance_type_fid: str
    script_mode: str  # inline, compressed or upload
    volumes: list[str]  # vol_ FIDs
    instances: list[str]  # the bid's current inst_ FIDs, in node order
    exit_codes: dict[str, int]  # inst_ FID -> the exit code read from it
    stopped_nodes: list[str]  # inst_ FIDs whose script got a stop signal
    stop_notice: bool
    code_uploaded: bool
    cluster_written: bool
    key_revoked: bool
