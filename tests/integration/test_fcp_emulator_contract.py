"""The FCP emulator against Mithril's published API contract.

The ``flow-compute`` wheel on PyPI ships Mithril's OpenAPI document. It is downloaded (never
installed: that package would shadow our ``flow`` command and import name) into the pytest
cache once, and every request the emulator accepted and every answer it gave in a scenario that
touches each implemented endpoint is validated against it. The schema wins for shapes; where
the emulator answers beyond it (error statuses the schema does not declare, query filters it
does not list), the test knows it by name and ``docs/emulators.md`` says why.
"""

from __future__ import annotations

import copy
import datetime as _dt
import json
import os
import re
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from referencing import Registry
from referencing.jsonschema import DRAFT202012
from vendor import locked

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock, RecordedCall, Timing
from flowlib.testing.emulators.fcp._models import INSTANCE_STATUSES

FLOW_COMPUTE = "3.28.2"
SPEC_IN_WHEEL = "flow/adapters/providers/builtin/mithril/api/openapi.json"
BASE = "urn:mithril-openapi"
# Read at import, before the suite's fixtures point HOME at a temporary directory.
USER_CACHE = Path.home() / ".cache" / "flowlib-test"

# Every endpoint the emulator implements; the scenario below must call each one.
ENDPOINTS = {
    ("GET", "/v2/me"),
    ("GET", "/v2/projects"),
    ("GET", "/v2/api-keys"),
    ("POST", "/v2/api-keys"),
    ("DELETE", "/v2/api-keys/{key_fid}"),
    ("GET", "/v2/instance-types"),
    ("GET", "/v2/spot/availability"),
    ("GET", "/v2/pricing/current"),
    ("POST", "/v2/spot/bids"),
    ("GET", "/v2/spot/bids"),
    ("GET", "/v2/spot/bids/{bid_fid}"),
    ("PATCH", "/v2/spot/bids/{bid_fid}"),
    ("DELETE", "/v2/spot/bids/{bid_fid}"),
    ("GET", "/v2/spot/bids/{bid_fid}/status"),
    ("GET", "/v2/spot/bids/{bid_fid}/history"),
    ("GET", "/v2/instances"),
    ("GET", "/v2/instances/{instance_fid}/status"),
    ("GET", "/v2/ssh-keys"),
    ("POST", "/v2/ssh-keys"),
    ("PATCH", "/v2/ssh-keys/{ssh_key_fid}"),
    ("DELETE", "/v2/ssh-keys/{ssh_key_fid}"),
    ("GET", "/v2/volumes"),
    ("POST", "/v2/volumes"),
    ("PATCH", "/v2/volumes/{volume_fid}"),
    ("DELETE", "/v2/volumes/{volume_fid}"),
    ("GET", "/v2/me/teammates"),
    ("GET", "/v2/quotas"),
    ("GET", "/v2/organizations/{organization_id}/quotas"),
    ("GET", "/v2/pricing/history"),
    ("GET", "/v2/image-versions"),
    ("GET", "/v2/mcc-image-versions"),
    ("POST", "/v2/lifecycle-scripts"),
    ("GET", "/v2/lifecycle-scripts"),
    ("GET", "/v2/lifecycle-scripts/{ls_fid}/content"),
    ("PATCH", "/v2/lifecycle-scripts/{ls_fid}"),
    ("DELETE", "/v2/lifecycle-scripts/{ls_fid}"),
    ("GET", "/v2/reservation/instance-types"),
    ("GET", "/v2/reservation/quote"),
    ("GET", "/v2/reservation/availability"),
    ("POST", "/v2/reservation"),
    ("GET", "/v2/reservation"),
    ("GET", "/v2/reservation/{reservation_fid}/extension-availability"),
    ("POST", "/v2/reservation/{reservation_fid}/extend"),
    ("PATCH", "/v2/reservation/{reservation_fid}"),
    ("POST", "/v2/reservation/{reservation_fid}/terminate-instances"),
    ("GET", "/v2/reservation/{reservation_fid}/history"),
    ("GET", "/v2/reservation/{reservation_fid}/usage"),
    ("GET", "/v2/cpu/instance-types"),
    ("GET", "/v2/cpu/regions"),
    ("POST", "/v2/cpu/instances"),
    ("DELETE", "/v2/cpu/instances/{instance_fid}"),
    ("GET", "/v2/kubernetes/clusters"),
    ("POST", "/v2/kubernetes/clusters"),
    ("GET", "/v2/kubernetes/clusters/{cluster_fid}"),
    ("DELETE", "/v2/kubernetes/clusters/{cluster_fid}"),
    ("PATCH", "/v2/instances"),
    ("POST", "/v2/instances/{instance_fid}/refresh-boot-disk"),
    ("POST", "/v2/instances/{instance_fid}/restart"),
    ("GET", "/v2/instances/status/history"),
    ("GET", "/v2/instances/pricing/history"),
}
# Error statuses the emulator answers that the schema does not declare (it declares only 422,
# and nothing at all for the catalog endpoints): checked against FastAPI's ``{"detail": ...}``.
ERROR_BODY = {
    "type": "object",
    "required": ["detail"],
    "properties": {"detail": {"type": ["string", "array"]}},
}
# Query parameters the emulator accepts beyond the schema (clients send them; see the docs).
EXTRA_QUERY = {("GET", "/v2/spot/availability"): {"region", "instance_type", "project"}}


