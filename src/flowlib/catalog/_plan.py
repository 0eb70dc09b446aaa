"""The planner: a task's requirements against offers, to the one offer it runs on, priced.

:func:`plan_offers` is pure (offers in, a :class:`Plan` out): every offer is checked against
every constraint once, the ones that fit are ranked by price, and the nearest ones that do not
are kept with their reasons. When nothing fits, it raises a :class:`~flowlib.errors.CapacityError`
that names the nearest offers and, for each constraint that alone stands in the way, how far to
relax it. :meth:`flowlib.Flow.plan` feeds it the catalog (live offers where fresh).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import compress
from operator import attrgetter
from typing import TYPE_CHECKING

from flowlib.catalog._catalog import get_catalog
from flowlib.catalog._parse import parse_instance_type
from flowlib.errors import CapacityError, ValidationError

if TYPE_CHECKING:
    from flowlib.catalog._catalog import Catalog
    from flowlib.catalog._shapes import PlanJson, RejectionJson
    from flowlib.catalog._types import Offer
    from flowlib.models import Requirements

__all__ = ["Plan", "Rejection", "plan_offers"]

NEAREST = 5  # rejected offers a plan keeps (the closest misses)

# One bit per constraint; an offer's misses are a mask, so ranking near misses is cheap.
_TYPE, _MODEL, _COUNT, _GPU_MEM, _VCPUS, _RAM, _PRICE, _SPOT, _REGION, _ROOM = (
    1 << i for i in range(10)
)


@dataclass(frozen=True)
class Rejection:
    """An offer the plan did not take, and every reason why."""

    offer: Offer
    reasons: tuple[str, ...]

    def to_dict(self) -> RejectionJson:
        return {**self.offer.to_dict(), "reasons": list(self.reasons)}


@dataclass(frozen=True)
class Plan:
    """Where and at what price a task would run.

    :ivar provider: the provider that runs it (with ``provider: auto``, the chosen offer's).
    :ivar offer: the chosen offer; None when the provider lists no offers (``local``,
        ``slurm``: they run on machines of their own, without a price).
    :ivar alternatives: other offers that fit, cheapest first: where a submit goes next when
        the chosen one has no capacity.
    :ivar rejected: the nearest offers that do not fit, each with its reasons.
    :ivar nodes: instances the task runs on.
    :ivar max_run_time_hours: the task's time limit (None: none, so no worst case).
    :ivar sources: provider -> where its offers came from (``live, fetched ...`` or
        ``bundled ...``).
    :ivar notes: what the planner decided on its own (a default GPU, a node range).
    :ivar considered: how many offers were checked.
    """

    provider: str
    requirements: Requirements
    offer: Offer | None = None
    alternatives: tuple[Offer, ...] = ()
    rejected: tuple[Rejection, ...] = ()
    nodes: int = 1
    max_run_time_hours: float | None = None
    sources: Mapping[str, str] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    considered: int = 0

    @property
    def price_per_hour(self) -> float | None:
        """Dollars per hour for all nodes (the offer's price times ``nodes``)."""
        if self.offer is None or self.offer.price_per_hour is None:
            return None
        return self.offer.price_per_hour * self.nodes

    @property
    def worst_case_cost(self) -> float | None:
        """Price x nodes x max run time, in dollars; None without a price or a time limit."""
        price = self.price_per_hour
        if price is None or self.max_run_time_hours is None:
            return None
        return price * self.max_run_time_hours

    def to_dict(self) -> PlanJson:
        """The plan as JSON-ready data (what ``flow run --dry-run --json`` prints)."""
        return {
            "provider": self.provider,
            "offer": None if self.offer is None else self.offer.to_dict(),
            "nodes": self.nodes,
            "price_per_hour": self.price_per_hour,
            "max_run_time_hours": self.max_run_time_hours,
            "worst_case_cost": self.worst_case_cost,
            "alternatives": [o.to_dict() for o in self.alternatives],
            "rejected": [r.to_dict() for r in self.rejected],
            "requirements": self.requirements.model_dump(exclude_defaults=True),
            "sources": dict(self.sources),
            "notes": list(self.notes),
            "considered": self.considered,
        }

    def lines(self) -> list[str]:
        """The plan as lines a person reads (what ``flow run --dry-run`` prints)."""
        out: list[str] = []
        if self.offer is None:
            out.append(f"plan: {self.provider} (no priced offers: it runs on its own machines)")
            out += [f"  note: {n}" for n in self.notes]
            return out
        o = self.offer
        kind = "spot" if o.spot else "on-demand"
        price = "price unknown" if o.price_per_hour is None else f"${o.price_per_hour:,.2f}/h"
        nodes = f" x {self.nodes} nodes" if self.nodes > 1 else ""
        out.append(
            f"plan: {o.provider} {o.name} ({o.provider_type_id}) in {o.region or 'any region'}, "
            f"{kind}, {price}{nodes}"
        )
        worst = self.worst_case_cost
        if worst is not None:
            out.append(
                f"  worst case: ${worst:,.2f} (${self.price_per_hour:,.2f}/h x "
                f"{self.max_run_time_hours:g} h max run time)"
            )
        elif self.price_per_hour is not None:
            out.append("  worst case: no limit (set max_run_time_hours to bound it)")
        for provider, source in sorted(self.sources.items()):
            out.append(f"  offers of {provider}: {source}")
        out += [f"  note: {n}" for n in self.notes]
        if self.alternatives:
            out.append(f"  next if it has no capacity ({len(self.alternatives)} more fit):")
            out += [f"    {_offer_line(a)}" for a in self.alternatives[:3]]
        if self.rejected:
            out.append(f"  rejected (nearest of {self.considered - 1 - len(self.alternatives)}):")
            out += [
                f"    {_offer_line(r.offer)}: {'; '.join(r.reasons)}" for r in self.rejected[:3]
            ]
        return out


def plan_offers(
    requirements: Requirements,
    offers: Sequence[Offer],
    *,
    provider: str,
    catalog: Catalog | None = None,
    default_gpu: str | None = None,
    max_run_time_hours: float | None = None,
    sources: Mapping[str, str] | None = None,
    notes: Sequence[str] = (),
) -> Plan:
    """The cheapest of ``offers`` that meets every requirement, with the others that fit and
    the nearest that do not.

    ``requirements.gpu_count`` without a named model means any model with at least that many
    GPUs per instance, unless ``default_gpu`` names one. ``catalog`` resolves
    ``instance_type`` (default: the process-wide catalog).

    :raises CapacityError: when no offer fits, naming the nearest ones and what to relax.
    :raises ValidationError: for an instance type or default GPU that does not parse.
    """
    req = requirements
    notes = list(notes)
    type_names, type_ids = _instance_type_filter(req, catalog)
    model = None
    if req.instance_type is None and default_gpu and req.gpu_count is not None:
        model = _model_of(default_gpu)
        notes.append(f"GPU model {model} from default_gpu (config)")
    elif req.instance_type is None and req.gpu_count is not None:
        notes.append("no GPU model asked for: the cheapest model that fits")
    count = req.gpu_count if req.instance_type is None else None
    masks = _check_all(req, offers, type_names, type_ids, model, count)
    fits = sorted((o for o, m in zip(offers, masks, strict=True) if not m), key=_rank)
    rejected = tuple(
        Rejection(o, _reasons(m, o, req, model, count)) for m, o in _nearest(offers, masks, NEAREST)
    )
    if not fits:
        raise _nothing_fits(req, provider, offers, masks, rejected)
    chosen = fits[0]
    return Plan(
        provider=chosen.provider,
        requirements=req,
        offer=chosen,
        alternatives=tuple(fits[1:]),
        rejected=rejected,
        nodes=req.nodes,
        max_run_time_hours=max_run_time_hours,
        sources=dict(sources or {}),
        notes=tuple(notes),
        considered=len(offers),
    )


# -- helpers ------------------------------------------------------------------------------------


def _check_all(
    req: Requirements,
    offers: Sequence[Offer],
    type_names: frozenset[_Shape] | None,
    type_ids: frozenset[str] | None,
    model: str | None,
    count: int | None,
) -> list[int]:
    """Per offer, the mask of the constraints it misses (0: it fits). One pass per constraint
    that is set, in C where the values cannot be None (``compress`` over ``map``): 10,000
    offers plan in a few milliseconds."""
    n = len(offers)
    masks = [0] * n
    shapes = list(map(_INSTANCE_TYPE, offers))

    def mark(bit: int, failing: Iterable[int]) -> None:
        for i in failing:
            masks[i] |= bit

    def below(values: Iterable[int], least: int) -> Iterable[int]:
        return compress(range(n), map(least.__gt__, values))

    if type_names is not None:
        ids = type_ids or frozenset()
        keys = map(_shape_key, offers)
        mark(
            _TYPE,
            [
                i
                for i, (o, k) in enumerate(zip(offers, keys, strict=True))
                if k not in type_names and o.provider_type_id not in ids
            ],
        )
    if model is not None:
        mark(_MODEL, compress(range(n), map(model.__ne__, map(_GPU, shapes))))
    if count is not None:
        mark(_COUNT, below(map(_GPU_COUNT, shapes), count))
    if (memory := req.min_gpu_memory_gb) is not None:
        mark(_GPU_MEM, below(map(_GPU_MEMORY, shapes), memory))
    if (vcpus := req.min_vcpus) is not None:
        mark(_VCPUS, [i for i, v in enumerate(map(_VCPUS_OF, shapes)) if (v or 0) < vcpus])
    if (ram := req.min_ram_gb) is not None:
        mark(_RAM, [i for i, v in enumerate(map(_RAM_OF, shapes)) if (v or 0) < ram])
    if (cap := req.max_price_per_hour) is not None:
        mark(_PRICE, [i for i, v in enumerate(map(_PRICE_OF, offers)) if v is None or v > cap])
    if req.spot is not None:
        mark(_SPOT, compress(range(n), map(req.spot.__ne__, map(_SPOT_OF, offers))))
    if req.region is not None:
        region = req.region.strip().lower()
        mark(
            _REGION,
            [i for i, r in enumerate(map(_REGION_OF, offers)) if r is None or r.lower() != region],
        )
    nodes = req.nodes
    mark(_ROOM, [i for i, a in enumerate(map(_AVAILABLE, offers)) if a is not None and a < nodes])
    return masks  # fmt: skip


_INSTANCE_TYPE = attrgetter("instance_type")
_GPU, _GPU_COUNT, _GPU_MEMORY = (
    attrgetter("gpu"),
    attrgetter("gpu_count"),
    attrgetter("gpu_memory_gb"),
)
_VCPUS_OF, _RAM_OF = attrgetter("vcpus"), attrgetter("ram_gb")
_PRICE_OF, _SPOT_OF = attrgetter("price_per_hour"), attrgetter("spot")
_REGION_OF, _AVAILABLE = attrgetter("region"), attrgetter("available")


def _shape_key(o: Offer) -> _Shape:
    """What an instance type name says, as a tuple (cheaper to compare than the name)."""
    t = o.instance_type
    return (t.gpu, t.gpu_count, t.gpu_memory_gb, t.interconnect)


def _nearest(offers: Sequence[Offer], masks: list[int], n: int) -> list[tuple[int, Offer]]:
    """The ``n`` closest misses: fewest constraints missed; among them the most of what was too
    little (GPU memory, GPUs, vCPUs, RAM), then the cheapest."""
    counts = [m.bit_count() for m in masks]
    fewest = min((c for c in counts if c), default=0)
    if not fewest:
        return []
    group = [(masks[i], offers[i]) for i, c in enumerate(counts) if c == fewest]

    def key(item: tuple[int, Offer]) -> tuple[int, int, int, int, bool, float]:
        miss, o = item
        t = o.instance_type
        price = o.price_per_hour
        return (
            -t.gpu_memory_gb if miss & _GPU_MEM else 0,
            -t.gpu_count if miss & _COUNT else 0,
            -(t.vcpus or 0) if miss & _VCPUS else 0,
            -(t.ram_gb or 0) if miss & _RAM else 0,
            price is None,
            price or 0.0,
        )

    return heapq.nsmallest(n, group, key=key)


def _rank(o: Offer) -> tuple[bool, float, int, str, str, str]:
    price = o.price_per_hour
    t = o.instance_type
    return (
        price is None,
        price or 0.0,
        t.gpu_count,
        o.provider,
        o.provider_type_id,
        o.region or "",
    )


_Shape = tuple[str, int, int, "str | None"]


def _instance_type_filter(
    req: Requirements, catalog: Catalog | None
) -> tuple[frozenset[_Shape] | None, frozenset[str] | None]:
    """The shapes (gpu, count, memory, interconnect; or provider ids) ``req.instance_type``
    means; None: any."""
    text = req.instance_type
    if text is None:
        return None, None
    request = parse_instance_type(text)
    if request.fid is not None:
        return frozenset(), frozenset({request.fid})
    if req.gpu_count is not None and request.count is None:
        text = f"{req.gpu_count}x{text}"
    elif req.gpu_count is not None and request.count != req.gpu_count:
        raise ValidationError(
            f"instance_type {req.instance_type!r} has {request.count} GPUs but gpu_count is "
            f"{req.gpu_count}",
            suggestions=["give the count once: instance_type='4xa100', or gpu_count alone"],
        )
    if catalog is None:
        catalog = get_catalog()
    t = catalog.resolve(text)
    return frozenset({(t.gpu, t.gpu_count, t.gpu_memory_gb, t.interconnect)}), None


def _model_of(text: str) -> str:
    request = parse_instance_type(text)
    if request.gpu is None:
        raise ValidationError(
            f"default_gpu {text!r} names no GPU model", suggestions=["default_gpu: a100"]
        )
    return request.gpu


def _reasons(
    miss: int, o: Offer, req: Requirements, model: str | None, count: int | None
) -> tuple[str, ...]:
    t = o.instance_type
    out: list[str] = []
    if miss & _TYPE:
        out.append(f"not a {req.instance_type}")
    if miss & _MODEL:
        out.append(f"a {t.gpu}, not a {model}")
    if miss & _COUNT:
        out.append(f"{t.gpu_count} GPUs, fewer than {count}")
    if miss & _GPU_MEM:
        out.append(f"{t.gpu_memory_gb} GB per GPU, under {req.min_gpu_memory_gb}")
    if miss & _VCPUS:
        out.append(f"{t.vcpus or 'unknown'} vCPUs, under {req.min_vcpus}")
    if miss & _RAM:
        out.append(f"{t.ram_gb or 'unknown'} GB RAM, under {req.min_ram_gb}")
    if miss & _PRICE:
        price = "no price" if o.price_per_hour is None else f"${o.price_per_hour:,.2f}/h"
        out.append(f"{price}, over ${req.max_price_per_hour:,.2f}/h")
    if miss & _SPOT:
        out.append("spot" if o.spot else "on-demand")
    if miss & _REGION:
        out.append(f"in {o.region or 'no region'}, not {req.region}")
    if miss & _ROOM:
        out.append(f"{o.available} available, {req.nodes} needed")
    return tuple(out)


_RELAX = {
    _TYPE: "instance_type",
    _MODEL: "default_gpu",
    _COUNT: "gpu_count",
    _GPU_MEM: "min_gpu_memory_gb",
    _VCPUS: "min_vcpus",
    _RAM: "min_ram_gb",
    _PRICE: "max_price_per_hour",
    _SPOT: "spot",
    _REGION: "region",
    _ROOM: "num_instances",
}


def _relax(bit: int, alone: list[Offer], req: Requirements) -> str:
    """How to relax one constraint so the offers it alone keeps out would fit."""
    field_name = _RELAX[bit]
    if bit == _GPU_MEM:
        best = max(o.instance_type.gpu_memory_gb for o in alone)
        return f"lower min_gpu_memory_gb to {best} (--min-gpu-memory {best})"
    if bit == _COUNT:
        best = max(o.instance_type.gpu_count for o in alone)
        return (
            f"ask for at most {best} GPUs per node (--gpus {best}) and more nodes "
            "(num_instances) if you need more GPUs"
        )
    if bit == _PRICE:
        best_price = min(o.price_per_hour or 0.0 for o in alone)
        return f"raise max_price_per_hour to {best_price:.2f} (--max-price {best_price:.2f})"
    if bit == _VCPUS:
        return f"lower min_vcpus to {max(o.instance_type.vcpus or 0 for o in alone)}"
    if bit == _RAM:
        return f"lower min_ram_gb to {max(o.instance_type.ram_gb or 0 for o in alone)}"
    if bit == _REGION:
        regions = sorted({o.region for o in alone if o.region})
        return f"drop region {req.region!r} (fits in: {', '.join(regions[:4])})"
    if bit == _SPOT:
        return "allow spot" if req.spot is False else "allow on-demand"
    if bit == _ROOM:
        best_room = max(o.available or 0 for o in alone)
        return f"use at most {best_room} nodes now, or try later"
    return f"drop {field_name} (e.g. {_offer_line(alone[0])} fits otherwise)"


def _nothing_fits(
    req: Requirements,
    provider: str,
    offers: Sequence[Offer],
    masks: list[int],
    rejected: tuple[Rejection, ...],
) -> CapacityError:
    where = provider if provider != "auto" else "any configured provider"
    if not offers:
        return CapacityError(
            f"{where} lists no offers to plan against",
            suggestions=["`flow catalog` lists the offers flowlib knows"],
            provider=provider,
        )
    alone: dict[int, list[Offer]] = {}
    for miss, o in zip(masks, offers, strict=True):
        if miss and miss & (miss - 1) == 0:  # exactly one constraint keeps this offer out
            alone.setdefault(miss, []).append(o)
    tips = [_relax(bit, found, req) for bit, found in sorted(alone.items())]
    if not tips:
        tips = ["relax more than one requirement: no offer misses only one"]
    nearest = "; ".join(f"{_offer_line(r.offer)} ({', '.join(r.reasons)})" for r in rejected[:3])
    asked = ", ".join(
        f"{k}={v}" for k, v in req.model_dump(exclude_defaults=True).items() if k != "nodes"
    )
    nodes = f" on {req.nodes} nodes" if req.nodes > 1 else ""
    return CapacityError(
        f"no offer of {where} meets {asked or 'the task'}{nodes} ({len(offers)} offers checked); "
        f"nearest: {nearest}",
        suggestions=[*tips, "`flow catalog` lists every offer"],
        provider=provider,
    )


def _offer_line(o: Offer) -> str:
    price = "no price" if o.price_per_hour is None else f"${o.price_per_hour:,.2f}/h"
    spot = " spot" if o.spot else ""
    return f"{o.provider} {o.name} {o.region or '-'}{spot} {price}"
