"""What fcp offers, read live from the API: cheapest first, names mapped to FIDs at run time,
and errors that say what exists or what price would win."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from flowlib.errors import CapacityError, ValidationError
from flowlib.models import TaskConfig
from flowlib.providers.fcp import make_provider
from flowlib.providers.fcp._provider import FcpProvider
from flowlib.testing.emulators.fcp import FcpEmulator, ManualClock

Make = Callable[..., FcpProvider]


def task(**fields: object) -> TaskConfig:
    return TaskConfig(command=["true"], **fields)  # type: ignore[arg-type]


def test_offers_come_cheapest_first(provider: FcpProvider) -> None:
    offers = provider.offers(task(instance_type="a100"))
    assert [(o.region, o.price_per_hour) for o in offers] == [
        ("us-central1-b", 1.60),
        ("us-central1-a", 1.80),
    ]
    assert all(o.spot and o.name == "a100-80gb.sxm.1x" for o in offers)


def test_offers_honour_price_cap_memory_and_region(provider: FcpProvider) -> None:
    assert [
        o.region for o in provider.offers(task(instance_type="a100", max_price_per_hour=1.7))
    ] == ["us-central1-b"]
    assert {o.name for o in provider.offers(task(region="us-central5-a"))} == {"h100-80gb.sxm.8x"}
    roomy = provider.offers(task(min_gpu_memory_gb=80, max_price_per_hour=2.0))
    assert [o.name for o in roomy] == ["a100-80gb.sxm.1x", "a100-80gb.sxm.1x", "h100-80gb.pcie.1x"]


def test_prepare_fixes_the_instance_type_and_the_cheapest_region(provider: FcpProvider) -> None:
    prepared = provider.prepare(task(instance_type="8xh100"))
    assert (prepared.instance_type, prepared.region) == ("h100-80gb.sxm.8x", "us-central5-a")


def test_instance_type_fids_are_read_at_run_time(
    clock: ManualClock, tmp_path: Path, disks: Path
) -> None:
    fids = set()
    for seed in (1, 2):  # h100-80gb.pcie.1x has no built-in FID: each seed makes another
        with FcpEmulator(clock=clock, boot=False, seed=seed) as emu:
            provider = make_provider(
                {"api_key": emu.api_key, "api_url": emu.url}, tmp_path, transport=emu.transport()
            )
            placement = provider.catalog.place(task(instance_type="h100-80gb.pcie.1x"))
            assert placement.instance_type_fid == emu.instance_type_fid("h100-80gb.pcie.1x")
            fids.add(placement.instance_type_fid)
    assert len(fids) == 2


def test_an_unknown_instance_type_lists_the_available_ones(provider: FcpProvider) -> None:
    with pytest.raises(ValidationError) as caught:
        provider.prepare(task(instance_type="3xh100"))
    assert "fcp does not sell '3xh100'" in caught.value.message
    assert caught.value.suggestions[-1] == (
        "available now: a100-80gb.sxm.1x, a100-80gb.sxm.2x, a100-80gb.sxm.4x, a100-80gb.sxm.8x, "
        "b200-180gb.sxm.8x, b200-192gb.sxm.1x, b200-192gb.sxm.2x, b200-192gb.sxm.4x, "
        "b200-192gb.sxm.8x, h100-80gb.pcie.1x, h100-80gb.sxm.8x, h200-141gb.sxm.8x"
    )


def test_a_price_cap_below_the_market_names_the_price_that_would_win(
    provider: FcpProvider, emu: FcpEmulator
) -> None:
    with pytest.raises(CapacityError) as caught:
        provider.prepare(task(instance_type="a100", max_price_per_hour=1.0))
    assert "the cheapest that would win is $1.60/hour" in caught.value.message
    assert caught.value.suggestions == ["set max_price_per_hour to at least 1.60"]
    assert emu.bid_count() == 0


def test_no_capacity_at_any_price_is_a_capacity_error(
    provider: FcpProvider, emu: FcpEmulator
) -> None:
    emu.set_capacity("h100-80gb.sxm.8x", "us-central1-b", 0)
    emu.set_capacity("h100-80gb.sxm.8x", "us-central5-a", 0)
    with pytest.raises(CapacityError, match="no capacity for 1 x 8xh100"):
        provider.prepare(task(instance_type="8xh100"))


def test_the_catalog_is_reused_until_its_ttl_runs_out(
    make: Make, emu: FcpEmulator, clock: ManualClock
) -> None:
    provider = make(catalog_ttl_s=60)
    provider.offers(task())
    provider.offers(task())
    clock.advance(61)
    provider.offers(task())
    fetches = [c for c in emu.calls if c.path == "/v2/instance-types"]
    assert len(fetches) == 2
