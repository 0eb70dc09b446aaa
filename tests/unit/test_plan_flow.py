"""Flow.plan and the planner in the engine and CLI: which providers `auto` chooses among, the
plan a provider without offers gets, the guard on the worst case, dry runs that show the plan,
and impossible needs refused before anything is recorded."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.cli import main
from flowlib.errors import CapacityError, ValidationError


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("FLOW_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    return tmp_path / "home"


def test_a_provider_without_offers_plans_without_one(home: Path) -> None:
    with Flow(provider="local") as flow:
        plan = flow.plan("echo hi")
    assert plan.offer is None and plan.provider == "local" and plan.price_per_hour is None
    assert "no priced offers" in plan.lines()[0]


def test_auto_chooses_among_the_configured_providers_else_every_one_with_offers(
    home: Path,
) -> None:
    with Flow(provider="auto") as flow:
        plan = flow.plan("echo hi", gpu_count=1, min_gpu_memory_gb=80)
        assert plan.offer is not None and plan.offer.provider in ("fcp", "hyperstack")
        assert "no provider configured" in " ".join(plan.notes)
        with pytest.raises(ValidationError, match="chosen per task by the planner"):
            flow.provider()
    with Flow(provider="auto", providers={"fcp": {}}) as flow:
        plan = flow.plan("echo hi", gpu_count=1, min_gpu_memory_gb=80)
    assert plan.offer is not None and plan.offer.provider == "fcp"
    assert set(plan.sources) == {"fcp"}


def test_default_gpu_and_max_total_cost_come_from_config(home: Path) -> None:
    with Flow(provider="auto", default_gpu="h100") as flow:
        plan = flow.plan("echo hi", gpu_count=8)
    assert plan.offer is not None and plan.offer.instance_type.gpu == "h100"
    with Flow(provider="fcp", max_total_cost=10) as flow:
        with pytest.raises(ValidationError, match="over max_total_cost") as caught:
            flow.plan("echo hi", instance_type="8xa100", max_run_time_hours=1)
        assert any("--max-run-time" in s for s in caught.value.suggestions)


def test_an_impossible_need_fails_before_anything_is_recorded(home: Path) -> None:
    with Flow(provider="fcp") as flow:
        with pytest.raises(CapacityError, match="nearest"):
            flow.run("echo hi", min_gpu_memory_gb=1000)
        assert flow.store.count() == 0


def test_dry_run_prints_the_plan_and_json_gives_it(
    home: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["run", "--dry-run", "--provider", "auto", "--gpus", "2", "--max-run-time", "3"]
    assert main([*argv, "echo", "hi"]) == 0
    out = capsys.readouterr().out
    assert "plan: " in out and "worst case: $" in out and "/h x 3 h max run time" in out
    assert main([*argv, "--json", "echo", "hi"]) == 0
    data = json.loads(capsys.readouterr().out)
    plan = data["plan"]
    assert plan["offer"]["gpu_count"] >= 2 and plan["worst_case_cost"] > 0
    assert data["provider"] == plan["provider"]
    assert main(["run", "--dry-run", "--provider", "fcp", "--gpus", "64", "echo", "hi"]) == 12
    err = capsys.readouterr().err
    assert "at most 8 GPUs per node" in err and "Traceback" not in err


def test_a_provider_id_the_bundled_catalog_does_not_know_is_left_to_the_provider(
    home: Path,
) -> None:
    with Flow(provider="fcp") as flow:
        plan = flow.plan("echo hi", instance_type="it_NotBundled12345")
        known = flow.plan("echo hi", instance_type="it_MsIRhxj3ccyVWGfP")
    assert plan.offer is None and "fcp resolves it" in plan.notes[0]
    assert known.offer is not None and known.offer.name == "a100-80gb.sxm.1x"


def test_the_catalog_files_are_parsed_once_not_on_every_run(home: Path) -> None:
    from flowlib._planning import _bundled_providers, _providers_in, has_offers

    _bundled_providers.cache_clear()
    _providers_in.cache_clear()
    with Flow(provider="local") as flow:
        assert all(has_offers(flow, "fcp") for _ in range(3))
        assert _providers_in.cache_info().misses == 1  # the bundled data.json, once
        assert not has_offers(flow, "mine")
        live = home / "catalog" / "live.json"
        live.parent.mkdir(parents=True)
        live.write_text(json.dumps({"providers": {"mine": {}}}))
        assert has_offers(flow, "mine") and has_offers(flow, "mine")
        assert _providers_in.cache_info().misses == 2
        live.write_text(json.dumps({"providers": {"other": {}}}))  # a refresh: read again
        assert not has_offers(flow, "mine")
