"""The bundled data file: it ships in the package, loads, and every row makes sense."""

from __future__ import annotations

import copy
import json
from collections import Counter
from importlib.resources import files
from typing import Any

import pytest

from flowlib.catalog import GPU_ALIASES, Catalog, GpuSpec, GpuVariant, InstanceType, Offer
from flowlib.catalog._aliases import MAX_GPU_COUNT
from flowlib.catalog._data import read_bundled
from flowlib.errors import ValidationError


@pytest.fixture(scope="module")
def data() -> dict[str, Any]:
    return read_bundled()


@pytest.fixture(scope="module")
def catalog() -> Catalog:
    return Catalog.bundled()


def test_the_file_is_package_data() -> None:
    resource = files("flowlib.catalog") / "data.json"
    assert resource.is_file()
    assert json.loads(resource.read_text(encoding="utf-8"))["schema_version"] == 1


def test_every_row_is_a_sane_instance_type(catalog: Catalog) -> None:
    assert len(catalog.offers()) >= 30
    for offer in catalog.offers():
        shape = offer.instance_type
        assert 1 <= shape.gpu_count <= MAX_GPU_COUNT
        assert shape.gpu_memory_gb > 0
        assert shape.interconnect in {"sxm", "pcie", "nvl"}
        assert shape.vcpus and shape.ram_gb and shape.disk_gb
        assert shape.ram_gb >= shape.gpu_count * 8  # at least 8 GB of RAM per GPU
        assert offer.price_per_hour is not None and 0 < offer.price_per_hour < 100
        assert offer.provider_type_id


def test_names_and_ids_are_unique_per_provider(data: dict[str, Any]) -> None:
    for provider, block in data["providers"].items():
        names = Counter(row["name"] for row in block["instance_types"])
        ids = Counter(row["id"] for row in block["instance_types"])
        assert max(names.values()) == 1, (provider, names.most_common(1))
        assert max(ids.values()) == 1, (provider, ids.most_common(1))


def test_every_row_uses_a_variant_its_gpu_spec_declares(catalog: Catalog) -> None:
    specs = {spec.model: spec for spec in catalog.gpus()}
    for shape in catalog.instance_types():
        variant = GpuVariant(shape.gpu_memory_gb, shape.interconnect or "")
        assert variant in specs[shape.gpu].variants, shape.name


def test_the_gpu_specs_are_exactly_the_models_parsing_knows(catalog: Catalog) -> None:
    assert {spec.model for spec in catalog.gpus()} == set(GPU_ALIASES.values())


def test_every_known_gpu_can_be_rented_somewhere(catalog: Catalog) -> None:
    assert {t.gpu for t in catalog.instance_types()} == set(GPU_ALIASES.values())


def test_default_variants(catalog: Catalog) -> None:
    defaults = {spec.model: str(spec.default) for spec in catalog.gpus()}
    assert defaults["a100"] == "80gb.sxm"
    assert defaults["h100"] == "80gb.sxm"
    assert defaults["h200"] == "141gb.sxm"


def test_the_reference_fcp_fids_are_all_there_and_spot(catalog: Catalog) -> None:
    fcp = {o.provider_type_id: o for o in catalog.offers("fcp")}
    assert {fid: o.name for fid, o in fcp.items()} == {
        "it_MsIRhxj3ccyVWGfP": "a100-80gb.sxm.1x",
        "it_5M6aGxGovNeX5ltT": "a100-80gb.sxm.2x",
        "it_fK7Cx6TVhOK5ZfXT": "a100-80gb.sxm.4x",
        "it_J7OyNf9idfImLIFo": "a100-80gb.sxm.8x",
        "it_5ECSoHQjLBzrp5YM": "h100-80gb.sxm.8x",
        "it_XqgKWbhZ5gznAYsG": "h100-80gb.pcie.1x",
    }
    assert all(o.spot for o in catalog.offers("fcp"))
    # the reference's sample InstanceTypeModel for a100-80gb.sxm.2x
    two = fcp["it_5M6aGxGovNeX5ltT"].instance_type
    assert (two.vcpus, two.ram_gb, two.disk_gb) == (48, 450, 3500)


