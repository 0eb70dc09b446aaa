"""The TypedDicts of providers/fcp/_shapes.py against what the FCP emulator answers: every key
the API sends is declared (so code that reads it is type-checked) and every key declared
required is sent (so code may index it). The emulator is the project's model of Mithril; a
field added to either side without the other fails here."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flowlib.providers.fcp import _shapes
from flowlib.providers.fcp._provider import FcpProvider
from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock


def _check(shape: Any, row: Mapping[str, object]) -> None:
    declared = shape.__required_keys__ | shape.__optional_keys__
    assert set(row) <= declared, f"{shape.__name__}: undeclared {sorted(set(row) - declared)}"
    missing = shape.__required_keys__ - set(row)
    assert not missing, f"{shape.__name__}: required but absent {sorted(missing)}"


def test_every_answer_of_the_api_matches_its_shape(
    provider: FcpProvider, emu: FcpEmulator, clock: ManualClock
) -> None:
    api = provider.api
    project = provider.project()
    for row in api.projects():
        _check(_shapes.ProjectJson, row)
    types = api.instance_types()
    for t in types:
        _check(_shapes.InstanceTypeJson, t)
    markets = api.availability()
    for m in markets:
        _check(_shapes.AuctionJson, m)
    key = api.create_ssh_key(project, "mine")
    _check(_shapes.SshKeyJson, key)
    for k in api.ssh_keys(project):
        _check(_shapes.SshKeyJson, k)
    token = api.create_api_key("task-1", "2030-01-01T00:00:00Z")
    _check(_shapes.ApiKeyJson, token)
    for k in api.api_keys():
        _check(_shapes.ApiKeyJson, k)
    region = markets[0]["region"]
    volume = api.create_volume(
        {
            "name": "data",
            "project": project,
            "disk_interface": "Block",
            "region": region,
            "size_gb": 10,
        },
        idempotency_key="k-volume",
    )
    _check(_shapes.VolumeJson, volume)
    market = next(m for m in markets if m["region"] == region)
    bid = api.create_bid(
        {
            "project": project,
            "region": region,
            "instance_type": market["instance_type"],
            "limit_price": "$99.00",
            "instance_quantity": 1,
            "name": "shapes",
            "launch_specification": {"volumes": [volume["fid"]], "ssh_keys": [key["fid"]]},
        },
        idempotency_key="k-bid",
    )
    _check(_shapes.BidJson, bid)
    clock.advance(60)
    emu.tick()
    allocated = api.get_bid(bid["fid"])
    assert allocated is not None and allocated.get("instances")
    _check(_shapes.BidJson, allocated)
    _check(_shapes.LaunchSpecification, allocated["launch_specification"])
    for b in api.bids(project):
        _check(_shapes.BidJson, b)
    instances = api.instances(project, [bid["fid"]])
    assert instances
    for inst in instances:
        _check(_shapes.InstanceJson, inst)
    for v in api.volumes(project):
        _check(_shapes.VolumeJson, v)
