"""The fcp API client against the emulator: auth and validation errors, pagination, and a bid
that is created exactly once whatever the network does."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from flowlib.errors import AuthenticationError, ValidationAPIError
from flowlib.providers.fcp._provider import FcpProvider
from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock

Make = Callable[..., FcpProvider]


def body(emu: FcpEmulator, name: str = "train-1", **overrides: Any) -> dict[str, Any]:
    return {
        "project": emu.project,
        "region": "us-central1-a",
        "instance_type": emu.instance_type_fid("a100-80gb.sxm.1x"),
        "limit_price": "$2.50",
        "instance_quantity": 1,
        "name": name,
        "launch_specification": {"volumes": [], "ssh_keys": []},
        **overrides,
    }


def test_a_rejected_key_says_where_to_set_it(make: Make) -> None:
    provider = make(api_key="fkey_" + "x" * 24)
    with pytest.raises(AuthenticationError) as caught:
        provider.project()
    assert "401" in caught.value.message
    assert any("FLOW_API_KEY" in s for s in caught.value.suggestions)


def test_a_missing_key_fails_before_any_request(make: Make, emu: FcpEmulator) -> None:
    provider = make(api_key=None)
    with pytest.raises(AuthenticationError, match="no API key") as caught:
        provider.project()
    assert any("FLOW_API_KEY" in s for s in caught.value.suggestions)
    assert emu.calls == []


def test_the_key_never_appears_in_reprs_or_errors(make: Make) -> None:
    secret = "fkey_" + "s" * 24
    provider = make(api_key=secret)
    with pytest.raises(AuthenticationError) as caught:
        provider.project()
    assert secret not in repr(provider) + repr(provider.settings) + str(caught.value)


def test_a_422_lists_the_field_errors(provider: FcpProvider, emu: FcpEmulator) -> None:
    with pytest.raises(ValidationAPIError) as caught:
        provider.api.create_bid(body(emu, limit_price="2.50"), idempotency_key="k1")
    assert caught.value.status_code == 422
    assert any("limit_price" in e["loc"] for e in caught.value.validation_errors)
    assert "limit_price" in caught.value.message


def test_a_bid_post_carries_an_idempotency_key(provider: FcpProvider, emu: FcpEmulator) -> None:
    provider.api.create_bid(body(emu), idempotency_key="flowlib-task-1")
    post = [c for c in emu.calls if c.method == "POST"]
    assert post[0].headers["idempotency-key"] == "flowlib-task-1"


def test_a_bid_whose_answer_was_lost_is_found_by_name_not_created_twice(
    provider: FcpProvider, emu: FcpEmulator
) -> None:
    emu.faults.drop_connection("POST", "/v2/spot/bids", after_processing=True, reset=True)
    bid = provider.api.create_bid(body(emu), idempotency_key="flowlib-task-2")
    assert [b.fid for b in emu.bids_named("train-1")] == [bid["fid"]]
    assert [c.method for c in emu.calls] == ["POST", "GET"]  # the lookup, no second POST


def test_a_bid_refused_by_a_5xx_is_sent_again_once(provider: FcpProvider, emu: FcpEmulator) -> None:
    emu.faults.server_errors(method="POST", path="/v2/spot/bids", times=1)
    bid = provider.api.create_bid(body(emu), idempotency_key="flowlib-task-3")
    assert [b.fid for b in emu.bids_named("train-1")] == [bid["fid"]]
    assert [c.method for c in emu.calls] == ["POST", "GET", "POST"]


def test_rate_limits_are_waited_out_as_retry_after_says(
    provider: FcpProvider, emu: FcpEmulator, clock: ManualClock
) -> None:
    emu.faults.rate_limit(times=3, retry_after=7)
    start = clock.time()
    provider.api.create_bid(body(emu), idempotency_key="flowlib-task-4")
    assert clock.time() - start == pytest.approx(21)  # slept 7 s three times, on the clock seam
    assert emu.bid_count() == 1


def test_listing_bids_costs_one_request_per_page(provider: FcpProvider, emu: FcpEmulator) -> None:
    api = provider.api
    for i in range(250):
        api.create_bid(body(emu, name=f"b{i}"), idempotency_key=f"k{i}")
    before = api.calls
    assert len(list(api.bids(emu.project))) == 250
    assert api.calls - before == 3


def test_a_lost_answer_to_a_generated_ssh_key_leaves_one_key_whose_private_half_we_hold(
    provider: FcpProvider, emu: FcpEmulator
) -> None:
    emu.faults.drop_connection("POST", "/v2/ssh-keys", after_processing=True)
    (fid,) = provider.ssh_key_fids(emu.project)
    assert list(emu.state.ssh_keys) == [fid]  # the orphan whose private half was lost is gone
    saved = provider.home / "keys" / f"fcp_{fid}"
    assert saved.read_text().startswith("-----BEGIN")
    assert saved.stat().st_mode & 0o777 == 0o600


def test_a_lost_answer_to_a_task_key_leaves_no_orphan_key_alive(
    provider: FcpProvider, emu: FcpEmulator
) -> None:
    emu.faults.drop_connection("POST", "/v2/api-keys", after_processing=True)
    key = provider.api.create_api_key("train-1", "2030-01-01T00:00:00Z")
    alive = [k for k in emu.state.api_keys.values() if k.name == "train-1" and not k.deactivated_at]
    assert [k.fid for k in alive] == [key["fid"]]
