"""The FCP emulator answers like the Mithril v2 API: auth, shapes, errors, pagination, filters.

Everything here runs in-process (an ``httpx.MockTransport``): no socket, no sleeping.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock

BodyFactory = Callable[..., dict[str, Any]]


def test_every_route_needs_a_bearer_fkey(emu: FcpEmulator) -> None:
    with httpx.Client(base_url=emu.url, transport=emu.transport()) as anonymous:
        missing = anonymous.get("/v2/me")
        wrong = anonymous.get(
            "/v2/me", headers={"Authorization": "Bearer fkey_notARealKey123456789"}
        )
    assert missing.status_code == 401
    assert missing.json() == {"detail": "Not authenticated"}
    assert missing.headers["WWW-Authenticate"] == "Bearer"
    assert wrong.status_code == 401
    assert wrong.json() == {"detail": "Invalid credentials"}


def test_a_revoked_key_stops_working(emu: FcpEmulator, client: httpx.Client) -> None:
    key = emu.add_api_key()
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v2/me", headers=headers).status_code == 200
    emu.revoke_api_key(key)
    assert client.get("/v2/me", headers=headers).status_code == 401


def test_a_task_scoped_key_works_until_revoked_or_expired(
    client: httpx.Client, clock: ManualClock
) -> None:
    created = client.post(
        "/v2/api-keys", json={"name": "task-1", "expires_at": "2026-01-01T01:00:00Z"}
    )
    assert created.status_code == 201
    key = created.json()
    assert key["secret"].startswith("fkey_")
    assert key["snippet"] == key["secret"][:9] + "..."
    as_task = {"Authorization": f"Bearer {key['secret']}"}
    assert client.get("/v2/me", headers=as_task).status_code == 200
    assert key["fid"] in [k["fid"] for k in client.get("/v2/api-keys").json()]
    clock.advance(3600)
    assert client.get("/v2/me", headers=as_task).status_code == 401  # expired
    assert client.delete(f"/v2/api-keys/{key['fid']}").status_code == 204
    assert client.delete(f"/v2/api-keys/{key['fid']}").status_code == 404


def test_unknown_routes_and_methods_answer_like_fastapi(client: httpx.Client) -> None:
    assert client.get("/v2/nothing-here").json() == {"detail": "Not Found"}
    assert client.get("/v2/nothing-here").status_code == 404
    assert client.put("/v2/spot/bids").status_code == 405


def test_me_identifies_the_user_and_dates_answers_by_the_emulator_clock(
    emu: FcpEmulator, client: httpx.Client, clock: ManualClock
) -> None:
    response = client.get("/v2/me")
    me = response.json()
    assert me["fid"].startswith("user_")
    assert {"id", "email", "organization_id"} <= me.keys()
    assert email.utils.parsedate_to_datetime(response.headers["Date"]).timestamp() == clock.time()


def test_projects_instance_types_and_availability_are_bare_arrays(
    emu: FcpEmulator, client: httpx.Client
) -> None:
    projects = client.get("/v2/projects").json()
    assert [p["fid"] for p in projects] == [emu.project]
    types = {t["name"]: t for t in client.get("/v2/instance-types").json()}
    a100 = types["a100-80gb.sxm.1x"]
    assert a100["fid"].startswith("it_")
    assert (a100["num_gpus"], a100["gpu_type"], a100["gpu_memory_gb"]) == (1, "A100", 80)
    rows = client.get("/v2/spot/availability").json()
    row = next(
        r for r in rows if r["instance_type"] == a100["fid"] and r["region"] == "us-central1-a"
    )
    assert row["fid"].startswith("auc_")
    assert row["last_instance_price"] == "$1.80"  # dollars per instance-hour
    assert row["capacity"] == 8  # instances, not GPUs
    assert row["lowest_allocated_price"] is None


def test_pricing_is_in_cents(emu: FcpEmulator, client: httpx.Client) -> None:
    fid = emu.instance_type_fid("a100-80gb.sxm.1x")
    price = client.get(
        "/v2/pricing/current", params={"instance_type": fid, "region": "us-central1-a"}
    ).json()
    assert price["spot_price_cents"] == 180
    assert price["minimum_price_cents"] == 50
    assert (price["available_capacity"], price["total_capacity"]) == (8, 8)
    missing = client.get("/v2/pricing/current")
    assert missing.status_code == 422
    assert missing.json()["detail"][0]["loc"] == ["query", "instance_type"]


def test_a_bad_body_is_a_422_listing_every_field_error(
    client: httpx.Client, bid_body: BodyFactory
) -> None:
    body = bid_body(instance_quantity="many")
    del body["name"]
    response = client.post("/v2/spot/bids", json=body)
    assert response.status_code == 422
    errors = {tuple(e["loc"]): e for e in response.json()["detail"]}
    assert errors[("body", "name")]["type"] == "missing"
    assert errors[("body", "instance_quantity")]["type"] == "int_parsing"
    assert all({"loc", "msg", "type"} <= e.keys() for e in errors.values())


def test_a_body_that_is_not_json_is_a_422(client: httpx.Client) -> None:
    response = client.post("/v2/spot/bids", content=b"{not json")
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "json_invalid"


def test_instances_need_a_project(emu: FcpEmulator, client: httpx.Client) -> None:
    response = client.get("/v2/instances")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "project"]
    assert client.get("/v2/instances", params={"project": emu.project}).json() == {
        "data": [],
        "next_cursor": None,
    }


def test_bids_page_with_next_cursor_until_it_is_null(
    client: httpx.Client, place: BodyFactory
) -> None:
    placed = [place(name=f"job-{i}")["fid"] for i in range(5)]
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 2}
    pages = 0
    while True:
        page = client.get("/v2/spot/bids", params=params).json()
        pages += 1
        seen += [b["fid"] for b in page["data"]]
        if page["next_cursor"] is None:
            break
        params["next_cursor"] = page["next_cursor"]
    assert seen == placed
    assert pages == 3


def test_page_size_is_bounded(client: httpx.Client) -> None:
    response = client.get("/v2/spot/bids", params={"limit": 101})
    assert response.status_code == 422
    assert response.json()["detail"][0]["type"] == "less_than_equal"


def test_bids_filter_by_name_status_and_sort_newest_first(
    client: httpx.Client, place: BodyFactory, emu: FcpEmulator
) -> None:
    first = place(name="alpha")
    second = place(name="beta")
    emu.tick()
    by_name = client.get("/v2/spot/bids", params={"name": "beta"}).json()["data"]
    assert [b["fid"] for b in by_name] == [second["fid"]]
    open_bids = client.get("/v2/spot/bids", params={"status": "Open"}).json()["data"]
    assert len(open_bids) == 2
    newest_first = client.get("/v2/spot/bids", params={"sort_dir": "desc"}).json()["data"]
    assert [b["fid"] for b in newest_first] == [second["fid"], first["fid"]]
    bad = client.get("/v2/spot/bids", params={"status": "Running"})
    assert bad.status_code == 422


def test_get_one_bid_its_status_and_an_unknown_one(
    client: httpx.Client, place: BodyFactory
) -> None:
    bid = place()
    assert client.get(f"/v2/spot/bids/{bid['fid']}").json() == bid
    assert client.get(f"/v2/spot/bids/{bid['fid']}/status").json() == {
        "bid_fid": bid["fid"],
        "status": "Open",
    }
    unknown = client.get("/v2/spot/bids/bid_doesNotExist0000")
    assert unknown.status_code == 404
    assert isinstance(unknown.json()["detail"], str)


def test_ssh_keys_create_list_require_and_delete(emu: FcpEmulator, client: httpx.Client) -> None:
    given = client.post(
        "/v2/ssh-keys",
        json={"project": emu.project, "name": "laptop", "public_key": "ssh-ed25519 AAAA me"},
    )
    assert given.status_code == 201
    assert given.json()["private_key"] is None
    generated = client.post("/v2/ssh-keys", json={"project": emu.project, "name": "gen"}).json()
    assert generated["public_key"].startswith("ssh-ed25519 ")
    assert "PRIVATE KEY" in generated["private_key"]  # returned once, at creation
    listed = client.get("/v2/ssh-keys", params={"project": emu.project}).json()
    assert {k["fid"] for k in listed} == {given.json()["fid"], generated["fid"]}
    assert all("private_key" not in k for k in listed)
    patched = client.patch(f"/v2/ssh-keys/{generated['fid']}", json={"required": True})
    assert patched.json()["required"] is True
    assert client.delete(f"/v2/ssh-keys/{generated['fid']}").status_code == 204
    assert client.delete(f"/v2/ssh-keys/{generated['fid']}").status_code == 404


def test_an_ssh_key_in_use_by_a_live_bid_cannot_be_deleted(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory
) -> None:
    key = client.post("/v2/ssh-keys", json={"project": emu.project, "name": "k"}).json()
    bid = place(launch_specification={"ssh_keys": [key["fid"]]})
    refused = client.delete(f"/v2/ssh-keys/{key['fid']}")
    assert refused.status_code == 400
    client.delete(f"/v2/spot/bids/{bid['fid']}")
    assert client.delete(f"/v2/ssh-keys/{key['fid']}").status_code == 204


def test_volumes_create_attach_rename_and_delete(
    emu: FcpEmulator, client: httpx.Client, place: BodyFactory, volume_body: BodyFactory
) -> None:
    created = client.post("/v2/volumes", json=volume_body())
    assert created.status_code == 201
    vol = created.json()
    assert (vol["capacity_gb"], vol["interface"], vol["deleted_at"]) == (100, "Block", None)
    bid = place(launch_specification={"volumes": [vol["fid"]]})
    listed = client.get("/v2/volumes", params={"project": emu.project}).json()
    assert listed[0]["bids"] == [bid["fid"]]
    assert client.delete(f"/v2/volumes/{vol['fid']}").status_code == 400  # attached
    assert client.patch(f"/v2/volumes/{vol['fid']}", json={"name": "data-2"}).json()["name"] == (
        "data-2"
    )
    client.delete(f"/v2/spot/bids/{bid['fid']}")
    assert client.delete(f"/v2/volumes/{vol['fid']}").status_code == 204
    assert client.get("/v2/volumes", params={"project": emu.project}).json() == []
    deleted = client.get(
        "/v2/volumes", params={"project": emu.project, "include_deleted": "true"}
    ).json()
    assert deleted[0]["deleted_at"] is not None


@pytest.mark.parametrize(
    ("name", "ok"), [("data", True), ("Data", False), ("-x", False), ("x" * 65, False)]
)
def test_volume_names_follow_the_documented_pattern(
    client: httpx.Client, volume_body: BodyFactory, name: str, ok: bool
) -> None:
    body = volume_body(name=name, disk_interface="File", size_gb=1)
    assert client.post("/v2/volumes", json=body).status_code == (201 if ok else 422)


def test_a_volume_must_be_in_the_bids_region(
    client: httpx.Client, bid_body: BodyFactory, volume_body: BodyFactory
) -> None:
    body = volume_body(name="far", region="us-central1-b", size_gb=10)
    vol = client.post("/v2/volumes", json=body).json()
    body = bid_body(launch_specification={"volumes": [vol["fid"]]})
    assert client.post("/v2/spot/bids", json=body).status_code == 400


def test_every_call_is_recorded_without_the_key(emu: FcpEmulator, client: httpx.Client) -> None:
    client.get("/v2/projects")
    call = emu.calls[-1]
    assert (call.method, call.path, call.status) == ("GET", "/v2/projects", 200)
    assert "authorization" not in call.headers
