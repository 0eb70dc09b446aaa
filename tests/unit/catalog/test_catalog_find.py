"""Who rents it out: `find_instances` filters and orders offers; `replace_offers` refreshes them."""

from __future__ import annotations

import pytest

from flowlib.catalog import Catalog, InstanceType, Offer, find_instances, get_catalog
from flowlib.errors import ValidationError


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.bundled()


def ids(offers: list[Offer]) -> list[str]:
    return [o.provider_type_id for o in offers]


def test_no_filter_gives_every_offer_cheapest_first(catalog: Catalog) -> None:
    offers = catalog.find_instances()
    assert len(offers) == len(catalog.offers())
    prices = [o.price_per_hour for o in offers]
    assert prices == sorted(prices, key=lambda p: (p is None, p))
    assert offers[0].provider_type_id == "t4-16gb.pcie.1x"


def test_an_instance_type_finds_the_offers_of_what_it_resolves_to(catalog: Catalog) -> None:
    # 'h100' is h100-80gb.pcie.1x, sold by hyperstack and by fcp
    assert ids(catalog.find_instances(instance_type="h100")) == [
        "n3-H100x1",  # $1.90
        "it_XqgKWbhZ5gznAYsG",  # $2.00
    ]
    # 'a100' is a100-80gb.sxm.1x: the PCIe A100 of hyperstack is another instance type
    assert set(ids(catalog.find_instances(instance_type="a100"))) == {"it_MsIRhxj3ccyVWGfP"}


def test_an_instance_type_with_a_provider_resolves_within_that_provider(catalog: Catalog) -> None:
    assert ids(catalog.find_instances(instance_type="a100", provider="hyperstack")) == ["n3-A100x1"]
    with pytest.raises(ValidationError, match="fcp sells no l4"):
        catalog.find_instances(instance_type="l4", provider="fcp")


def test_a_provider_id_finds_only_that_providers_offers(catalog: Catalog) -> None:
    offers = catalog.find_instances(instance_type="it_XqgKWbhZ5gznAYsG")
    assert [(o.provider, o.name) for o in offers] == [("fcp", "h100-80gb.pcie.1x")]
    with pytest.raises(ValidationError, match="unknown instance type id"):
        catalog.find_instances(instance_type="it_doesnotexist")


def test_ties_are_broken_by_provider_then_region(catalog: Catalog) -> None:
    offers = catalog.find_instances(instance_type="8xh100")
    assert [(o.provider, o.region, o.price_per_hour) for o in offers] == [
        ("fcp", "us-central1-b", 19.2),
        ("hyperstack", "CANADA-1", 19.2),
        ("hyperstack", "US-1", 19.2),
    ]


def test_gpu_takes_any_spelling_and_matches_every_variant_and_count(catalog: Catalog) -> None:
    offers = catalog.find_instances(gpu="NVIDIA H100", gpu_count=8)
    assert [o.name for o in offers] == [
        "h100-80gb.pcie.8x",
        "h100-80gb.sxm.8x",
        "h100-80gb.sxm.8x",
        "h100-80gb.sxm.8x",
    ]
    assert {o.name for o in catalog.find_instances(gpu="rtx-a6000")} == {
        f"a6000-48gb.pcie.{n}x" for n in (1, 2, 4, 8)
    }


def test_gpu_must_name_only_a_gpu(catalog: Catalog) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.find_instances(gpu="8xh100")
    assert caught.value.suggestions == ["h100"]
    with pytest.raises(ValidationError):
        catalog.find_instances(gpu="z900")


def test_min_gpu_memory_is_per_gpu(catalog: Catalog) -> None:
    offers = catalog.find_instances(min_gpu_memory_gb=100)
    assert {o.instance_type.gpu for o in offers} == {"h200", "b200"}
    # 8x A100 40GB has 320 GB in total but 40 GB per GPU
    assert "a100-40gb.sxm.8x" not in ids(catalog.find_instances(min_gpu_memory_gb=80))


def test_max_price_keeps_offers_at_or_under_it_and_drops_unknown_prices(catalog: Catalog) -> None:
    offers = catalog.find_instances(max_price_per_hour=0.5)
    assert offers and all(o.price_per_hour is not None and o.price_per_hour <= 0.5 for o in offers)
    assert "n3-RTX-A6000x1" in ids(offers)  # exactly $0.50
    priceless = Offer("acme", InstanceType("t4", 1, 16, "pcie"), "t4-small", None)
    catalog.replace_offers("acme", [priceless])
    assert "t4-small" not in ids(catalog.find_instances(max_price_per_hour=100))
    assert ids(catalog.find_instances(gpu="t4"))[-1] == "t4-small"  # unknown prices last


