"""The routes of the emulated Hyperstack (Infrahub) API, under ``/v1``."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from .._clock import iso
from .._routing import Router
from .._wire import WireRequest, WireResponse
from ._entities import HyperstackError, Volume
from ._models import (
    AttachVolumesBody,
    CreateEnvironmentBody,
    CreateVmBody,
    CreateVolumeBody,
    DetachVolumesBody,
    ImportKeypairBody,
    RenameBody,
    SecurityRuleBody,
    parse_body,
    query_int,
    query_value,
)
from ._state import ACTIONS, HyperstackState

__all__ = ["VOLUME_TYPES", "route"]

Handler = Callable[[HyperstackState, WireRequest, dict[str, str]], WireResponse]
_router: Router[Handler] = Router()
T = TypeVar("T")
VOLUME_TYPES = ("Cloud-SSD",)


def route(state: HyperstackState, request: WireRequest) -> WireResponse:
    """Answer ``request``: 429 over the rate limit, 401 without a valid ``api_key`` header,
    404/405 for unknown routes, else the handler's answer."""
    if state.over_rate_limit():
        raise HyperstackError(429, "Too many requests: the limit is per minute, try again later")
    found = _router.find(request.method, request.path)
    if found is False:
        raise HyperstackError(404, f"The requested URL {request.path} was not found")
    key = request.header("api_key")
    if not key:
        raise HyperstackError(401, "Missing api_key header")
    if key not in state.api_keys:
        raise HyperstackError(401, "Invalid api_key")
    if found is True:
        raise HyperstackError(405, f"Method {request.method} is not allowed on {request.path}")
    assert not isinstance(found, bool)
    handler, params = found
    return handler(state, request, params)


def _ok(message: str, **payload: Any) -> WireResponse:
    return WireResponse(200, {"status": True, "message": message, **payload})


def _id(params: dict[str, str], name: str) -> int:
    try:
        return int(params[name])
    except ValueError:
        raise HyperstackError(404, f"{params[name]} is not a valid id") from None


def _page(
    request: WireRequest, items: Sequence[T], default: int
) -> tuple[Sequence[T], dict[str, Any]]:
    """``page`` (1-based) and ``pageSize``; without either, everything and null page fields."""
    page = query_int(request, "page")
    size = query_int(request, "pageSize")
    if page is None and size is None:
        return items, {"count": len(items), "page": None, "page_size": None}
    page, size = page or 1, size or default
    chunk = items[(page - 1) * size : page * size]
    return chunk, {"count": len(items), "page": page, "page_size": size}


# ---- catalog ---------------------------------------------------------------------------------


