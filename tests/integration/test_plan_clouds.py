"""Plans carried out on the emulated clouds over loopback: ``provider: auto`` picks the cheapest
offer across FCP and Hyperstack, an offer without capacity moves the task to the next one (and
says so), and every task keeps the price it runs at: ``task.cost`` and ``flow cost``."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.integration.clouds import fcp, fcp_flow, hyperstack

from flowlib import Flow
from flowlib._planning import refresh_catalog
from flowlib.cli import main
from flowlib.errors import ValidationError
from flowlib.testing.emulators.fcp import FcpEmulator
from flowlib.testing.emulators.hyperstack import HyperstackEmulator

__all__ = ["fcp", "hyperstack"]


@pytest.fixture(autouse=True)
def _home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)


def test_no_capacity_moves_to_the_next_offer_and_the_price_is_kept(
    fcp: FcpEmulator, capsys: pytest.CaptureFixture[str]
) -> None:
    with fcp_flow(fcp) as flow:
        refresh_catalog(flow, ["fcp"])
        plan = flow.plan("echo hi", instance_type="a100", max_run_time_hours=1)
        assert plan.offer is not None
        cheapest, second = plan.offer, plan.alternatives[0]
        assert cheapest.price_per_hour is not None and second.price_per_hour is not None
        assert cheapest.price_per_hour < second.price_per_hour
        assert cheapest.region is not None
        fcp.set_capacity(cheapest.name, cheapest.region, 0)  # sold out since the refresh
        task = flow.run("echo hi", instance_type="a100", max_run_time_hours=1, wait=True)
        kept = flow.store.get(task.task_id).provider_data["plan"]
    assert task.status.value == "completed"
    assert kept["region"] == second.region and kept["price_per_hour"] == second.price_per_hour
    (note,) = kept["fallbacks"]
    assert cheapest.region in note and "moved to the next offer" in note
    assert task.cost is not None and task.cost.final
    assert task.cost.price_per_hour == second.price_per_hour  # the price it ran at
    assert task.cost.hours > 0 and task.cost.amount == pytest.approx(
        second.price_per_hour * task.cost.hours
    )
    fcp.set_market_price(second.name, str(second.region), "$9.99")  # the market moves on
    assert main(["cost", "--by", "name", "--json"]) == 0
    assert '"cost": ' in capsys.readouterr().out
    with fcp_flow(fcp) as flow:
        again = flow.get_task(task.task_id)
    assert again.cost is not None and again.cost.price_per_hour == second.price_per_hour
    assert main(["cost"]) == 0
    out = capsys.readouterr().out
    assert "fcp" in out and f"total: ${task.cost.amount:,.2f}" in out


def test_provider_auto_runs_the_cheapest_offer_across_providers(
    fcp: FcpEmulator, hyperstack: HyperstackEmulator
) -> None:
    sections = {
        "fcp": fcp.provider_settings(poll_interval_s=0.05, timeout_s=2),
        "hyperstack": hyperstack.provider_settings(poll_interval_s=0.05, timeout_s=2),
    }
    with Flow(provider="auto", providers=sections) as flow:
        plan = flow.plan("echo hi", gpu_count=1, min_gpu_memory_gb=80, max_run_time_hours=1)
        assert plan.offer is not None
        every = [plan.offer, *plan.alternatives]
        assert {o.provider for o in every} == {"fcp", "hyperstack"}
        assert plan.offer.price_per_hour == min(o.price_per_hour or 0 for o in every)
        task = flow.run("echo hi", gpu_count=1, min_gpu_memory_gb=80, max_run_time_hours=1)
        assert task.provider == plan.provider
        assert task.config is not None and task.config.instance_type == plan.offer.name
        done = flow.wait(task.task_id, timeout=60)
    assert done.status.value == "completed"
    assert done.cost is not None and done.cost.price_per_hour == plan.offer.price_per_hour


def test_a_worst_case_over_max_total_cost_is_refused_before_anything_is_created(
    fcp: FcpEmulator,
) -> None:
    section = fcp.provider_settings(poll_interval_s=0.05, timeout_s=2)
    with Flow(provider="fcp", providers={"fcp": section}, max_total_cost=5.0) as flow:
        with pytest.raises(ValidationError, match=r"worst case is \$\d+\.\d\d .* over max_total"):
            flow.run("echo hi", instance_type="8xa100", max_run_time_hours=2)
        with pytest.raises(ValidationError, match="no max_run_time_hours"):
            flow.run("echo hi", instance_type="a100")
        assert flow.store.count() == 0
        ok = flow.plan("echo hi", instance_type="a100", max_run_time_hours=2)
    assert ok.worst_case_cost is not None and ok.worst_case_cost <= 5.0
