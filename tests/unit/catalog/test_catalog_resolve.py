"""What a name means: `Catalog.resolve` against the bundled catalog.

The rules: a bare name is 1 GPU of the family's default variant (or the nearest variant sold with
that many GPUs); once the text names memory or interconnect, it must pick exactly one instance
type; provider ids are looked up in the offers.
"""

from __future__ import annotations

import pytest

from flowlib.catalog import Catalog, InstanceType, resolve_instance_type
from flowlib.errors import ValidationError


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


RESOLVES: dict[str, str] = {
    # the reference's table (except 'h100': a bare name is 1 GPU here, see below)
    "a100": "a100-80gb.sxm.1x",
    "1xa100": "a100-80gb.sxm.1x",
    "2xa100": "a100-80gb.sxm.2x",
    "4xa100": "a100-80gb.sxm.4x",
    "8xa100": "a100-80gb.sxm.8x",
    "a100-80gb.sxm.1x": "a100-80gb.sxm.1x",
    "a100-80gb.sxm.2x": "a100-80gb.sxm.2x",
    "8xh100": "h100-80gb.sxm.8x",
    "h100-80gb.pcie.1x": "h100-80gb.pcie.1x",
    # no 1-GPU SXM H100 is sold: the 1-GPU H100 that exists
    "h100": "h100-80gb.pcie.1x",
    "H100": "h100-80gb.pcie.1x",
    "nvidia-h100": "h100-80gb.pcie.1x",
    "2xh100": "h100-80gb.pcie.2x",
    "h100:8": "h100-80gb.sxm.8x",
    # a named part that picks exactly one
    "H100-80GB": "h100-80gb.pcie.1x",
    "a100-40gb": "a100-40gb.sxm.1x",
    "8xa100-40gb": "a100-40gb.sxm.8x",
    "a100.pcie": "a100-80gb.pcie.1x",
    "a100-80gb.pcie": "a100-80gb.pcie.1x",
    "h100.sxm.8x": "h100-80gb.sxm.8x",
    # the rest of the common rentable GPUs
    "t4": "t4-16gb.pcie.1x",
    "v100": "v100-16gb.sxm.1x",
    "l4": "l4-24gb.pcie.1x",
    "a10": "a10-24gb.pcie.1x",
    "a10g": "a10g-24gb.pcie.1x",
    "rtx-4090": "rtx4090-24gb.pcie.1x",
    "l40s": "l40s-48gb.pcie.1x",
    "l40": "l40-48gb.pcie.1x",
    "rtx a6000": "a6000-48gb.pcie.1x",
    "a40": "a40-48gb.pcie.1x",
    "8xh200": "h200-141gb.sxm.8x",
    "8xb200": "b200-180gb.sxm.8x",
}


@pytest.mark.parametrize("text", RESOLVES)
def test_resolves_to(catalog: Catalog, text: str) -> None:
    assert catalog.resolve(text).name == RESOLVES[text]


FCP_IDS = {
    "it_MsIRhxj3ccyVWGfP": "a100-80gb.sxm.1x",
    "it_5M6aGxGovNeX5ltT": "a100-80gb.sxm.2x",
    "it_fK7Cx6TVhOK5ZfXT": "a100-80gb.sxm.4x",
    "it_J7OyNf9idfImLIFo": "a100-80gb.sxm.8x",
    "it_5ECSoHQjLBzrp5YM": "h100-80gb.sxm.8x",
    "it_XqgKWbhZ5gznAYsG": "h100-80gb.pcie.1x",
}


@pytest.mark.parametrize("fid", FCP_IDS)
def test_the_reference_fids_resolve_to_their_names(catalog: Catalog, fid: str) -> None:
    assert catalog.resolve(fid).name == FCP_IDS[fid]
    assert catalog.resolve(fid, provider="fcp").name == FCP_IDS[fid]


def test_a_provider_id_gives_that_providers_host(catalog: Catalog) -> None:
    fcp = catalog.resolve("it_XqgKWbhZ5gznAYsG")
    hyperstack = catalog.resolve("n3-H100x1")
    assert fcp.name == hyperstack.name == "h100-80gb.pcie.1x"
    assert (fcp.vcpus, hyperstack.vcpus) == (26, 28)


def test_ids_match_case_insensitively_when_unambiguous(catalog: Catalog) -> None:
    assert catalog.resolve("n3-a100x1").name == "a100-80gb.pcie.1x"
    assert catalog.resolve("it_msirhxj3ccyvwgfp").name == "a100-80gb.sxm.1x"


def test_a100_80gb_names_two_instance_types_so_it_is_ambiguous(catalog: Catalog) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("a100-80gb")
    assert caught.value.suggestions == ["a100-80gb.pcie.1x", "a100-80gb.sxm.1x"]
    assert "name the interconnect too" in caught.value.message


def test_what_is_ambiguous_everywhere_is_clear_at_one_provider(catalog: Catalog) -> None:
    assert catalog.resolve("a100-80gb", provider="fcp").name == "a100-80gb.sxm.1x"
    assert catalog.resolve("a100-80gb", provider="hyperstack").name == "a100-80gb.pcie.1x"