def test_market_facts(catalog: Catalog) -> None:
    names = {t.name for t in catalog.instance_types()}
    # 1x H100 is sold as PCIe; SXM H100 as 8x only
    assert {n for n in names if n.startswith("h100-80gb.sxm")} == {"h100-80gb.sxm.8x"}
    assert "h100-80gb.pcie.1x" in names
    # a 1x A100 80GB exists both ways, and the 40GB SXM one too
    assert {"a100-80gb.sxm.1x", "a100-80gb.pcie.1x", "a100-40gb.sxm.1x"} <= names
    assert not any(o.spot for o in catalog.offers("hyperstack"))
    assert {o.provider_type_id for o in catalog.offers("hyperstack")} >= {
        "n3-A100x1",
        "n3-H100x1",
        "n3-H100x8",
        "n3-L40x1",
        "n3-RTX-A6000x1",
    }


def test_one_row_with_two_regions_is_two_offers(catalog: Catalog) -> None:
    rows = [o for o in catalog.offers("fcp") if o.provider_type_id == "it_MsIRhxj3ccyVWGfP"]
    assert [o.region for o in rows] == ["us-central1-a", "us-central1-b"]
    assert rows[0].instance_type == rows[1].instance_type


def test_total_gpu_memory(catalog: Catalog) -> None:
    assert catalog.resolve("8xh100").total_gpu_memory_gb == 640


def broken(data: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``data`` with the field at a dotted ``path`` set to ``value``."""
    copied = copy.deepcopy(data)
    *parents, last = path.split(".")
    node: Any = copied
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[int(last) if last.isdigit() else last] = value
    return copied


@pytest.mark.parametrize(
    ("path", "value", "complaint"),
    [
        ("providers.fcp.instance_types.0.name", "a100-80gb.sxm", "is not '{gpu}"),
        ("providers.fcp.instance_types.0.name", "a100-80gb.sxm.0x", "gpu_count"),
        ("providers.fcp.instance_types.0.name", "a100-0gb.sxm.1x", "gpu_memory_gb"),
        ("providers.fcp.instance_types.0.name", "a100-080gb.sxm.1x", "not canonical"),
        ("providers.fcp.instance_types.0.name", "mi300x-192gb.oam.8x", "has no spec"),
        ("providers.fcp.instance_types.1.id", "it_MsIRhxj3ccyVWGfP", "already names"),
        ("providers.fcp.instance_types.0.price_per_hour", -1.0, "price_per_hour"),
        ("providers.fcp.instance_types.0.price_per_hour", "$1.80", "price_per_hour"),
        ("providers.fcp.instance_types.0.vcpus", 0, "vcpus"),
        ("providers.fcp.instance_types.0.colour", "red", "colour: Extra inputs are not permitted"),
        ("gpus.1.default", "96gb.sxm", "not one of its variants"),
        ("schema_version", 2, "schema_version"),
    ],
)
def test_bad_data_is_refused_with_the_row_named(
    data: dict[str, Any], path: str, value: Any, complaint: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Catalog.from_data(broken(data, path, value))
    assert complaint in caught.value.message


def test_values_validate_themselves() -> None:
    with pytest.raises(ValidationError):
        InstanceType("A100", 1, 80)  # models are canonical lowercase
    with pytest.raises(ValidationError):
        InstanceType("a100", 0, 80)
    with pytest.raises(ValidationError):
        Offer("FCP", InstanceType("a100", 1, 80), "it_x")
    with pytest.raises(ValidationError):
        Offer("fcp", InstanceType("a100", 1, 80), " ")
    with pytest.raises(ValidationError):
        GpuSpec("a100", "NVIDIA A100", (GpuVariant(80, "sxm"),), GpuVariant(40, "sxm"))


def test_names_without_an_interconnect_leave_it_out() -> None:
    assert InstanceType("h200", 8, 141).name == "h200-141gb.8x"