# ---- the document ----------------------------------------------------------------------------


def _download_spec(cache: Path) -> dict[str, Any]:
    with locked(cache):  # xdist workers share the cache
        return _read_spec(cache)


def _read_spec(cache: Path) -> dict[str, Any]:
    target = cache / f"mithril-openapi-{FLOW_COMPUTE}.json"
    if not target.exists():
        wheels = sorted(cache.glob(f"flow_compute-{FLOW_COMPUTE}-*.whl"))
        if not wheels:
            argv = [
                sys.executable, "-m", "pip", "download", f"flow-compute=={FLOW_COMPUTE}",
                "--no-deps", "--only-binary=:all:", "--platform", "manylinux_2_28_x86_64",
                "--python-version", "3.11", "--disable-pip-version-check", "-q", "-d", str(cache),
            ]  # fmt: skip
            try:
                done = subprocess.run(argv, capture_output=True, text=True, timeout=180)
            except subprocess.TimeoutExpired:
                pytest.skip(f"PyPI did not answer in time for flow-compute=={FLOW_COMPUTE}")
            wheels = sorted(cache.glob(f"flow_compute-{FLOW_COMPUTE}-*.whl"))
            if done.returncode != 0 or not wheels:
                pytest.skip(
                    f"cannot download flow-compute=={FLOW_COMPUTE} (the contract lives in its "
                    f"wheel): {done.stderr.strip()[-300:]}"
                )
        with zipfile.ZipFile(wheels[0]) as wheel:
            target.write_bytes(wheel.read(SPEC_IN_WHEEL))
    spec: dict[str, Any] = json.loads(target.read_text())
    return spec


@pytest.fixture(scope="session")
def spec(request: pytest.FixtureRequest) -> dict[str, Any]:
    override = os.environ.get("FLOWLIB_TEST_CACHE")
    pytest_cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    if override:
        cache = Path(override)
    elif pytest_cache is not None:
        cache = Path(pytest_cache.mkdir("flowlib-openapi"))
    else:
        cache = USER_CACHE
    cache.mkdir(parents=True, exist_ok=True)
    return _download_spec(cache)


def _as_json_schema(spec: dict[str, Any]) -> dict[str, Any]:
    """The document with its OpenAPI 3.0 leftovers made JSON Schema: ``nullable: true`` (which
    the 3.1 document still uses) becomes "or null", and local refs point into the registry."""
    doc = copy.deepcopy(spec)

    def walk(node: Any) -> None:
        if isinstance(node, list):
            for item in node:
                walk(item)
        if not isinstance(node, dict):
            return
        for value in node.values():
            walk(value)
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#"):
            node["$ref"] = BASE + ref
        if node.pop("nullable", False) is True:
            if "$ref" in node:
                node["anyOf"] = [{"$ref": node.pop("$ref")}, {"type": "null"}]
            elif isinstance(node.get("type"), str):
                node["type"] = [node["type"], "null"]
            elif "type" not in node:
                pass  # untyped (``next_cursor``): null already fits
            if "enum" in node:
                node["enum"] = [*node["enum"], None]

    walk(doc)
    return doc


