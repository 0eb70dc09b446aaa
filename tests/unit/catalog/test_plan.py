"""The planner: requirements against offers, to the cheapest that fits, the others that fit, and
the nearest that do not with why; impossible needs fail naming what to relax."""

from __future__ import annotations

import pytest

from flowlib.catalog import Catalog, InstanceType, Offer, get_catalog, plan_offers
from flowlib.errors import CapacityError, ValidationError
from flowlib.models import Requirements, TaskConfig


def offer(
    gpu: str = "a100",
    count: int = 1,
    memory: int = 80,
    price: float | None = 2.0,
    provider: str = "alpha",
    region: str | None = "r1",
    spot: bool = False,
    vcpus: int | None = 16,
    ram: int | None = 128,
    available: int | None = None,
    link: str = "sxm",
) -> Offer:
    shape = InstanceType(gpu, count, memory, link, vcpus=vcpus, ram_gb=ram)
    return Offer(provider, shape, f"{provider}-{shape.name}", price, region, spot, available)


def test_a_count_without_a_model_takes_the_cheapest_offer_with_enough_gpus() -> None:
    offers = [
        offer("a100", 1, price=1.0),
        offer("a100", 4, price=8.0),
        offer("l40s", 4, 48, price=4.0, link="pcie"),
        offer("h100", 8, price=20.0),
    ]
    plan = plan_offers(Requirements(gpu_count=4), offers, provider="alpha")
    assert plan.offer is not None and plan.offer.name == "l40s-48gb.pcie.4x"
    assert [o.name for o in plan.alternatives] == ["a100-80gb.sxm.4x", "h100-80gb.sxm.8x"]
    (rejected,) = plan.rejected
    assert rejected.offer.name == "a100-80gb.sxm.1x"
    assert rejected.reasons == ("1 GPUs, fewer than 4",)
    assert "no GPU model asked for" in " ".join(plan.notes)


def test_default_gpu_names_the_model_of_a_bare_count() -> None:
    offers = [offer("l40s", 2, 48, price=2.0, link="pcie"), offer("a100", 2, price=4.0)]
    plan = plan_offers(Requirements(gpu_count=2), offers, provider="alpha", default_gpu="A100")
    assert plan.offer is not None and plan.offer.instance_type.gpu == "a100"
    assert plan.rejected[0].reasons == ("a l40s, not a a100",)


def test_every_constraint_rejects_with_its_reason() -> None:
    base = dict(price=1.0)
    offers = [
        offer(memory=40, **base),  # type: ignore[arg-type]
        offer(vcpus=4, **base),  # type: ignore[arg-type]
        offer(ram=16, **base),  # type: ignore[arg-type]
        offer(price=9.0),
        offer(spot=True, **base),  # type: ignore[arg-type]
        offer(region="r2", **base),  # type: ignore[arg-type]
        offer(available=1, **base),  # type: ignore[arg-type]
        offer(price=3.0, provider="beta"),
    ]
    need = Requirements(
        min_gpu_memory_gb=80, min_vcpus=8, min_ram_gb=64, max_price_per_hour=5,
        spot=False, region="R1", nodes=2,
    )  # fmt: skip
    plan = plan_offers(need, offers, provider="auto")
    assert plan.offer is not None and plan.offer.provider == "beta"
    assert plan.provider == "beta" and plan.nodes == 2
    reasons = sorted(r for rej in plan.rejected for r in rej.reasons)
    assert len(plan.rejected) == 5  # the nearest five (one miss each)
    assert all(len(rej.reasons) == 1 for rej in plan.rejected)
    assert any("GB per GPU, under 80" in r for r in reasons)


def test_the_worst_case_is_price_times_nodes_times_max_run_time() -> None:
    need = Requirements(instance_type="a100", nodes=3)
    catalog = get_catalog()
    plan = plan_offers(need, catalog.offers("fcp"), provider="fcp", max_run_time_hours=2)
    assert plan.offer is not None and plan.offer.price_per_hour is not None
    assert plan.price_per_hour == pytest.approx(plan.offer.price_per_hour * 3)
    assert plan.worst_case_cost == pytest.approx(plan.offer.price_per_hour * 3 * 2)
    data = plan.to_dict()
    assert data["offer"]["instance_type"] == "a100-80gb.sxm.1x"
    assert data["worst_case_cost"] == plan.worst_case_cost
    assert "worst case" in "\n".join(plan.lines())
    unbounded = plan_offers(need, catalog.offers("fcp"), provider="fcp")
    assert unbounded.worst_case_cost is None
    assert "no limit" in "\n".join(unbounded.lines())


def test_a_named_instance_type_matches_its_shape_and_a_count_agrees_with_it() -> None:
    offers = get_catalog().offers()
    plan = plan_offers(Requirements(instance_type="h100", gpu_count=8), offers, provider="auto")
    assert plan.offer is not None and plan.offer.name == "h100-80gb.sxm.8x"
    with pytest.raises(ValidationError, match="has 4 GPUs but gpu_count is 8"):
        plan_offers(Requirements(instance_type="4xa100", gpu_count=8), offers, provider="auto")


@pytest.mark.parametrize(
    ("need", "tip"),
    [
        (Requirements(min_gpu_memory_gb=1000), "lower min_gpu_memory_gb to 180"),
        (Requirements(gpu_count=64), "ask for at most 8 GPUs per node"),
        (Requirements(gpu_count=1, max_price_per_hour=0.01), "raise max_price_per_hour to 0.35"),
    ],
)
def test_an_impossible_need_names_the_nearest_offers_and_what_to_relax(
    need: Requirements, tip: str
) -> None:
    with pytest.raises(CapacityError) as caught:
        plan_offers(need, get_catalog().offers(), provider="auto")
    error = caught.value
    assert "nearest:" in error.message and "offers checked" in error.message
    assert any(s.startswith(tip) for s in error.suggestions), error.suggestions


def test_no_offer_misses_only_one_constraint_says_so() -> None:
    need = Requirements(min_gpu_memory_gb=1000, max_price_per_hour=0.01)
    with pytest.raises(CapacityError) as caught:
        plan_offers(need, [offer()], provider="alpha")
    assert "more than one requirement" in caught.value.suggestions[0]


def test_task_config_carries_the_requirements() -> None:
    config = TaskConfig(
        command="echo", gpu_count=2, min_vcpus=8, min_ram_gb=32, spot=True, region="r1",
        num_instances=2, max_price_per_hour=5,
    )  # fmt: skip
    req = config.requirements
    assert (req.gpu_count, req.min_vcpus, req.min_ram_gb, req.spot) == (2, 8, 32, True)
    assert (req.region, req.nodes, req.max_price_per_hour) == ("r1", 2, 5)
    assert req.wants_hardware and not TaskConfig(command="echo").requirements.wants_hardware
    with pytest.raises(ValidationError):
        TaskConfig(command="echo", gpu_count=65)


def test_planning_uses_a_catalog_passed_in() -> None:
    mine = Catalog([offer("a100", 2, price=3.0)], get_catalog().gpus())
    plan = plan_offers(
        Requirements(instance_type="2xa100"), mine.offers(), provider="alpha", catalog=mine
    )
    assert plan.offer is not None and plan.offer.provider_type_id == "alpha-a100-80gb.sxm.2x"
