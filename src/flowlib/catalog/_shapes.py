"""The JSON the catalog hands out: offers and plans as ``--json`` prints them, and the entries
of the live-offer cache (``FLOW_HOME/catalog/live.json``). Static types only."""

from __future__ import annotations

from typing import Any, TypedDict

__all__ = ["LiveEntry", "OfferJson", "PlanJson", "RejectionJson"]


class OfferJson(TypedDict):
    """:meth:`~flowlib.catalog.Offer.to_dict`: an offer, its instance type's fields inlined."""

    instance_type: str  # the canonical name, ``a100-80gb.sxm.1x``
    gpu: str
    gpu_count: int
    gpu_memory_gb: int
    interconnect: str | None
    vcpus: int | None
    ram_gb: int | None
    disk_gb: int | None
    provider: str
    provider_type_id: str
    price_per_hour: float | None
    region: str | None
    spot: bool
    available: int | None


class RejectionJson(OfferJson):
    """An offer a plan did not take, with every reason why."""

    reasons: list[str]


class PlanJson(TypedDict):
    """:meth:`~flowlib.catalog.Plan.to_dict` (``flow run --dry-run --json``)."""

    provider: str
    offer: OfferJson | None
    nodes: int
    price_per_hour: float | None
    max_run_time_hours: float | None
    worst_case_cost: float | None
    alternatives: list[OfferJson]
    rejected: list[RejectionJson]
    requirements: dict[str, Any]  # the Requirements model's non-default fields
    sources: dict[str, str]
    notes: list[str]
    considered: int


class LiveEntry(TypedDict):
    """One provider's live offers in the cache, and when they were fetched (ISO time)."""

    fetched_at: str
    offers: list[OfferJson]