# text -> the closest existing names, best first
NOT_SOLD: dict[str, list[str]] = {
    "3xh100": ["h100-80gb.pcie.2x", "h100-80gb.pcie.4x", "h100-80gb.pcie.1x"],
    "a100-96gb": ["a100-80gb.sxm.1x", "a100-80gb.pcie.1x", "a100-40gb.sxm.1x"],
    # the reference has no 1x..4x SXM H100, and the catalog does not invent one
    "h100-80gb.sxm.1x": ["h100-80gb.sxm.8x", "h100-80gb.pcie.1x", "h100-80gb.pcie.2x"],
    "a100-80gb.nvl": ["a100-80gb.sxm.1x", "a100-80gb.pcie.1x", "a100-80gb.sxm.2x"],
    "h200": ["h200-141gb.sxm.8x"],
}


@pytest.mark.parametrize("text", NOT_SOLD)
def test_an_instance_type_that_is_not_sold_names_the_closest_that_are(
    catalog: Catalog, text: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.resolve(text)
    assert caught.value.suggestions == NOT_SOLD[text]
    for name in caught.value.suggestions:
        assert catalog.resolve(name).name == name


def test_the_message_says_what_exists(catalog: Catalog) -> None:
    with pytest.raises(ValidationError, match="h100 comes with 1, 2, 4 or 8 GPUs"):
        catalog.resolve("3xh100")
    with pytest.raises(ValidationError, match="a100 comes with 40 or 80 GB"):
        catalog.resolve("a100-96gb")


def test_with_a_provider_only_its_instance_types_count(catalog: Catalog) -> None:
    assert catalog.resolve("a100", provider="hyperstack").name == "a100-80gb.pcie.1x"
    assert catalog.resolve("8xa100", provider="market").name == "a100-40gb.sxm.8x"
    assert catalog.resolve("h100", provider="FCP").name == "h100-80gb.pcie.1x"
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("2xh100", provider="fcp")
    assert "fcp sells: h100-80gb.pcie.1x, h100-80gb.sxm.8x" in caught.value.message
    assert caught.value.suggestions == ["h100-80gb.pcie.1x", "h100-80gb.sxm.8x"]


def test_a_gpu_the_provider_does_not_sell_says_what_it_sells_and_who_does(
    catalog: Catalog,
) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("l4", provider="fcp")
    assert "fcp sells no l4 instance type; it sells a100 and h100" in caught.value.message
    assert "l4 is sold by market" in caught.value.message
    assert all(catalog.resolve(s, provider="fcp") for s in caught.value.suggestions)


def test_an_id_of_another_provider_is_refused_with_this_providers_nearest(
    catalog: Catalog,
) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("n3-A100x1", provider="fcp")
    assert "is a hyperstack instance type id (a100-80gb.pcie.1x)" in caught.value.message
    assert caught.value.suggestions[0] == "a100-80gb.sxm.1x"


def test_an_unknown_id_suggests_near_ids_and_lists_the_providers(catalog: Catalog) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("it_MsIRhxj3ccyVWGfQ")
    assert caught.value.suggestions == ["it_MsIRhxj3ccyVWGfP"]
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("it_unknown", provider="fcp")
    assert "it_MsIRhxj3ccyVWGfP (a100-80gb.sxm.1x)" in caught.value.message


def test_an_unknown_provider_lists_the_known_ones(catalog: Catalog) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("a100", provider="fcpp")
    assert caught.value.suggestions == ["fcp"]
    with pytest.raises(ValidationError):
        catalog.resolve("a100", provider="  ")


def test_parse_errors_come_through_unchanged(catalog: Catalog) -> None:
    with pytest.raises(ValidationError) as caught:
        catalog.resolve("a100x8")
    assert caught.value.suggestions == ["8xa100"]


def test_every_instance_type_resolves_to_itself_by_name(catalog: Catalog) -> None:
    for provider in [None, *catalog.providers()]:
        for instance_type in catalog.instance_types(provider):
            assert catalog.resolve(instance_type.name, provider=provider) == instance_type


def test_every_offer_resolves_by_its_provider_id(catalog: Catalog) -> None:
    for offer in catalog.offers():
        resolved = catalog.resolve(offer.provider_type_id, provider=offer.provider)
        assert resolved == offer.instance_type


def test_without_a_provider_host_specs_are_kept_only_where_providers_agree(
    catalog: Catalog,
) -> None:
    shared = catalog.resolve("h100-80gb.sxm.8x")  # fcp and hyperstack, different hosts
    assert (shared.vcpus, shared.ram_gb, shared.disk_gb) == (None, 1800, None)
    only_fcp = catalog.resolve("a100-80gb.sxm.2x")
    assert (only_fcp.vcpus, only_fcp.ram_gb, only_fcp.disk_gb) == (48, 450, 3500)


def test_the_module_function_uses_the_process_wide_catalog() -> None:
    resolved = resolve_instance_type("8xh100")
    assert isinstance(resolved, InstanceType)
    assert resolved.name == "h100-80gb.sxm.8x"
    assert resolve_instance_type("a100", provider="hyperstack").name == "a100-80gb.pcie.1x"
