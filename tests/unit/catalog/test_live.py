"""The live catalog under FLOW_HOME: kept with its fetch time, used while fresh, kept (and
its age said) when a refresh fails."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

from flowlib.catalog import LiveCatalog, get_catalog, planning_catalog
from flowlib.catalog._live import offer_from_dict, offer_to_dict
from flowlib.errors import NetworkError

T0 = datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def test_offers_round_trip_through_the_cache() -> None:
    for o in get_catalog().offers():
        assert offer_from_dict(offer_to_dict(o)) == o


def test_fresh_live_offers_replace_the_bundled_ones_until_the_ttl(tmp_path: Path) -> None:
    clock = Clock()
    live = LiveCatalog(tmp_path, now=clock)
    cheap = [o for o in get_catalog().offers("fcp")][:1]
    import dataclasses

    moved = [dataclasses.replace(cheap[0], price_per_hour=0.99)]
    result = live.refresh("fcp", lambda: moved)
    assert result is not None and result.ok and result.count == 1
    assert live.fresh(3600)["fcp"][0] == moved
    clock.now = T0 + timedelta(hours=2)
    assert "fcp" not in live.fresh(3600)  # stale: planning goes back to the bundled offers


def test_planning_catalog_says_where_offers_came_from(tmp_path: Path) -> None:
    catalog, sources = planning_catalog(tmp_path, 3600)
    assert sources["fcp"].startswith("bundled (prices as of")
    one = get_catalog().offers("fcp")[:1]
    LiveCatalog(tmp_path).refresh("fcp", lambda: one)
    catalog, sources = planning_catalog(tmp_path, 3600)
    assert sources["fcp"].startswith("live, fetched")
    assert catalog.offers("fcp") == one
    assert catalog.offers("hyperstack") == get_catalog().offers("hyperstack")


def test_a_failed_refresh_keeps_the_last_offers_and_says_how_old(tmp_path: Path) -> None:
    clock = Clock()
    live = LiveCatalog(tmp_path, now=clock)
    one = get_catalog().offers("fcp")[:1]
    live.refresh("fcp", lambda: one)
    clock.now = T0 + timedelta(minutes=20)

    def unreachable() -> list[object]:
        raise NetworkError("cannot reach api.example")

    result = live.refresh("fcp", unreachable)  # type: ignore[arg-type]
    assert result is not None and not result.ok
    assert result.kept_age_s == 1200
    assert "kept the live offers fetched 20 min ago" in result.line()
    assert live.fresh(3600)["fcp"][0] == one
    first = LiveCatalog(tmp_path / "new").refresh("fcp", unreachable)  # type: ignore[arg-type]
    assert first is not None and "planning uses the bundled ones" in first.line()


def test_a_refresh_nobody_answered_stores_nothing(tmp_path: Path) -> None:
    live = LiveCatalog(tmp_path)
    assert live.refresh("local", list, keep=lambda: False) is None
    assert live.read() == {}