class Contract:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.doc = _as_json_schema(spec)
        self.registry: Registry[Any] = Registry().with_resource(
            BASE, DRAFT202012.create_resource(self.doc)
        )
        self.templates = [
            (re.compile("^" + re.sub(r"\{\w+\}", "[^/]+", path) + "$"), path)
            for path in self.doc["paths"]
        ]

    def template(self, path: str) -> str | None:
        # Prefer literal segments: /v2/instances/status/history over /v2/instances/{fid}/...
        found = [t for regex, t in self.templates if regex.match(path)]
        found.sort(key=lambda t: t.count("{"))
        return found[0] if found else None

    def errors(self, schema: dict[str, Any], instance: Any) -> list[str]:
        validator = Draft202012Validator(
            schema, registry=self.registry, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
        return [
            f"{'/'.join(str(p) for p in e.absolute_path) or '<root>'}: {e.message}"
            for e in validator.iter_errors(instance)
        ]

    def check(self, call: RecordedCall) -> list[str]:
        where = f"{call.method} {call.path} -> {call.status}"
        template = self.template(call.path)
        op = self.doc["paths"].get(template or "", {}).get(call.method.lower())
        if op is None:
            return [f"{where}: not in the published API"] if (call.status or 500) < 400 else []
        problems: list[str] = []
        accepted = call.status is not None and call.status < 400
        if accepted:
            problems += self._check_query(call, op, template or "")
            body_schema = op.get("requestBody", {}).get("content", {}).get("application/json")
            if body_schema is not None and call.request_body is not None:
                problems += [
                    f"{where} request {e}"
                    for e in self.errors(body_schema["schema"], call.request_body)
                ]
        declared = op["responses"].get(str(call.status))
        if declared is None:
            if accepted:
                return [*problems, f"{where}: status {call.status} is not declared"]
            problems += [f"{where} error {e}" for e in self.errors(ERROR_BODY, call.response_body)]
            return problems
        content = declared.get("content", {}).get("application/json")
        if content is None and not accepted:  # a declared error without a body schema
            return problems + [
                f"{where} error {e}" for e in self.errors(ERROR_BODY, call.response_body)
            ]
        if content is None:
            if call.response_body is not None:
                problems.append(f"{where}: the schema declares no body, one was sent")
            return problems
        return problems + [
            f"{where} response {e}" for e in self.errors(content["schema"], call.response_body)
        ]

    def _check_query(self, call: RecordedCall, op: dict[str, Any], template: str) -> list[str]:
        problems = []
        params = {p["name"]: p for p in op.get("parameters", []) if p["in"] == "query"}
        extra = EXTRA_QUERY.get((call.method, template), set())
        for name in call.query:
            if name not in params and name not in extra:
                problems.append(f"{call.method} {call.path}: query {name} is not in the API")
        for name, param in params.items():
            if name not in call.query:
                if param.get("required"):
                    problems.append(f"{call.method} {call.path}: required query {name} missing")
                continue
            raw = call.query[name][-1]
            value: Any = raw
            kind = param["schema"].get("type")
            kinds = kind if isinstance(kind, list) else [kind]
            if "integer" in kinds:
                value = int(raw)
            elif "boolean" in kinds:
                value = raw == "true"
            elif "array" in kinds:
                value = raw.split(",")
            problems += [f"query {name}: {e}" for e in self.errors(param["schema"], value)]
        return problems


# ---- the scenario ----------------------------------------------------------------------------


@pytest.fixture
def emu() -> Iterator[FcpEmulator]:
    with FcpEmulator(clock=ManualClock(), timing=Timing.instant(), boot=False) as emulator:
        yield emulator


def run_scenario(emu: FcpEmulator) -> None:
    """Touch every implemented endpoint, happy paths and the usual errors."""
    project = emu.project
    with emu.client() as c, httpx.Client(base_url=emu.url, transport=emu.transport()) as anon:
        anon.get("/v2/me")  # 401
        c.get("/v2/me")
        c.get("/v2/projects")
        task_key = c.post(
            "/v2/api-keys", json={"name": "task", "expires_at": "2026-02-01T00:00:00Z"}
        ).json()
        c.get("/v2/api-keys")
        c.delete(f"/v2/api-keys/{task_key['fid']}")
        types = c.get("/v2/instance-types").json()
        it = next(t["fid"] for t in types if t["name"] == "a100-80gb.sxm.1x")
        c.get("/v2/spot/availability")
        c.get("/v2/spot/availability", params={"region": "us-central1-a", "instance_type": it})
        c.get("/v2/pricing/current", params={"instance_type": it, "region": "us-central1-a"})
        c.get("/v2/pricing/current", params={"instance_type": it, "instance_quantity": 2})
        c.get("/v2/pricing/current")  # 422
        key = c.post(
            "/v2/ssh-keys", json={"project": project, "name": "gen"}
        ).json()  # generated pair
        c.post(
            "/v2/ssh-keys",
            json={"project": project, "name": "mine", "public_key": "ssh-ed25519 AAAA x"},
        )
        c.get("/v2/ssh-keys", params={"project": project})
        c.patch(f"/v2/ssh-keys/{key['fid']}", json={"required": False})
        vol = c.post(
            "/v2/volumes",
            json={"name": "data", "project": project, "disk_interface": "Block",
                  "region": "us-central1-a", "size_gb": 50},
        ).json()  # fmt: skip
        c.post("/v2/volumes", json={"name": "Bad Name"})  # 422
        c.get("/v2/volumes", params={"project": project, "region": "us-central1-a"})
        c.patch(f"/v2/volumes/{vol['fid']}", json={"name": "data-2"})
        body = {
            "project": project,
            "region": "us-central1-a",
            "instance_type": it,
            "limit_price": "$2.50",
            "instance_quantity": 2,
            "name": "contract",
            "launch_specification": {
                "volumes": [vol["fid"]],
                "ssh_keys": [key["fid"]],
                "startup_script": "#!/bin/bash\necho hi\n",
                "kubernetes_cluster": None,
            },
            "notification_email": None,
        }
        bid = c.post("/v2/spot/bids", json=body, headers={"Idempotency-Key": "k1"}).json()
        c.post("/v2/spot/bids", json={**body, "name": "contract"})  # 400 duplicate name
        c.post("/v2/spot/bids", json={"name": 1})  # 422
        bare: dict[str, list[str]] = {"volumes": [], "ssh_keys": []}
        c.post(
            "/v2/spot/bids",
            json={**body, "name": "cheap", "limit_price": "$1.00", "launch_specification": bare},
        )  # stays Open: below the market
        emu.advance(1)
        c.get("/v2/spot/bids")
        c.get("/v2/spot/bids", params={"project": project, "name": "contract", "limit": 1})
        c.get("/v2/spot/bids", params={"status": "Allocated", "sort_by": "status",
                                       "sort_dir": "desc", "region": "us-central1-a",
                                       "instance_type": it})  # fmt: skip
        page = c.get("/v2/spot/bids", params={"limit": 1}).json()
        c.get("/v2/spot/bids", params={"limit": 1, "next_cursor": page["next_cursor"]})
        c.get("/v2/spot/bids", params={"limit": 500})  # 422
        c.get(f"/v2/spot/bids/{bid['fid']}")
        c.get(f"/v2/spot/bids/{bid['fid']}/status")
        c.get("/v2/spot/bids/bid_missing/status")  # 404
        c.get("/v2/instances", params={"project": project})
        c.get("/v2/instances", params={
            "project": project, "status_in": "STATUS_RUNNING,STATUS_NEW",
            "bid_fid_in": bid["fid"], "order_type_in": "Bid", "limit": 1,
            "sort_by": "instance_status", "sort_dir": "asc",
            "instance_type": it, "region": "us-central1-a",
        })  # fmt: skip
        c.get("/v2/instances")  # 422
        inst = emu.bid(bid["fid"]).instances[0]
        c.get(f"/v2/instances/{inst}/status")
        c.patch(f"/v2/spot/bids/{bid['fid']}", json={"limit_price": "$3.00"})
        c.patch(f"/v2/spot/bids/{bid['fid']}", json={"paused": True})
        c.patch(f"/v2/spot/bids/{bid['fid']}", json={"paused": True})  # 400 already paused
        c.patch(f"/v2/spot/bids/{bid['fid']}", json={"volumes": []})
        c.patch(f"/v2/spot/bids/{bid['fid']}", json={"paused": False})
        emu.advance(60)
        emu.preempt(bid["fid"])
        c.get(f"/v2/spot/bids/{bid['fid']}")
        emu.advance(300)
        c.get("/v2/instances", params={"project": project})
        c.delete(f"/v2/volumes/{vol['fid']}")
        c.delete(f"/v2/spot/bids/{bid['fid']}")
        c.delete(f"/v2/spot/bids/{bid['fid']}")  # again: 204
        c.get(f"/v2/spot/bids/{bid['fid']}/history")
        c.get(f"/v2/spot/bids/{bid['fid']}")
        emu.advance(60)
        c.get("/v2/instances", params={"project": project})
        c.get(f"/v2/instances/{inst}/status")
        c.delete(f"/v2/ssh-keys/{key['fid']}")
        c.get("/v2/volumes", params={"project": project, "include_deleted": "true"})
        run_rest_of_the_api(emu, c, it)


def run_rest_of_the_api(emu: FcpEmulator, c: httpx.Client, it: str) -> None:
    """Reservations, CPU VMs, clusters, lifecycle scripts, histories, quotas and images."""
    project = emu.project
    key = c.post("/v2/ssh-keys", json={"project": project, "name": "k8s"}).json()["fid"]
    c.get("/v2/me/teammates")
    c.get("/v2/quotas", params={"project": project})
    c.get(f"/v2/organizations/{emu.state.organization_id}/quotas")
    c.get("/v2/organizations/org_missing/quotas")  # 404
    c.get("/v2/pricing/history", params={"instance_types": it, "region": "us-central1-a"})
    c.get("/v2/pricing/history", params={"num_samples": 1, "start_time": "2025-01-01T00:00:00Z"})
    c.get("/v2/image-versions")
    c.get("/v2/mcc-image-versions", params={"region": "us-central1-a"})
    script = c.post(
        "/v2/lifecycle-scripts",
        json={"project": project, "name": "setup", "content": "#!/bin/bash\necho set up\n"},
    ).json()
    c.post("/v2/lifecycle-scripts", json={"project": project, "name": "", "content": "x"})  # 422
    c.get("/v2/lifecycle-scripts", params={"project": project, "sort_by": "last_modified_at"})
    assert c.get(f"/v2/lifecycle-scripts/{script['fid']}/content").json().startswith("#!")
    c.patch(f"/v2/lifecycle-scripts/{script['fid']}", json={"description": "boot"})
    c.delete(f"/v2/lifecycle-scripts/{script['fid']}")
    c.get(f"/v2/lifecycle-scripts/{script['fid']}/content")  # 404
    # Reservations: quote, availability, reserve from now, extend, pause, terminate.
    c.get("/v2/reservation/instance-types")
    now = emu.clock.time()
    start, end = _iso(now), _iso(now + 4 * 3600)
    window = {"project": project, "instance_type": it, "region": "us-central1-a"}
    c.get("/v2/reservation/quote", params={**window, "start_time": start, "end_time": end,
                                           "quantity": 2})  # fmt: skip
    c.get("/v2/reservation/availability", params={**window, "mode": "slots", "quantity": 1})
    c.get("/v2/reservation/availability", params=window)
    c.get("/v2/reservation/availability", params={**window, "mode": "check", "start_time": start,
                                                  "end_time": end})  # fmt: skip
    res_body = {
        **window, "start_time": start, "end_time": end, "instance_quantity": 2,
        "name": "reserved", "launch_specification": {"volumes": [], "ssh_keys": [key]},
        "price_specification": {"offer_key": "standard"},
    }  # fmt: skip
    res = c.post("/v2/reservation", json=res_body).json()
    c.post("/v2/reservation", json={**res_body, "instance_quantity": 100})  # 400: no capacity
    c.post("/v2/reservation", json={**res_body, "end_time": start})  # 400: empty window
    later = {**res_body, "name": "later", "instance_quantity": 1,
             "start_time": _iso(now + 86400), "end_time": _iso(now + 2 * 86400)}  # fmt: skip
    c.post("/v2/reservation", json=later)
    emu.advance(1)
    c.get("/v2/reservation", params={"project": project, "status": "Active", "limit": 1})
    c.get("/v2/reservation", params={"project": project, "sort_by": "status", "sort_dir": "desc"})
    fid = res["fid"]
    c.get(f"/v2/reservation/{fid}/extension-availability")
    c.post(f"/v2/reservation/{fid}/extend", json={"end_time": _iso(now + 6 * 3600)})
    c.post(f"/v2/reservation/{fid}/extend", json={"end_time": start})  # 400: not later
    c.patch(f"/v2/reservation/{fid}", json={"paused": True})
    c.patch(f"/v2/reservation/{fid}", json={"paused": False})
    emu.advance(1)
    mine = {"project": project, "reservation_fid_in": fid, "order_type_in": "Reservation"}
    instances = c.get("/v2/instances", params=mine).json()["data"]
    assert len(instances) == 2
    first, second = instances[0]["fid"], instances[1]["fid"]
    c.patch("/v2/instances", json={"instances": [first], "status": "STATUS_PAUSED"})
    assert c.post(f"/v2/instances/{first}/restart").status_code == 409  # paused
    assert c.post(f"/v2/instances/{first}/refresh-boot-disk", json={}).status_code == 409
    c.patch("/v2/instances", json={"instances": [first], "status": "STATUS_RUNNING"})
    c.patch("/v2/instances", json={"instances": ["inst_missing"], "status": "STATUS_PAUSED"})
    emu.advance(1)
    c.post(f"/v2/instances/{first}/restart")
    c.post(f"/v2/instances/{second}/restart")
    emu.advance(1)
    c.post(f"/v2/instances/{first}/refresh-boot-disk", json={"image_version": None})
    c.post(f"/v2/reservation/{fid}/terminate-instances",
           json={"instances": [second, "inst_missing"], "reduce_capacity": True})  # fmt: skip
    c.post(
        f"/v2/reservation/{fid}/terminate-instances",
        json={"instances": ["inst_missing"], "reduce_capacity": False},
    )  # 404 fmt: skip
    c.get(f"/v2/reservation/{fid}/history")
    c.get(f"/v2/reservation/{fid}/usage")
    c.get("/v2/reservation/res_missing/history")  # 404
    history = {"project": project, "reservation_fid": fid, "limit": 5}
    c.get("/v2/instances/status/history", params=history)
    c.get("/v2/instances/pricing/history", params=history)
    c.get("/v2/instances/pricing/history", params={"project": project})
    emu.advance(7 * 3600)  # the reservation ends
    c.get(f"/v2/reservation/{fid}/usage")
    c.post(
        f"/v2/reservation/{fid}/terminate-instances",
        json={"instances": [first], "reduce_capacity": True},
    )  # 400: ended fmt: skip
    # CPU VMs and Kubernetes clusters.
    cpu = c.get("/v2/cpu/instance-types").json()[0]["fid"]
    region = c.get("/v2/cpu/regions").json()[0]["name"]
    vm_body = {"name": "cpu", "project": project, "instance_type": cpu, "region": region}
    vm = c.post("/v2/cpu/instances", json=vm_body).json()
    c.post(
        "/v2/cpu/instances",
        json={"name": "x", "project": project, "instance_type": it, "region": region},
    )  # 404 fmt: skip
    c.delete(f"/v2/cpu/instances/{vm['fid']}")
    cluster = c.post("/v2/kubernetes/clusters", json={
        "name": "k", "project": project, "region": "us-central1-a", "ssh_keys": [key],
        "instance_type": it,
    }).json()  # fmt: skip
    c.post("/v2/kubernetes/clusters", json={"name": "k", "project": project})  # 422
    emu.advance(1)
    c.get("/v2/kubernetes/clusters", params={"project": project})
    c.get(f"/v2/kubernetes/clusters/{cluster['fid']}")
    c.delete(f"/v2/kubernetes/clusters/{cluster['fid']}")
    c.get(f"/v2/kubernetes/clusters/{cluster['fid']}")


def _iso(epoch: float) -> str:
    return _dt.datetime.fromtimestamp(epoch, _dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_every_exchange_matches_the_published_schema(
    spec: dict[str, Any], emu: FcpEmulator
) -> None:
    contract = Contract(spec)
    run_scenario(emu)
    assert emu.errors == []
    hit = {(c.method, contract.template(c.path)) for c in emu.calls}
    assert hit >= ENDPOINTS, f"the scenario misses {sorted(ENDPOINTS - hit)}"
    problems = [p for call in emu.calls for p in contract.check(call)]
    assert problems == [], "\n".join(problems)


def test_coverage_is_the_whole_published_api(spec: dict[str, Any]) -> None:
    """Every path and method of the document is served (the emulator's own route table)."""
    from flowlib.testing.emulators.fcp._api import _ROUTES

    served = {(method, regex.pattern) for method, regex, _h in _ROUTES}
    published = {(m.upper(), p) for p, ops in spec["paths"].items() for m in ops}

    def serves(method: str, path: str) -> bool:
        sample = re.sub(r"\{\w+\}", "x_1", path)
        return any(m == method and re.match(rx, sample) for m, rx in served)

    missing = sorted(op for op in published if not serves(*op))
    paths = {p for _m, p in published}
    whole = {p for p in paths if all(serves(m, p) for m, q in published if q == p)}
    print(
        f"\nFCP emulator coverage: {len(whole)}/{len(paths)} paths, "
        f"{len(published) - len(missing)}/{len(published)} operations of flow-compute "
        f"{FLOW_COMPUTE}'s openapi.json"
    )
    assert missing == [], f"not served: {missing}"
    assert published == ENDPOINTS  # and the scenario above calls every one of them


def test_every_implemented_endpoint_is_in_the_published_api(spec: dict[str, Any]) -> None:
    missing = [
        f"{method} {path}"
        for method, path in sorted(ENDPOINTS)
        if method.lower() not in spec["paths"].get(path, {})
    ]
    assert missing == []


def test_the_schema_still_says_what_the_emulator_relies_on(spec: dict[str, Any]) -> None:
    schemas = spec["components"]["schemas"]
    assert set(schemas["CreateBidRequest"]["required"]) == {
        "project", "region", "instance_type", "limit_price", "instance_quantity", "name",
        "launch_specification",
    }  # fmt: skip
    assert set(schemas["LaunchSpecificationModel"]["required"]) == {"volumes", "ssh_keys"}
    assert schemas["BidModel"]["properties"]["status"]["enum"] == [
        "Open", "Allocated", "Preempting", "Terminated", "Paused",
    ]  # fmt: skip
    assert tuple(schemas["InstanceModel"]["properties"]["status"]["enum"]) == INSTANCE_STATUSES
    assert "public_ip" not in schemas["InstanceModel"]["properties"]
    assert "ssh_destination" in schemas["InstanceModel"]["properties"]
    instances = {p["name"]: p for p in spec["paths"]["/v2/instances"]["get"]["parameters"]}
    assert instances["project"]["required"] is True
    assert instances["limit"]["schema"]["maximum"] == 100
    assert spec["components"]["securitySchemes"]["MithrilAPIKey"]["bearerFormat"] == "fkey_<key>"
    assert set(spec["paths"]["/v2/spot/bids/{bid_fid}"]["delete"]["responses"]) >= {"204"}


def test_the_check_is_not_vacuous(spec: dict[str, Any], emu: FcpEmulator) -> None:
    contract = Contract(spec)
    with emu.client() as client:
        client.get("/v2/instances", params={"project": emu.project})
    good = emu.calls[-1]
    assert contract.check(good) == []
    broken_page = {"data": [{"fid": "inst_x", "status": "RUNNING"}], "next_cursor": None}
    bad = RecordedCall(**{**good.__dict__, "response_body": broken_page})
    problems = contract.check(bad)
    assert any("'name' is a required property" in p for p in problems)
    assert any("'RUNNING' is not one of" in p for p in problems)
    undeclared = RecordedCall(**{**good.__dict__, "query": {"project": ["p"], "colour": ["red"]}})
    assert any("query colour is not in the API" in p for p in contract.check(undeclared))
