"""The engine's side of planning: which providers a task may go to, against which offers, the
cost guard, and the offer a task is pinned to (:meth:`flowlib.Flow.plan`, :meth:`Flow.run`).

With ``provider: auto`` (config, ``--provider auto``, ``Flow(provider="auto")``) the candidates
are the providers configured (a ``providers:`` section, or the top-level ``provider``) that are
installed; with none configured, every installed provider that lists offers. The chosen offer is
written into the task (``instance_type``, ``region``) so the provider prepares exactly it, and
the plan is kept with the task: its price is what the task's cost is computed from.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

from flowlib.errors import CapacityError, ValidationError

if TYPE_CHECKING:
    from flowlib._engine import Engine
    from flowlib.catalog import Offer, Plan
    from flowlib.catalog._live import Refreshed
    from flowlib.models import TaskConfig

__all__ = [
    "AUTO",
    "PlanRecord",
    "candidates",
    "has_offers",
    "make_plan",
    "pinned",
    "plan_record",
    "refresh_catalog",
]

AUTO = "auto"


class PlanRecord(TypedDict):
    """What a task keeps of its plan, as ``provider_data["plan"]`` (:func:`plan_record`); the
    cost of a task (:mod:`flowlib._cost`) is computed from it."""

    provider: str
    instance_type: str
    provider_type_id: str
    region: str | None
    spot: bool
    price_per_hour: float | None  # one instance, dollars
    nodes: int
    worst_case_cost: float | None
    source: str  # where the offer came from: ``live, fetched ...`` or ``bundled ...``
    fallbacks: list[str]  # the offers tried first, and why each was left


def candidates(flow: Engine, offered: list[str]) -> tuple[list[str], str | None]:
    """The providers ``auto`` chooses among, and a note when none was configured."""
    installed = set(flow.registry.names())
    configured = set(flow.config.providers)
    if flow.config.provider != AUTO:
        configured.add(flow.config.provider)
    chosen = sorted(p for p in configured if p in installed and p in offered)
    if chosen:
        return chosen, None
    every = sorted(p for p in offered if p in installed)
    return every, f"no provider configured with offers: chose among {', '.join(every) or 'none'}"


def has_offers(flow: Engine, provider: str) -> bool:
    """Whether ``provider`` (or ``auto``) has offers to plan against, bundled or live; read
    from the two files' provider names, so a task on ``local`` never loads the catalog. Each
    file is parsed once per process (``live.json`` again when it changes)."""
    if provider == AUTO:
        return True
    if provider in _bundled_providers():
        return True
    live = Path(flow.config.home) / "catalog" / "live.json"
    try:
        stat = live.stat()
    except OSError:
        return False
    return provider in _providers_in(str(live), stat.st_mtime_ns, stat.st_size)


@functools.cache
def _bundled_providers() -> frozenset[str]:
    return _providers_in(str(Path(__file__).parent / "catalog" / "data.json"), 0, 0)


@functools.lru_cache(maxsize=8)
def _providers_in(path: str, mtime_ns: int, size: int) -> frozenset[str]:
    """The provider names in catalog file ``path``; mtime and size key the cache."""
    try:
        return frozenset(json.loads(Path(path).read_text(encoding="utf-8")).get("providers", {}))
    except (OSError, ValueError, AttributeError):
        return frozenset()


def make_plan(flow: Engine, config: TaskConfig, provider: str) -> Plan:
    """The plan for ``config`` on ``provider`` (or ``auto``), checked against
    ``max_total_cost``. Creates nothing."""
    from flowlib.catalog import Plan, plan_offers, planning_catalog

    settings = flow.config
    if not has_offers(flow, provider):
        return Plan(provider=provider, requirements=config.requirements)
    default_type = (
        settings.provider_settings(provider).get("instance_type") if provider != AUTO else None
    )
    if config.instance_type is None and config.gpu_count is None and default_type:
        # The provider section's instance_type is the user's default: it wins over "cheapest".
        config = config.model_copy(update={"instance_type": str(default_type)})
    catalog, sources = planning_catalog(settings.home, settings.catalog_ttl_s)
    offered = catalog.providers()
    notes: list[str] = []
    if provider == AUTO:
        names, note = candidates(flow, offered)
        notes += [note] if note else []
    else:
        names = [provider]
    offers = [o for o in catalog.offers() if o.provider in names]
    if provider != AUTO and not offers:
        return Plan(provider=provider, requirements=config.requirements, notes=tuple(notes))
    if provider != AUTO and _unknown_id(config, offers, sources.get(provider, "")):
        # A provider's own id that only its live offers know: the provider resolves it.
        note = f"{config.instance_type} is not in the bundled catalog: {provider} resolves it"
        return Plan(provider=provider, requirements=config.requirements, notes=(note,))
    used = {p: s for p, s in sources.items() if p in names}
    try:
        plan = plan_offers(
            config.requirements,
            offers,
            provider=provider,
            catalog=catalog,
            default_gpu=settings.default_gpu,
            max_run_time_hours=config.max_run_time_hours,
            sources=used,
            notes=notes,
        )
    except CapacityError as exc:
        stale = sorted(p for p, s in used.items() if s.startswith("bundled"))
        if stale:
            exc.suggestions.append(
                f"the offers of {', '.join(stale)} are the bundled snapshot: "
                "`flow catalog --refresh` fetches what is sold now"
            )
        raise
    _check_budget(plan, settings.max_total_cost)
    return plan


def _unknown_id(config: TaskConfig, offers: list[Offer], source: str) -> bool:
    """True for a provider id (an FCP FID) that no bundled offer carries (ids change)."""
    if config.instance_type is None or source.startswith("live"):
        return False
    from flowlib.catalog import parse_instance_type

    fid = parse_instance_type(config.instance_type).fid
    return fid is not None and not any(o.provider_type_id == fid for o in offers)


def _check_budget(plan: Plan, cap: float | None) -> None:
    price = plan.price_per_hour
    if cap is None or price is None:
        return
    worst = plan.worst_case_cost
    fits_hours = cap / price if price else float("inf")
    if worst is None:
        raise ValidationError(
            f"max_total_cost is ${cap:,.2f}, but the task has no max_run_time_hours, so its "
            f"worst case at ${price:,.2f}/h has no limit",
            suggestions=[f"set max_run_time_hours (--max-run-time) to {fits_hours:.2f} or less"],
            max_total_cost=cap,
        )
    if worst > cap:
        raise ValidationError(
            f"the plan's worst case is ${worst:,.2f} (${price:,.2f}/h x "
            f"{plan.max_run_time_hours:g} h), over max_total_cost ${cap:,.2f}",
            suggestions=[
                f"lower max_run_time_hours to {fits_hours:.2f} (--max-run-time {fits_hours:.2f})",
                "raise max_total_cost, or ask for fewer nodes or a cheaper machine",
            ],
            max_total_cost=cap,
            worst_case_cost=worst,
        )


def pinned(plan: Plan, config: TaskConfig, offer: Offer) -> TaskConfig:
    """``config`` fixed to ``offer``'s instance type, so the provider prepares the shape the
    plan chose; and to its region when the offer is live (a bundled offer's region is a
    snapshot: the provider picks among the regions that sell the shape now) or the task asked
    for one."""
    update: dict[str, str | None] = {"instance_type": offer.name, "min_gpu_memory_gb": None}
    live = plan.sources.get(offer.provider, "").startswith("live")
    if offer.region and (live or config.region):
        update["region"] = offer.region
    return config.model_copy(update=update)


def plan_record(plan: Plan, offer: Offer, fallbacks: list[str]) -> PlanRecord:
    """What a task keeps of its plan (``provider_data["plan"]``): the price it runs at."""
    return {
        "provider": offer.provider,
        "instance_type": offer.name,
        "provider_type_id": offer.provider_type_id,
        "region": offer.region,
        "spot": offer.spot,
        "price_per_hour": offer.price_per_hour,
        "nodes": plan.nodes,
        "worst_case_cost": None
        if offer.price_per_hour is None or plan.max_run_time_hours is None
        else offer.price_per_hour * plan.nodes * plan.max_run_time_hours,
        "source": plan.sources.get(offer.provider, ""),
        "fallbacks": fallbacks,
    }


def refresh_catalog(flow: Engine, providers: list[str] | None = None) -> list[Refreshed]:
    """Fetch live offers through the ``flowlib_catalog_offers`` hook and keep them under
    FLOW_HOME (:class:`flowlib.catalog.LiveCatalog`). ``providers``: these only (default: the
    configured ones that a plugin refreshes, else every installed one). A provider that no
    plugin refreshes is left out, unless it was asked for by name; one that cannot be reached
    keeps its last offers."""
    from flowlib.catalog import LiveCatalog, get_catalog
    from flowlib.catalog._live import RecordingCatalog, Refreshed

    installed = flow.registry.names()
    asked = providers is not None
    if providers is None:
        configured = set(flow.config.providers) | {flow.config.provider}
        mine = sorted(p for p in configured if p in installed)
        found = refresh_catalog(flow, mine) if mine else []
        found = [r for r in found if r.error != _NO_HOOK]
        if found:
            return found
        providers = [p for p in installed if p not in mine]
    live = LiveCatalog(flow.config.home)
    hook = flow.registry.plugin_manager.hook.flowlib_catalog_offers
    done: list[Refreshed] = []
    for name in providers:
        scratch = RecordingCatalog([], get_catalog().gpus())

        def fetch(name: str = name, scratch: RecordingCatalog = scratch) -> list[Offer]:
            hook(provider=name, settings=flow.config.provider_settings(name), catalog=scratch)
            return scratch.offers(name)

        def answered(name: str = name, scratch: RecordingCatalog = scratch) -> bool:
            return name in scratch.replaced

        result = live.refresh(name, fetch, keep=answered)
        if result is None:
            if asked:
                done.append(Refreshed(name, False, error=_NO_HOOK))
            continue
        done.append(result)
    return done


_NO_HOOK = "no installed plugin lists its offers"
