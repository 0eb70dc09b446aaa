"""Every answer of the Hyperstack emulator deserializes with the official SDK's generated models
(PyPI ``hyperstack``, a test-only dependency), and uses no key those models do not declare.

The scenario calls each implemented endpoint, successes and the usual errors; each recorded
exchange is checked against the model the SDK's API class declares for that path and status.
"""

from __future__ import annotations

import re
import typing
from typing import Any

import pytest

from flowlib.testing.emulators.hyperstack import (
    HyperstackEmulator,
    ManualClock,
    RecordedCall,
    Timing,
)

models = pytest.importorskip("hyperstack.models", reason="the `hyperstack` SDK is not installed")

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"
VM = "/v1/core/virtual-machines/{id}"
# (method, path template) -> the SDK's 200 model, as its API classes declare it.
RESPONSES: dict[tuple[str, str], str] = {
    ("GET", "/v1/core/regions"): "Regions",
    ("GET", "/v1/core/flavors"): "FlavorListResponse",
    ("GET", "/v1/core/stocks"): "NewStockRetriveResponse",
    ("GET", "/v1/pricebook"): "List[PricebookModel]",
    ("GET", "/v1/core/images"): "Images",
    ("GET", "/v1/core/images/{id}"): "Image",
    ("GET", "/v1/core/environments"): "Environments",
    ("POST", "/v1/core/environments"): "Environment",
    ("GET", "/v1/core/environments/{id}"): "Environment",
    ("PUT", "/v1/core/environments/{id}"): "Environment",
    ("DELETE", "/v1/core/environments/{id}"): "ResponseModel",
    ("GET", "/v1/core/keypairs"): "Keypairs",
    ("POST", "/v1/core/keypairs"): "ImportKeypairResponse",
    ("PUT", "/v1/core/keypair/{id}"): "UpdateKeypairNameResponse",
    ("DELETE", "/v1/core/keypair/{id}"): "ResponseModel",
    ("GET", "/v1/core/virtual-machines"): "Instances",
    ("POST", "/v1/core/virtual-machines"): "CreateInstancesResponse",
    ("GET", "/v1/core/virtual-machines/name-availability/{id}"): "NameAvailableModel",
    ("GET", VM): "Instance",
    ("DELETE", VM): "ResponseModel",
    **{
        ("GET", f"{VM}/{a}"): "ResponseModel"
        for a in ("start", "stop", "hibernate", "hibernate-restore", "hard-reboot")
    },
    ("POST", f"{VM}/attach-floatingip"): "ResponseModel",
    ("POST", f"{VM}/detach-floatingip"): "ResponseModel",
    ("POST", f"{VM}/sg-rules"): "SecurityGroupRule",
    ("DELETE", f"{VM}/sg-rules/{{id}}"): "ResponseModel",
    ("POST", f"{VM}/attach-volumes"): "AttachVolumes",
    ("POST", f"{VM}/detach-volumes"): "DetachVolumes",
    ("GET", "/v1/core/volume-types"): "VolumeTypes",
    ("GET", "/v1/core/volumes"): "Volumes",
    ("POST", "/v1/core/volumes"): "Volume",
    ("GET", "/v1/core/volumes/{id}"): "Volume",
    ("DELETE", "/v1/core/volumes/{id}"): "ResponseModel",
}


def template(path: str) -> str:
    path = re.sub(r"/name-availability/[^/]+$", "/name-availability/{id}", path)
    return re.sub(r"/\d+(?=/|$)", "/{id}", path)


def undeclared(model: Any, data: Any, where: str) -> list[str]:
    """Keys of ``data`` that ``model`` (a pydantic class of the SDK) does not declare, at any
    depth (the SDK would silently drop them)."""
    if not isinstance(data, dict):
        return []
    fields = {(f.alias or name): f.annotation for name, f in model.model_fields.items()}
    problems = [f"{where}.{key}" for key in data if key not in fields]
    for key, value in data.items():
        inner = _model_in(fields.get(key))
        if inner is None or value is None:
            continue
        items = value if isinstance(value, list) else [value]
        for n, item in enumerate(items):
            problems += undeclared(inner, item, f"{where}.{key}[{n}]")
    return problems


def _model_in(annotation: Any) -> Any:
    if isinstance(annotation, type) and hasattr(annotation, "model_fields"):
        return annotation
    for arg in typing.get_args(annotation):
        found = _model_in(arg)
        if found is not None:
            return found
    return None


def check(call: RecordedCall) -> list[str]:
    assert call.status is not None
    if call.status >= 400:
        model = models.ErrorResponseModel
        model.from_dict(call.response_body)
        return undeclared(model, call.response_body, f"{call.method} {call.path} {call.status}")
    name = RESPONSES[(call.method, template(call.path))]
    where = f"{call.method} {call.path}"
    if name.startswith("List["):
        model = getattr(models, name[5:-1])
        assert isinstance(call.response_body, list), where
        problems = []
        for row in call.response_body:
            model.from_dict(row)
            problems += undeclared(model, row, where)
        return problems
    model = getattr(models, name)
    assert model.from_dict(call.response_body) is not None, where
    return undeclared(model, call.response_body, where)