@_router("GET", "/v1/core/regions")
def regions(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    rows = [
        {
            "id": index + 1,
            "name": name,
            "description": description,
            "country": country,
            "green_status": "GREEN",
            "features": {},
        }
        for index, (name, country, description) in enumerate(state.regions)
    ]
    return _ok("Getting regions successful", regions=rows)


@_router("GET", "/v1/core/flavors")
def flavors(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    region = query_value(request, "region")
    if region is not None and region not in state.region_names():
        raise HyperstackError(404, f"Region {region} not found")
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for flavor in state.flavors:
        if region is None or flavor.spec.region == region:
            key = (flavor.spec.gpu, flavor.spec.region)
            groups.setdefault(key, []).append(flavor.to_json(state.in_stock(flavor)))
    data = [
        {"gpu": gpu, "region_name": reg, "flavors": rows} for (gpu, reg), rows in groups.items()
    ]
    return _ok("Success", data=data)


@_router("GET", "/v1/core/stocks")
def stocks(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    by_region: dict[str, list[dict[str, Any]]] = {}
    for (region, gpu), _total in state.stock.items():
        free = state.gpus_free(region, gpu)
        configs = {f"{n}x": free // n for n in (1, 2, 4, 8, 10)}
        by_region.setdefault(region, []).append(
            {
                "model": gpu,
                "available": str(free),
                "planned_7_days": None,
                "planned_30_days": None,
                "planned_100_days": None,
                "configurations": configs,
            }
        )
    rows = [{"region": r, "stock-type": "GPU", "models": m} for r, m in by_region.items()]
    return WireResponse(200, {"stocks": rows})


@_router("GET", "/v1/pricebook")
def pricebook(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    rows = [
        {
            "id": index + 1,
            "name": name,
            "value": value,
            "original_value": value,
            "discount_applied": False,
            "start_time": None,
            "end_time": None,
        }
        for index, (name, value) in enumerate(state.prices.items())
    ]
    return WireResponse(200, rows)


@_router("GET", "/v1/core/images")
def images(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    region = query_value(request, "region")
    groups = []
    for index, (name, _country, _desc) in enumerate(state.regions):
        if region is not None and region != name:
            continue
        rows = [_image(name, index, n, image) for n, image in enumerate(state.images)]
        groups.append({"region_name": name, "type": "Ubuntu", "logo": None, "images": rows})
    return _ok("Images retrieved", images=groups)


@_router("GET", "/v1/core/images/{image_id}")
def get_image(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    """One image by id (ids are ``100 * (region index + 1) + image index``). The SDK's ``Image``
    model is ``{"image": {...}}`` alone: no status or message."""
    wanted = _id(p, "image_id")
    region_index, image_index = divmod(wanted - 100, 100)
    if 0 <= region_index < len(state.regions) and 0 <= image_index < len(state.images):
        region = state.regions[region_index][0]
        row = _image(region, region_index, image_index, state.images[image_index])
        return WireResponse(200, {"image": row})
    raise HyperstackError(404, f"Image {wanted} not found")


def _image(region: str, region_index: int, n: int, image: str) -> dict[str, Any]:
    return {
        "id": 100 * (region_index + 1) + n,
        "name": image,
        "region_name": region,
        "type": "Ubuntu",
        "version": image.split()[2],
        "size": 20,
        "display_size": "20 GB",
        "description": image,
        "is_public": True,
        "labels": [],
    }


# ---- environments and keypairs ---------------------------------------------------------------


@_router("GET", "/v1/core/environments")
def list_environments(
    state: HyperstackState, request: WireRequest, _: dict[str, str]
) -> WireResponse:
    items = sorted(state.environments.values(), key=lambda e: e.id)
    chunk, meta = _page(request, items, state.options.default_page_size)
    return _ok("Success", environments=[e.to_json() for e in chunk], **meta)


@_router("POST", "/v1/core/environments")
def create_environment(
    state: HyperstackState, request: WireRequest, _: dict[str, str]
) -> WireResponse:
    body = parse_body(CreateEnvironmentBody, request)
    env = state.create_environment(body.name, body.region)
    return _ok("Environment created", environment=env.to_json())


@_router("GET", "/v1/core/environments/{env_id}")
def get_environment(
    state: HyperstackState, request: WireRequest, p: dict[str, str]
) -> WireResponse:
    return _ok("Success", environment=state.environment(_id(p, "env_id")).to_json())


@_router("PUT", "/v1/core/environments/{env_id}")
def rename_environment(
    state: HyperstackState, request: WireRequest, p: dict[str, str]
) -> WireResponse:
    env = state.environment(_id(p, "env_id"))
    env.name = parse_body(RenameBody, request).name
    return _ok("Environment updated", environment=env.to_json())


@_router("DELETE", "/v1/core/environments/{env_id}")
def delete_environment(
    state: HyperstackState, request: WireRequest, p: dict[str, str]
) -> WireResponse:
    state.delete_environment(_id(p, "env_id"))
    return _ok("Environment deleted")


@_router("GET", "/v1/core/keypairs")
def list_keypairs(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    search = query_value(request, "search")
    items = [
        k
        for k in sorted(state.keypairs.values(), key=lambda k: k.id)
        if not search or search in k.name
    ]
    chunk, meta = _page(request, items, state.options.default_page_size)
    return _ok("Success", keypairs=[k.to_json() for k in chunk], **meta)


@_router("POST", "/v1/core/keypairs")
def import_keypair(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    body = parse_body(ImportKeypairBody, request)
    key = state.import_keypair(body.name, body.environment_name, body.public_key)
    return _ok("Keypair imported", keypair=key.to_json())


@_router("PUT", "/v1/core/keypair/{key_id}")
def rename_keypair(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    key = state.keypair(_id(p, "key_id"))
    key.name = parse_body(RenameBody, request).name
    return _ok("Keypair updated", keypair=key.to_json())


@_router("DELETE", "/v1/core/keypair/{key_id}")
def delete_keypair(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    del state.keypairs[state.keypair(_id(p, "key_id")).id]
    return _ok("Keypair deleted")


# ---- virtual machines ------------------------------------------------------------------------


@_router("GET", "/v1/core/virtual-machines")
def list_vms(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    search = query_value(request, "search")
    environment = query_value(request, "environment")
    exact = (query_value(request, "exact_environment_match") or "").lower() == "true"
    items = []
    for vm in sorted(state.live_vms(), key=lambda v: (v.created_at, v.id)):  # oldest first
        if search and search not in vm.name:
            continue
        env_name = vm.environment.name
        if environment and (env_name != environment if exact else environment not in env_name):
            continue
        items.append(vm)
    chunk, meta = _page(request, items, state.options.default_page_size)
    return _ok("Getting instances successful", instances=[state.vm_json(v) for v in chunk], **meta)


@_router("POST", "/v1/core/virtual-machines")
def create_vms(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    vms = state.create_vms(parse_body(CreateVmBody, request))
    return _ok("Instance(s) creation started", instances=[state.vm_json(v) for v in vms])


@_router("GET", "/v1/core/virtual-machines/name-availability/{name}")
def name_available(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    taken = any(vm.name == p["name"] for vm in state.live_vms())
    message = "Name is already taken" if taken else "Name is available"
    return WireResponse(200, {"available": not taken, "name": p["name"], "message": message})


@_router("GET", "/v1/core/virtual-machines/{vm_id}")
def get_vm(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    vm = state.vm(_id(p, "vm_id"))
    return _ok("Instance details retrieved", instance=state.vm_json(vm))


@_router("DELETE", "/v1/core/virtual-machines/{vm_id}")
def delete_vm(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    state.delete_vm(state.vm(_id(p, "vm_id")))
    return _ok("Instance deletion started")


def _action(action: str) -> Handler:
    def handler(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
        vm = state.vm(_id(p, "vm_id"))
        retain = (query_value(request, "retain_ip") or "false").lower() == "true"
        state.act(vm, action, retain_ip=retain)
        return _ok(f"Instance {action} started")

    return handler


for _name in ACTIONS:
    _router("GET", f"/v1/core/virtual-machines/{{vm_id}}/{_name}")(_action(_name))


@_router("POST", "/v1/core/virtual-machines/{vm_id}/attach-floatingip")
def attach_ip(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    vm = state.vm(_id(p, "vm_id"))
    if vm.floating_ip is not None:
        raise HyperstackError(400, f"Virtual machine {vm.id} already has a public IP")
    if vm.status != "ACTIVE":
        raise HyperstackError(400, f"Virtual machine {vm.id} is {vm.status}, not ACTIVE")
    vm.assign_floating_ip = True
    state.attach_ip(vm, state.now())
    return _ok("Public IP attached")


@_router("POST", "/v1/core/virtual-machines/{vm_id}/detach-floatingip")
def detach_ip(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    vm = state.vm(_id(p, "vm_id"))
    if vm.floating_ip is None:
        raise HyperstackError(400, f"Virtual machine {vm.id} has no public IP")
    vm.assign_floating_ip = False
    state.detach_ip(vm)
    return _ok("Public IP detached")


@_router("POST", "/v1/core/virtual-machines/{vm_id}/sg-rules")
def add_rule(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    vm = state.vm(_id(p, "vm_id"))
    rule = state.add_rule(vm, parse_body(SecurityRuleBody, request).model_dump())
    return _ok("Security rule created", security_rule=rule.to_json())


@_router("DELETE", "/v1/core/virtual-machines/{vm_id}/sg-rules/{rule_id}")
def delete_rule(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    vm = state.vm(_id(p, "vm_id"))
    rule_id = _id(p, "rule_id")
    kept = [r for r in vm.security_rules if r.id != rule_id]
    if len(kept) == len(vm.security_rules):
        raise HyperstackError(404, f"Security rule {rule_id} not found")
    vm.security_rules = kept
    return _ok("Security rule deleted")


@_router("POST", "/v1/core/virtual-machines/{vm_id}/attach-volumes")
def attach_volumes(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    vm = state.vm(_id(p, "vm_id"))
    body = parse_body(AttachVolumesBody, request)
    if vm.status in ("DELETING", "ERROR", "CREATING"):
        raise HyperstackError(400, f"Cannot attach volumes to a VM in status {vm.status}")
    vols = [state.volume(v) for v in body.volume_ids]
    for vol in vols:
        state.attach(vol, vm, body.protected)
    return _ok("Volumes attached", volume_attachments=[_attachment(v, vm.id, state) for v in vols])


@_router("POST", "/v1/core/virtual-machines/{vm_id}/detach-volumes")
def detach_volumes(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    vm = state.vm(_id(p, "vm_id"))
    body = parse_body(DetachVolumesBody, request)
    rows = []
    for vol in (state.volume(v) for v in body.volume_ids):
        if vol.attached_to != vm.id:
            raise HyperstackError(400, f"Volume {vol.id} is not attached to {vm.id}")
        row = _attachment(vol, vm.id, state)
        state.detach(vol)
        rows.append({**row, "status": "detached"})
    return _ok("Volumes detached", volume_attachments=rows)


def _attachment(vol: Volume, vm_id: int, state: HyperstackState) -> dict[str, Any]:
    return {
        "id": vol.attachment_id,
        "volume_id": vol.id,
        "instance_id": vm_id,
        "device": vol.device,
        "status": "attached",
        "protected": vol.protected,
        "created_at": iso(state.now()),
    }


# ---- volumes ---------------------------------------------------------------------------------


@_router("GET", "/v1/core/volume-types")
def volume_types(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    return _ok("Success", volume_types=list(VOLUME_TYPES))


@_router("GET", "/v1/core/volumes")
def list_volumes(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    items = sorted(state.volumes.values(), key=lambda v: v.id)
    chunk, meta = _page(request, items, state.options.default_page_size)
    return _ok("Success", volumes=[v.to_json(listed=True) for v in chunk], **meta)


@_router("POST", "/v1/core/volumes")
def create_volume(state: HyperstackState, request: WireRequest, _: dict[str, str]) -> WireResponse:
    body = parse_body(CreateVolumeBody, request)
    env = state.environment_named(body.environment_name)
    if body.volume_type not in VOLUME_TYPES:
        raise HyperstackError(
            400, f"Unknown volume_type {body.volume_type}; valid: {', '.join(VOLUME_TYPES)}"
        )
    if any(v.name == body.name and v.environment.id == env.id for v in state.volumes.values()):
        raise HyperstackError(409, f"Volume with name {body.name} already exists")
    now = state.now()
    vol = Volume(
        state.new_id("vol"),
        body.name,
        env,
        body.size,
        body.volume_type,
        body.description,
        now,
        since=now,
    )
    state.add_volume(vol)
    return _ok("Volume creation started", volume=vol.to_json())


@_router("GET", "/v1/core/volumes/{volume_id}")
def get_volume(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    return _ok("Success", volume=state.volume(_id(p, "volume_id")).to_json())


@_router("DELETE", "/v1/core/volumes/{volume_id}")
def delete_volume(state: HyperstackState, request: WireRequest, p: dict[str, str]) -> WireResponse:
    state.delete_volume(state.volume(_id(p, "volume_id")))
    return _ok("Volume deleted")
