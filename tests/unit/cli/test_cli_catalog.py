"""`flow catalog`: offers, cheapest first, as a table or JSON."""

from __future__ import annotations

import json
from typing import Any

import pytest

from flowlib.catalog import find_instances
from flowlib.cli import main


def catalog_json(capsys: pytest.CaptureFixture[str], *argv: str) -> list[dict[str, Any]]:
    assert main(["catalog", "--json", *argv]) == 0
    data = json.loads(capsys.readouterr().out)
    assert isinstance(data, list)
    return data


def test_json_lists_every_offer_cheapest_first(capsys: pytest.CaptureFixture[str]) -> None:
    offers = catalog_json(capsys)
    assert len(offers) == len(find_instances())
    prices = [o["price_per_hour"] for o in offers if o["price_per_hour"] is not None]
    assert prices == sorted(prices)
    first = offers[0]
    assert {
        "instance_type",
        "gpu_count",
        "gpu_memory_gb",
        "provider",
        "provider_type_id",
        "price_per_hour",
        "spot",
        "region",
    } <= set(first)


def test_filters_reach_the_catalog(capsys: pytest.CaptureFixture[str]) -> None:
    offers = catalog_json(capsys, "--min-gpu-memory", "80", "--max-price", "20", "--gpus", "8")
    assert offers
    for o in offers:
        assert o["gpu_memory_gb"] >= 80 and o["gpu_count"] == 8
        assert o["price_per_hour"] is not None and o["price_per_hour"] <= 20
    expected = find_instances(min_gpu_memory_gb=80, max_price_per_hour=20, gpu_count=8)
    assert [o["provider_type_id"] for o in offers] == [o.provider_type_id for o in expected]


def test_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--provider", "fcp", "--gpus", "1"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split()[:3] == ["INSTANCE", "TYPE", "GPUS"]
    footer = next(i for i, line in enumerate(lines) if line.startswith("("))
    assert all("fcp" in line for line in lines[1:footer])
    assert lines[footer + 1].strip().startswith("fcp: bundled (prices as of")


def test_nothing_matches(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--max-price", "0.0001"]) == 0
    assert "no offers match" in capsys.readouterr().out
    assert catalog_json(capsys, "--max-price", "0.0001") == []


def test_a_bad_filter_is_a_validation_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["catalog", "--gpu", "zz999"]) == 2
    assert capsys.readouterr().err.startswith("error: ")


def test_no_two_table_lines_are_the_same(capsys: pytest.CaptureFixture[str]) -> None:
    # An instance type offered in two regions is two offers: the REGION column tells them apart.
    assert main(["catalog"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert "REGION" in lines[0]
    assert len(lines) == len(set(lines))