def scenario(emu: HyperstackEmulator) -> None:
    with emu.client() as api:
        for path in ("/core/regions", "/core/flavors", "/core/stocks", "/pricebook"):
            api.get(path)
        api.get("/core/flavors", params={"region": "CANADA-1"})
        api.get("/core/images", params={"region": "CANADA-1"})
        image = api.get("/core/images").json()["images"][0]["images"][0]["id"]
        api.get(f"/core/images/{image}")
        api.get("/core/images/99999")  # 404
        env = api.post("/core/environments", json={"name": "env", "region": "CANADA-1"}).json()
        env_id = env["environment"]["id"]
        api.post("/core/environments", json={"name": "env", "region": "CANADA-1"})  # 409
        api.get(f"/core/environments/{env_id}")
        api.put(f"/core/environments/{env_id}", json={"name": "env"})
        api.get("/core/environments", params={"page": 1, "pageSize": 10})
        key = {"name": "key", "environment_name": "env", "public_key": PUBLIC_KEY}
        key_id = api.post("/core/keypairs", json=key).json()["keypair"]["id"]
        api.put(f"/core/keypair/{key_id}", json={"name": "key2"})
        api.put(f"/core/keypair/{key_id}", json={"name": "key"})
        api.get("/core/keypairs")
        body = {
            "name": "vm",
            "environment_name": "env",
            "flavor_name": "n3-RTX-A6000x1",
            "key_name": "key",
            "count": 1,
            "assign_floating_ip": True,
            "image_name": "Ubuntu Server 22.04 LTS R535 CUDA 12.2",
            "user_data": "#!/bin/bash\ntrue\n",
            "labels": ["flowlib"],
            "security_rules": [
                {
                    "direction": "ingress",
                    "ethertype": "IPv4",
                    "protocol": "tcp",
                    "remote_ip_prefix": "0.0.0.0/0",
                    "port_range_min": 22,
                    "port_range_max": 22,
                }
            ],
        }
        vm_id = api.post("/core/virtual-machines", json=body).json()["instances"][0]["id"]
        api.post("/core/virtual-machines", json={**body, "flavor_name": "nope"})  # 404
        api.get(f"/core/virtual-machines/{vm_id}/hibernate")  # 400: not ACTIVE yet
        emu.advance(10)
        vm = f"/core/virtual-machines/{vm_id}"
        api.get("/core/virtual-machines", params={"page": 1, "pageSize": 5, "search": "vm"})
        api.get("/core/virtual-machines/name-availability/vm")
        rule = {**body["security_rules"][0], "port_range_min": 8888, "port_range_max": 8888}
        rule_id = api.post(f"{vm}/sg-rules", json=rule).json()["security_rule"]["id"]
        api.delete(f"{vm}/sg-rules/{rule_id}")
        vol_body = {"name": "d", "environment_name": "env", "size": 5, "volume_type": "Cloud-SSD"}
        vol_id = api.post("/core/volumes", json=vol_body).json()["volume"]["id"]
        api.get("/core/volume-types")
        emu.advance(5)
        api.post(f"{vm}/attach-volumes", json={"volume_ids": [vol_id]})
        api.get(vm)
        api.get("/core/volumes")
        api.get(f"/core/volumes/{vol_id}")
        api.post(f"{vm}/detach-volumes", json={"volume_ids": [vol_id]})
        api.delete(f"/core/volumes/{vol_id}")
        api.post(f"{vm}/detach-floatingip")
        api.post(f"{vm}/attach-floatingip")
        for action in ("stop", "start", "hibernate", "hibernate-restore", "hard-reboot"):
            api.get(
                f"{vm}/{action}", params={"retain_ip": "true"} if action == "hibernate" else None
            )
            emu.advance(10)
        api.delete(vm)
        emu.advance(10)
        api.get(vm)  # 404
        api.delete(f"/core/keypair/{key_id}")
        api.delete(f"/core/environments/{env_id}")
    with emu.client(headers={"api_key": "wrong"}) as anonymous:
        anonymous.get("/core/flavors")  # 401


def test_every_answer_deserializes_with_the_official_sdk_models() -> None:
    with HyperstackEmulator(clock=ManualClock(), timing=Timing(), boot=False) as emu:
        scenario(emu)
        assert emu.errors == []
        statuses = {c.status for c in emu.calls}
        assert {200, 400, 401, 404, 409} <= statuses
        covered = {(c.method, template(c.path)) for c in emu.calls if c.status == 200}
        assert covered == set(RESPONSES)  # every implemented endpoint was exercised
        problems = [p for call in emu.calls for p in check(call)]
        assert problems == []
