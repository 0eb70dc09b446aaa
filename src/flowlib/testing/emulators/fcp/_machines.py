"""Machines beyond spot bids: CPU VMs, Kubernetes clusters, and the controls of single
instances (pause/resume, restart, boot-disk refresh)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal

from pydantic import Field

from .._clock import iso
from .._wire import ApiError, WireRequest, WireResponse
from ._api import _ok, _route
from ._entities import ENDED
from ._models import ProjectQuery, _Body, parse_body, parse_query
from ._platform import IMAGE_VERSIONS, check_image
from ._state import ORDER_TICKERS, FcpState

__all__ = ["CpuOrder", "KubernetesCluster"]


@dataclass
class CpuOrder:
    """A CPU-only VM: no auction, billed at its type's fixed price while it exists."""

    fid: str  # the instance's FID
    instance_type: str


@dataclass
class KubernetesCluster:
    fid: str
    project: str
    name: str
    region: str
    created_at: float
    ssh_keys: list[str]
    instance_type: str
    k8s_version: str
    user: str
    status: str = "Pending"
    deleted_at: float | None = None
    instances: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        available = self.status == "Available"
        return {
            "fid": self.fid,
            "project": self.project,
            "name": self.name,
            "region": self.region,
            "created_at": iso(self.created_at),
            "kube_host": f"{self.fid}.k8s.emulator.invalid" if available else None,
            "ssh_keys": list(self.ssh_keys),
            "instances": list(self.instances),
            "join_command": f"kubeadm join {self.fid}:6443" if available else None,
            "status": self.status,
            "deleted_at": iso(self.deleted_at) if self.deleted_at else None,
            "k8s_version": self.k8s_version,
            "user_fid": self.user,
        }


# ---- requests --------------------------------------------------------------------------------


class CreateCpuInstanceRequest(_Body):
    name: str
    project: str
    instance_type: str
    region: str
    volumes: list[str] = Field(default_factory=list)
    ssh_keys: list[str] | None = None
    image_version: str | None = None


class CreateClusterRequest(_Body):
    name: str
    project: str
    region: str
    ssh_keys: Annotated[list[str], Field(min_length=1)]
    instance_type: str
    k8s_version: Literal["1.34", "1.29"] = "1.34"
    image_version: str | None = None


class PatchInstancesRequest(_Body):
    instances: list[str]
    status: Literal["STATUS_RUNNING", "STATUS_PAUSED"]


class RefreshBootDiskRequest(_Body):
    image_version: str | None = None


# ---- CPU VMs ---------------------------------------------------------------------------------


@_route("GET", "/v2/cpu/instance-types")
def cpu_types(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    return _ok([t.to_json() for t in state.cpu_types.values()])


@_route("GET", "/v2/cpu/regions")
def cpu_regions(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    regions = sorted({r for regions in state.cpu_regions.values() for r in regions})
    return _ok(
        [
            {
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, region)),
                "name": region,
                "block_storage_enabled": True,
                "fileshare_storage_enabled": False,
                "k8s_enabled": True,
                "max_volume_size_tb": 16,
                "max_volume_name_length": 64,
            }
            for region in regions
        ]
    )


@_route("POST", "/v2/cpu/instances")
def create_cpu_instance(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateCpuInstanceRequest, request)
    state.project(body.project)
    itype = state.cpu_types.get(body.instance_type)
    if itype is None:
        raise ApiError(404, f"CPU instance type {body.instance_type} not found")
    if body.region not in state.cpu_regions[itype.fid]:
        raise ApiError(400, f"{itype.name} is not offered in region {body.region}")
    state.check_ssh_keys(body.ssh_keys or [], body.project)
    state.check_volumes(body.volumes, body.project, body.region)
    check_image(body.image_version)
    inst = state.new_instance(
        body.name, body.project, itype.fid, body.region, state.now(),
        price_cents=round(itype.hourly_price * 100),
    )  # fmt: skip
    state.orders[inst.fid] = CpuOrder(inst.fid, itype.fid)
    state.launch_specs[inst.fid] = {
        "volumes": list(body.volumes), "ssh_keys": list(body.ssh_keys or []),
        "image_version": body.image_version,
    }  # fmt: skip
    return _ok(inst.to_json(), 201)