def test_the_readme_query(catalog: Catalog) -> None:
    offers = catalog.find_instances(min_gpu_memory_gb=80, max_price_per_hour=20)
    assert [(o.name, o.provider) for o in offers[:3]] == [
        ("a100-80gb.pcie.1x", "hyperstack"),
        ("a100-80gb.sxm.1x", "fcp"),
        ("a100-80gb.sxm.1x", "fcp"),
    ]


def test_provider_region_and_spot_filters(catalog: Catalog) -> None:
    assert {o.provider for o in catalog.find_instances(spot=True)} == {"fcp"}
    assert "fcp" not in {o.provider for o in catalog.find_instances(spot=False)}
    norway = catalog.find_instances(region="norway-1")
    assert {o.region for o in norway} == {"NORWAY-1"}
    assert {o.instance_type.gpu for o in norway} == {"a6000"}
    assert all(o.provider == "market" for o in catalog.find_instances(provider="Market"))


def test_filters_combine(catalog: Catalog) -> None:
    offers = catalog.find_instances(
        gpu="a100", gpu_count=8, min_gpu_memory_gb=80, max_price_per_hour=13, spot=False
    )
    assert ids(offers) == ["n3-A100x8", "n3-A100-SXM4x8"]


def test_a_provider_without_offers_sells_nothing(catalog: Catalog) -> None:
    assert catalog.find_instances(provider="local") == []
    assert catalog.find_instances(provider="local", instance_type="a100") == []
    with pytest.raises(ValidationError):  # the text itself must still make sense
        catalog.find_instances(provider="local", instance_type="a100x8")


@pytest.mark.parametrize(
    "filters",
    [
        {"gpu_count": 0},
        {"gpu_count": 65},
        {"gpu_count": True},
        {"min_gpu_memory_gb": 0},
        {"min_gpu_memory_gb": -8},
        {"max_price_per_hour": 0},
        {"max_price_per_hour": float("nan")},
        {"max_price_per_hour": float("inf")},
        {"spot": "yes"},
        {"provider": ""},
    ],
)
def test_impossible_filter_values_are_validation_errors(catalog: Catalog, filters: dict) -> None:  # type: ignore[type-arg]
    with pytest.raises(ValidationError):
        catalog.find_instances(**filters)


def test_replace_offers_swaps_one_providers_rows(catalog: Catalog) -> None:
    live = [
        Offer(
            "fcp",
            InstanceType("a100", 1, 80, "sxm", vcpus=24, ram_gb=224, disk_gb=950),
            "it_NewFid0000000001",
            price_per_hour=0.95,
            region="us-central1-b",
            spot=True,
            available=3,
        )
    ]
    catalog.replace_offers("fcp", live)
    assert catalog.offers("fcp") == live
    assert catalog.resolve("it_NewFid0000000001").name == "a100-80gb.sxm.1x"
    with pytest.raises(ValidationError, match="unknown instance type id"):
        catalog.resolve("it_MsIRhxj3ccyVWGfP")
    assert catalog.find_instances(instance_type="a100")[0].available == 3
    assert len(catalog.offers("hyperstack")) == len(Catalog.bundled().offers("hyperstack"))


def test_replace_offers_with_nothing_removes_the_provider(catalog: Catalog) -> None:
    catalog.replace_offers("fcp", [])
    assert "fcp" not in catalog.providers()
    assert catalog.resolve("a100").name == "a100-80gb.pcie.1x"  # now the nearest to the default


def test_replace_offers_refuses_bad_rows_and_changes_nothing(catalog: Catalog) -> None:
    before = catalog.offers()
    shape = InstanceType("a100", 1, 80, "sxm")
    other = Offer("hyperstack", shape, "n3-X")
    with pytest.raises(ValidationError, match="got an offer of provider 'hyperstack'"):
        catalog.replace_offers("fcp", [other])
    twice = [Offer("fcp", shape, "it_a"), Offer("fcp", shape, "it_b")]
    with pytest.raises(ValidationError, match="a name has one provider id"):
        catalog.replace_offers("fcp", twice)
    unknown_gpu = Offer("fcp", InstanceType("mi300x", 8, 192, "oam"), "it_amd")
    with pytest.raises(ValidationError, match="has no spec"):
        catalog.replace_offers("fcp", [unknown_gpu])
    assert catalog.offers() == before


def test_get_catalog_is_one_lazily_built_instance() -> None:
    assert get_catalog() is get_catalog()
    assert find_instances(instance_type="8xa100", provider="fcp")[0].provider_type_id == (
        "it_J7OyNf9idfImLIFo"
    )
