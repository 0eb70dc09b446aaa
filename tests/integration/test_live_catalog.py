"""The live catalog against the FCP emulator over loopback: `flow catalog --refresh` calls the
provider's ``flowlib_catalog_offers`` hook, keeps the market prices under FLOW_HOME, and planning
uses them (and says so); an unreachable provider keeps the last catalog and says how old."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from tests.integration.clouds import fcp, fcp_flow

from flowlib._planning import refresh_catalog
from flowlib.cli import main
from flowlib.testing.emulators.fcp import FcpEmulator

__all__ = ["fcp"]

BUNDLED_A100 = 1.80  # data.json's indicative FCP price for a100-80gb.sxm.1x


def _market(emu: FcpEmulator) -> float:
    """The emulator's live price of one A100 (what /v2/spot/availability answers)."""
    with emu.client() as client:
        rows = client.get("/v2/spot/availability").json()
        types = {t["fid"]: t for t in client.get("/v2/instance-types").json()}
    prices = [
        float(r["last_instance_price"].lstrip("$"))
        for r in rows
        if types[r["instance_type"]]["name"] == "a100-80gb.sxm.1x"
    ]
    return min(prices)


def test_a_refresh_makes_planning_use_the_live_market_price(
    fcp: FcpEmulator, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path / "home"))
    market = _market(fcp)
    assert market != BUNDLED_A100  # the emulator's market is not the bundled snapshot
    with fcp_flow(fcp) as flow:
        before = flow.plan("echo hi", instance_type="a100", max_run_time_hours=2)
        assert before.offer is not None and before.offer.price_per_hour == BUNDLED_A100
        assert before.sources["fcp"].startswith("bundled")
        (result,) = refresh_catalog(flow, ["fcp"])
        assert result.ok and result.count > 0
        after = flow.plan("echo hi", instance_type="a100", max_run_time_hours=2)
    assert after.offer is not None and after.offer.price_per_hour == market
    assert after.sources["fcp"].startswith("live, fetched")
    assert after.worst_case_cost == pytest.approx(market * 2)
    cached = json.loads((tmp_path / "home" / "catalog" / "live.json").read_text())
    assert cached["providers"]["fcp"]["fetched_at"]


def test_the_cli_refreshes_and_a_failed_refresh_keeps_the_last_catalog(
    fcp: FcpEmulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = tmp_path / "home"
    monkeypatch.setenv("FLOW_HOME", str(home))
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".flow").mkdir()
    section = {k: v for k, v in fcp.provider_settings().items() if v is not None}
    import yaml

    (tmp_path / ".flow" / "config.yaml").write_text(
        yaml.safe_dump({"provider": "fcp", "providers": {"fcp": section}})
    )
    market = _market(fcp)
    assert main(["catalog", "--refresh", "--provider", "fcp", "-i", "a100"]) == 0
    out = capsys.readouterr().out
    assert "fcp: " in out and "live offers fetched" in out
    assert f"${market:,.2f}" in out and "live, fetched" in out
    fcp.close()  # the provider is gone: the refresh fails, the last live offers stay
    assert main(["catalog", "--refresh", "--provider", "fcp", "-i", "a100"]) == 0
    out = capsys.readouterr().out
    assert "refresh failed" in out and "kept the live offers fetched" in out
    assert f"${market:,.2f}" in out