@_route("DELETE", "/v2/cpu/instances/{instance_fid}")
def delete_cpu_instance(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    if not isinstance(state.orders.get(fid), CpuOrder):
        raise ApiError(404, f"CPU instance {fid} not found")
    inst = state.instance(fid)
    if inst.status not in ENDED and inst.status != "STATUS_STOPPING":
        state.set_instance_status(inst, "STATUS_STOPPING", state.now())
    return WireResponse(204)


# ---- Kubernetes clusters ---------------------------------------------------------------------


def _cluster(state: FcpState, fid: str) -> KubernetesCluster:
    return state.order(fid, KubernetesCluster, "Kubernetes cluster")


@_route("GET", "/v2/kubernetes/clusters")
def list_clusters(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    q = parse_query(ProjectQuery, request)
    state.project(q.project)
    return _ok(
        [
            o.to_json()
            for o in state.orders.values()
            if isinstance(o, KubernetesCluster) and o.project == q.project
        ]
    )


@_route("POST", "/v2/kubernetes/clusters")
def create_cluster(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    body = parse_body(CreateClusterRequest, request)
    state.project(body.project)
    known = {**state.instance_types, **state.cpu_types}
    if body.instance_type not in known:
        raise ApiError(404, f"Instance type {body.instance_type} not found")
    if not any(a.region == body.region for a in state.auctions.values()):
        raise ApiError(400, f"Unknown region {body.region}")
    state.check_ssh_keys(body.ssh_keys or [], body.project)
    check_image(body.image_version)
    cluster = KubernetesCluster(
        state.new_fid("kc"), body.project, body.name, body.region, state.now(),
        list(body.ssh_keys), body.instance_type, body.k8s_version, state.user_fid,
    )  # fmt: skip
    state.orders[cluster.fid] = cluster
    return _ok(cluster.to_json(), 201)


@_route("GET", "/v2/kubernetes/clusters/{cluster_fid}")
def get_cluster(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    return _ok(_cluster(state, fid).to_json())


@_route("DELETE", "/v2/kubernetes/clusters/{cluster_fid}")
def delete_cluster(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    cluster = _cluster(state, fid)
    if cluster.status != "Terminated":
        cluster.status = "Terminated"
        cluster.deleted_at = state.now()
    return WireResponse(204)


def _advance_clusters(state: FcpState, now: float) -> bool:
    """A control plane is ``Available`` one allocation delay after it was asked for."""
    changed = False
    for cluster in state.orders.values():
        if not isinstance(cluster, KubernetesCluster) or cluster.status != "Pending":
            continue
        if now >= cluster.created_at + state.timing.allocate_s:
            cluster.status = "Available"
            changed = True
    return changed


ORDER_TICKERS.append(_advance_clusters)


# ---- per-instance controls -------------------------------------------------------------------


@_route("PATCH", "/v2/instances")
def patch_instances(state: FcpState, request: WireRequest, key: str, _: str) -> WireResponse:
    """Pause or resume single machines (a bid's or a reservation's), keeping their disks."""
    body = parse_body(PatchInstancesRequest, request)
    found = [state.instance(fid) for fid in body.instances]  # 404 for an unknown one
    now = state.now()
    settled = ("STATUS_RUNNING", "STATUS_PAUSED")
    for inst in found:
        if inst.status not in settled:
            raise ApiError(409, f"Instance {inst.fid} is {inst.status}: neither running nor paused")
    for inst in found:
        if body.status == "STATUS_PAUSED" and inst.status == "STATUS_RUNNING":
            state.set_instance_status(inst, "STATUS_PAUSED", now)
        elif body.status == "STATUS_RUNNING" and inst.status == "STATUS_PAUSED":
            state.set_instance_status(inst, "STATUS_STARTING", now)
    return _ok({"instances": {inst.fid: inst.status for inst in found}})


@_route("POST", "/v2/instances/{instance_fid}/refresh-boot-disk")
def refresh_boot_disk(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    inst = state.instance(fid)
    body = parse_body(RefreshBootDiskRequest, request) if request.body.strip() else None
    image = body.image_version if body is not None else None
    check_image(image)
    if inst.status != "STATUS_RUNNING":
        raise ApiError(409, f"Instance {fid} is {inst.status}, not STATUS_RUNNING")
    now = state.now()
    state.set_instance_status(inst, "STATUS_INITIALIZING", now)  # boots again on a fresh disk
    spec = state.launch_specification(inst)
    image = image or spec.get("image_version") or IMAGE_VERSIONS[0][0]
    return _ok({"fid": fid, "image_version": image, "status": "REFRESHED"})


@_route("POST", "/v2/instances/{instance_fid}/restart")
def restart(state: FcpState, request: WireRequest, key: str, fid: str) -> WireResponse:
    inst = state.instance(fid)
    if inst.status != "STATUS_RUNNING":
        raise ApiError(409, f"Instance {fid} is {inst.status}, not STATUS_RUNNING")
    state.reboot(inst, state.now())
    return WireResponse(202, {"fid": fid, "status": "RESTARTING"})
