"""The Hyperstack emulator's API in-process: auth, envelopes, catalog, pagination, errors,
rate limit and faults (no socket, no sleeping: a manual clock)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.hyperstack import HyperstackEmulator, ManualClock, Options

PUBLIC_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl me"


@pytest.fixture
def hs(clock: ManualClock) -> Iterator[HyperstackEmulator]:
    with HyperstackEmulator(clock=clock, boot=False) as emulator:
        yield emulator


@pytest.fixture
def api(hs: HyperstackEmulator) -> Iterator[httpx.Client]:
    with hs.client() as client:
        yield client


def setup_env(api: httpx.Client, region: str = "CANADA-1") -> None:
    assert api.post("/core/environments", json={"name": "env", "region": region}).is_success
    body = {"name": "key", "environment_name": "env", "public_key": PUBLIC_KEY}
    assert api.post("/core/keypairs", json=body).is_success


def vm_body(**overrides: Any) -> dict[str, Any]:
    return {
        "name": "vm",
        "environment_name": "env",
        "flavor_name": "n3-RTX-A6000x1",
        "key_name": "key",
        "count": 1,
        "assign_floating_ip": True,
        **overrides,
    }


def test_a_request_without_the_api_key_header_is_401_in_the_error_envelope(
    hs: HyperstackEmulator,
) -> None:
    with hs.client(headers={}) as anonymous:
        missing = anonymous.get("/core/flavors")
    with hs.client(headers={"api_key": "wrong"}) as wrong:
        rejected = wrong.get("/core/flavors")
    assert missing.status_code == rejected.status_code == 401
    assert missing.json()["status"] is False
    assert missing.json()["error_reason"] == rejected.json()["error_reason"] == "unauthorized"
    assert all("api_key" not in call.headers for call in hs.calls)  # the key is never recorded


def test_flavors_are_grouped_by_gpu_and_region_and_carry_no_price(api: httpx.Client) -> None:
    groups = api.get("/core/flavors", params={"region": "NORWAY-1"}).json()["data"]
    assert {g["region_name"] for g in groups} == {"NORWAY-1"}
    a6000 = next(g for g in groups if g["gpu"] == "RTX-A6000")
    assert [f["name"] for f in a6000["flavors"]] == [f"n3-RTX-A6000x{n}" for n in (1, 2, 4, 8)]
    assert all("price" not in key for f in a6000["flavors"] for key in f)
    assert api.get("/core/flavors", params={"region": "MARS-1"}).status_code == 404


def test_the_pricebook_is_a_bare_array_of_per_gpu_rates(api: httpx.Client) -> None:
    rows = api.get("/pricebook").json()
    assert isinstance(rows, list)
    assert {"name": "RTX-A6000", "value": 0.5}.items() <= next(
        r for r in rows if r["name"] == "RTX-A6000"
    ).items()


def test_stocks_count_free_gpus_per_region_and_follow_what_vms_use(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    hs.set_stock("CANADA-1", "RTX-A6000", 2)
    setup_env(api)
    api.post("/core/virtual-machines", json=vm_body())
    region = next(s for s in api.get("/core/stocks").json()["stocks"] if s["region"] == "CANADA-1")
    assert region["stock-type"] == "GPU"
    model = next(m for m in region["models"] if m["model"] == "RTX-A6000")
    assert model["available"] == "1"  # a string, as the real API writes it
    assert model["configurations"]["1x"] == 1 and model["configurations"]["2x"] == 0


def test_keypairs_are_deleted_on_the_singular_path(api: httpx.Client) -> None:
    setup_env(api)
    key_id = api.get("/core/keypairs").json()["keypairs"][0]["id"]
    assert api.delete(f"/core/keypairs/{key_id}").status_code == 404
    assert api.delete(f"/core/keypair/{key_id}").json() == {
        "status": True,
        "message": "Keypair deleted",
    }
    assert api.get("/core/keypairs").json()["keypairs"] == []


def test_names_of_environments_and_keypairs_conflict_with_409(api: httpx.Client) -> None:
    setup_env(api)
    again = api.post("/core/environments", json={"name": "env", "region": "CANADA-1"})
    assert again.status_code == 409 and again.json()["error_reason"] == "already_exist"
    body = {"name": "key", "environment_name": "env", "public_key": PUBLIC_KEY}
    assert api.post("/core/keypairs", json=body).status_code == 409
    bad = {**body, "name": "other", "public_key": "not a key"}
    assert api.post("/core/keypairs", json=bad).json()["error_reason"] == "bad_request"


def test_vm_lists_page_with_page_and_pagesize_oldest_first(api: httpx.Client) -> None:
    setup_env(api)
    for n in range(5):
        api.post("/core/virtual-machines", json=vm_body(name=f"vm{n}"))
    everything = api.get("/core/virtual-machines").json()
    assert everything["page"] is None and everything["count"] == 5
    second = api.get("/core/virtual-machines", params={"page": 2, "pageSize": 2}).json()
    assert [v["name"] for v in second["instances"]] == ["vm2", "vm3"]
    assert (second["page"], second["page_size"], second["count"]) == (2, 2, 5)
    found = api.get("/core/virtual-machines", params={"search": "vm4"}).json()["instances"]
    assert [v["name"] for v in found] == ["vm4"]


def test_creating_with_unknown_names_or_too_much_user_data_is_refused(api: httpx.Client) -> None:
    setup_env(api)
    flavor = api.post("/core/virtual-machines", json=vm_body(flavor_name="n9-nothing"))
    assert flavor.status_code == 404 and "n9-nothing" in flavor.json()["message"]
    key = api.post("/core/virtual-machines", json=vm_body(key_name="nokey"))
    assert key.status_code == 404
    big = api.post("/core/virtual-machines", json=vm_body(user_data="#!/bin/bash\n" + "x" * 70000))
    assert big.status_code == 400
    missing = api.post("/core/virtual-machines", json={"name": "vm"})
    assert missing.status_code == 400 and "environment_name" in missing.json()["message"]


def test_out_of_stock_is_refused_and_nothing_is_created(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    hs.set_stock("CANADA-1", "RTX-A6000", 0)
    setup_env(api)
    refused = api.post("/core/virtual-machines", json=vm_body())
    assert refused.status_code == 400 and "out of stock" in refused.json()["message"]
    assert hs.vm_count() == 0


def test_duplicate_names_make_a_second_vm_unless_the_option_refuses_them(
    clock: ManualClock,
) -> None:
    for reject, expected in ((False, [200, 200]), (True, [200, 409])):
        with (
            HyperstackEmulator(
                clock=clock, boot=False, options=Options(reject_duplicate_names=reject)
            ) as emu,
            emu.client() as client,
        ):
            setup_env(client)
            codes = [
                client.post("/core/virtual-machines", json=vm_body()).status_code for _ in "ab"
            ]
            assert codes == expected


def test_the_rate_limit_answers_429_for_the_rest_of_the_minute(clock: ManualClock) -> None:
    options = Options(rate_limit_per_minute=3)
    with HyperstackEmulator(clock=clock, boot=False, options=options) as emu, emu.client() as c:
        codes = [c.get("/core/regions").status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        limited = c.get("/core/regions")
        assert limited.json()["status"] is False and "Retry-After" not in limited.headers
        clock.advance(60)
        assert c.get("/core/regions").status_code == 200


def test_injected_server_errors_use_the_hyperstack_envelope(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    with hs.faults.server_errors(every=2, status=503):
        codes = [api.get("/core/regions").status_code for _ in range(2)]
        assert codes == [200, 503]
    hs.faults.rate_limit(times=1)
    limited = api.get("/core/regions")
    assert limited.status_code == 429
    assert limited.json()["status"] is False and "Retry-After" not in limited.headers
    hs.faults.drop_connection("POST", "/v1/core/environments", after_processing=True)
    with pytest.raises(httpx.RemoteProtocolError):
        api.post("/core/environments", json={"name": "lost", "region": "CANADA-1"})
    assert [e["name"] for e in api.get("/core/environments").json()["environments"]] == ["lost"]


def test_volumes_attach_detach_and_refuse_deletion_while_attached(
    hs: HyperstackEmulator, api: httpx.Client
) -> None:
    setup_env(api)
    vm = api.post("/core/virtual-machines", json=vm_body()).json()["instances"][0]
    body = {"name": "data", "environment_name": "env", "size": 10, "volume_type": "Cloud-SSD"}
    vol = api.post("/core/volumes", json=body).json()["volume"]
    assert vol["status"] == "creating"
    hs.advance(5)
    attach = api.post(
        f"/core/virtual-machines/{vm['id']}/attach-volumes", json={"volume_ids": [vol["id"]]}
    )
    assert attach.json()["volume_attachments"][0]["device"] == "/dev/vdb"
    assert api.delete(f"/core/volumes/{vol['id']}").status_code == 400
    got = api.get(f"/core/virtual-machines/{vm['id']}").json()["instance"]
    assert got["volume_attachments"][0]["volume"]["name"] == "data"
    api.post(f"/core/virtual-machines/{vm['id']}/detach-volumes", json={"volume_ids": [vol["id"]]})
    assert api.delete(f"/core/volumes/{vol['id']}").json()["status"] is True
