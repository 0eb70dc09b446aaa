"""The catalog: which instance types exist, who sells them, and what a name means."""

from __future__ import annotations

import dataclasses
import math
import threading
from collections.abc import Iterable, Mapping, Sequence

from flowlib.catalog._aliases import MAX_GPU_COUNT
from flowlib.catalog._explain import (
    SUGGESTED,
    ambiguous,
    closest,
    no_match,
    not_sold,
    unknown_provider,
)
from flowlib.catalog._parse import InstanceRequest, parse_instance_type
from flowlib.catalog._types import GpuSpec, InstanceType, Offer
from flowlib.errors import ValidationError

__all__ = ["Catalog", "find_instances", "get_catalog", "resolve_instance_type"]


class Catalog:
    """Instance types, the offers that sell them, and the meaning of instance type strings.

    Build one from GPU specs and offers (``Catalog(offers, gpus)``), from data in the bundled
    format (:meth:`from_data`), or from the bundled file (:meth:`bundled`);
    :func:`get_catalog` holds the process-wide one. An instance type's identity is its
    :attr:`~InstanceType.name`: the same shape sold by two providers is one instance type.

    Rules every catalog keeps (violations raise :class:`~flowlib.errors.ValidationError`):
    every offer's GPU has a spec; within one provider a name has one provider id and one host
    (vCPUs, RAM, disk), an id names one instance type, and ``(id, region, spot)`` is unique.

    Reads are safe from many threads; :meth:`replace_offers` swaps a provider's rows atomically.
    """

    def __init__(self, offers: Iterable[Offer], gpus: Iterable[GpuSpec]) -> None:
        specs: dict[str, GpuSpec] = {}
        for spec in gpus:
            if spec.model in specs:
                raise ValidationError(f"GPU {spec.model!r} is described twice")
            specs[spec.model] = spec
        self._gpus: Mapping[str, GpuSpec] = specs
        self._offers: tuple[Offer, ...] = _checked(offers, specs)
        self._lock = threading.Lock()
        # What resolve() answered, with the offers it answered from (a new set of offers,
        # after replace_offers, is resolved again): planning resolves the same names often.
        self._resolved: dict[
            tuple[InstanceRequest, str | None], tuple[tuple[Offer, ...], InstanceType]
        ] = {}

    @classmethod
    def from_data(cls, data: Mapping[str, object]) -> Catalog:
        """A catalog from data in the bundled file's format: ``{"schema_version": 1, "as_of",
        "gpus": [{"model", "display_name", "variants": ["80gb.sxm", ...], "default"}],
        "providers": {name: {"spot", "instance_types": [{"id", "name", "vcpus", "ram_gb",
        "disk_gb", "price_per_hour", "regions"}]}}}``; a row's shape comes from its canonical
        name. Details in :mod:`flowlib.catalog._data`.

        :raises ValidationError: naming the first row that cannot be right.
        """
        from flowlib.catalog._data import parse_data

        gpus, offers = parse_data(data)
        return cls(offers, gpus)

    @classmethod
    def bundled(cls) -> Catalog:
        """A new catalog read from the bundled ``data.json`` (use :func:`get_catalog` to share)."""
        from flowlib.catalog._data import read_bundled

        return cls.from_data(read_bundled())

    # -- what there is ------------------------------------------------------------------------

    def gpus(self) -> list[GpuSpec]:
        """Every GPU family the catalog describes, by model."""
        return [self._gpus[m] for m in sorted(self._gpus)]

    def providers(self) -> list[str]:
        """Providers that have offers in the catalog, sorted."""
        return sorted({o.provider for o in self._offers})

    def offers(self, provider: str | None = None) -> list[Offer]:
        """Every offer (of ``provider`` only, when given), by provider, GPU, shape and region."""
        key = None if provider is None else _provider_key(provider)
        return [o for o in self._offers if key is None or o.provider == key]

    def instance_types(self, provider: str | None = None) -> list[InstanceType]:
        """Distinct instance types (of ``provider`` only, when given), one per name, by GPU,
        memory, interconnect and count.

        A provider's instance types carry its host specs. Across providers, ``vcpus``,
        ``ram_gb`` and ``disk_gb`` are kept where every provider's row agrees and None otherwise.
        """
        return _distinct(self.offers(provider))

    # -- what a name means --------------------------------------------------------------------

    def resolve(self, text: str, provider: str | None = None) -> InstanceType:
        """The one instance type ``text`` means (see :func:`parse_instance_type` for spellings).

        - A bare name means 1 GPU of the family's default variant: ``a100`` ->
          ``a100-80gb.sxm.1x``. When that variant is not sold with that many GPUs, the closest
          one that is (default memory first): ``h100`` -> ``h100-80gb.pcie.1x`` (there is no
          1-GPU SXM H100). A count keeps the same rule: ``8xh100`` -> ``h100-80gb.sxm.8x``.
        - Once the text names memory and/or interconnect, what it names must pick exactly one
          instance type with that GPU count (default 1): ``H100-80GB`` -> ``h100-80gb.pcie.1x``;
          ``a100-80gb`` is an error, as both ``a100-80gb.sxm.1x`` and ``a100-80gb.pcie.1x`` exist.
        - A provider id (``it_MsIRhxj3ccyVWGfP``, ``n3-A100x1``) is looked up among the offers'
          ``provider_type_id`` and gives that provider's instance type.

        :param provider: count only this provider's instance types (its host specs included).
        :raises ValidationError: unparsable text; a GPU, variant or count that is not sold (the
            suggestions are the closest existing names); an ambiguous variant (the suggestions
            are every match); an unknown id; a provider without offers.
        """
        request = parse_instance_type(text)
        key = None if provider is None else _provider_key(provider)
        snapshot = self._offers
        memo = (request, key)
        found = self._resolved.get(memo)
        if found is not None and found[0] is snapshot:  # same offers: same answer
            return found[1]
        shape = self._resolve(request, snapshot, key)
        if len(self._resolved) >= 256:
            self._resolved.clear()
        self._resolved[memo] = (snapshot, shape)
        return shape

    def _resolve(
        self, request: InstanceRequest, offers: Sequence[Offer], key: str | None
    ) -> InstanceType:
        if key is not None and not any(o.provider == key for o in offers):
            raise unknown_provider(key, offers)
        if request.fid is not None:
            return _resolve_id(request.fid, offers, key)
        assert request.gpu is not None
        types = _distinct([o for o in offers if key is None or o.provider == key])
        family = [t for t in types if t.gpu == request.gpu]
        if not family:
            raise not_sold(request, types, key, offers)
        count = request.count or 1
        matches = [
            t
            for t in family
            if t.gpu_count == count
            and (request.memory_gb is None or t.gpu_memory_gb == request.memory_gb)
            and (request.interconnect is None or t.interconnect == request.interconnect)
        ]
        if len(matches) > 1 and request.memory_gb is None and request.interconnect is None:
            matches = self._preferred(matches)
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise ambiguous(request, matches, key)
        raise no_match(request, family, count, key, self._gpus.get(request.gpu))

    def _preferred(self, matches: list[InstanceType]) -> list[InstanceType]:
        """The matches closest to their family's default variant (memory counts most)."""
        spec = self._gpus[matches[0].gpu]

        def distance(t: InstanceType) -> tuple[bool, bool]:
            return (
                t.gpu_memory_gb != spec.default.memory_gb,
                t.interconnect != spec.default.interconnect,
            )

        best = min(distance(t) for t in matches)
        return [t for t in matches if distance(t) == best]

    # -- who sells it ---------------------------------------------------------------------------

    def find_instances(
        self,
        *,
        instance_type: str | None = None,
        gpu: str | None = None,
        gpu_count: int | None = None,
        min_gpu_memory_gb: int | None = None,
        max_price_per_hour: float | None = None,
        provider: str | None = None,
        region: str | None = None,
        spot: bool | None = None,
    ) -> list[Offer]:
        """Offers matching every filter given, cheapest first.

        :param instance_type: offers of the instance type :meth:`resolve` gives for it (within
            ``provider`` when given); a provider id matches that provider's offers of it only.
        :param gpu: a GPU model in any accepted spelling (``"H100"``, ``"rtx-a6000"``).
        :param gpu_count: exactly this many GPUs per instance.
        :param min_gpu_memory_gb: at least this much memory **per GPU**, in GB.
        :param max_price_per_hour: at most this many dollars per instance-hour; offers without
            a price are left out when this is given.
        :param provider: this provider only (case-insensitive); one without offers in the catalog
            (``"local"``) gives an empty list.
        :param region: this region only (case-insensitive); offers with no region are left out.
        :param spot: True for spot offers only, False for on-demand only.
        :return: offers by price (unknown prices last), then provider, name, region, spot and id:
            the same filters always give the same order. Empty when nothing matches.
        :raises ValidationError: for a filter value that cannot be right (an instance type or
            GPU that does not parse, a count outside 1..64, a non-positive memory or price).
        """
        _check_filters(gpu_count, min_gpu_memory_gb, max_price_per_hour, spot)
        key = None if provider is None else _provider_key(provider)
        snapshot = self._offers
        offers = [o for o in snapshot if key is None or o.provider == key]
        if instance_type is not None:
            request = parse_instance_type(instance_type)  # raises even where nothing is sold
            if offers and request.fid is not None:
                ids = {o.provider_type_id for o in _id_hits(request.fid, snapshot, key)}
                offers = [o for o in offers if o.provider_type_id in ids]
            elif offers:
                name = self._resolve(request, snapshot, key).name
                offers = [o for o in offers if o.name == name]
        if gpu is not None:
            model = _gpu_model(gpu)
            offers = [o for o in offers if o.instance_type.gpu == model]
        if gpu_count is not None:
            offers = [o for o in offers if o.instance_type.gpu_count == gpu_count]
        if min_gpu_memory_gb is not None:
            offers = [o for o in offers if o.instance_type.gpu_memory_gb >= min_gpu_memory_gb]
        if max_price_per_hour is not None:
            offers = [
                o
                for o in offers
                if o.price_per_hour is not None and o.price_per_hour <= max_price_per_hour
            ]
        if region is not None:
            wanted = region.strip().lower()
            offers = [o for o in offers if o.region is not None and o.region.lower() == wanted]
        if spot is not None:
            offers = [o for o in offers if o.spot is spot]
        return sorted(offers, key=_price_order)

    # -- keeping it current ---------------------------------------------------------------------

    def replace_offers(self, provider: str, offers: Iterable[Offer]) -> None:
        """Replace every offer of ``provider`` with ``offers`` (e.g. live rows from its API).

        Other providers' offers are untouched. An empty ``offers`` removes the provider. The
        new rows are checked like the bundled ones, and nothing changes when one is wrong.

        :raises ValidationError: when an offer belongs to another provider, has a GPU without a
            spec, or breaks the per-provider rules (see :class:`Catalog`).
        """
        key = _provider_key(provider)
        new = list(offers)
        for offer in new:
            if not isinstance(offer, Offer):
                raise ValidationError(f"replace_offers takes Offer objects, got {offer!r}")
            if offer.provider != key:
                raise ValidationError(
                    f"replace_offers({key!r}, ...) got an offer of provider {offer.provider!r} "
                    f"({offer.provider_type_id})"
                )
        with self._lock:
            kept = [o for o in self._offers if o.provider != key]
            self._offers = _checked([*kept, *new], self._gpus)

    def __repr__(self) -> str:
        return (
            f"Catalog({len(self._offers)} offers, {len(self._gpus)} GPUs, "
            f"providers={self.providers()})"
        )


# -- the process-wide catalog -------------------------------------------------------------------

_CATALOG: Catalog | None = None
_CATALOG_LOCK = threading.Lock()


def get_catalog() -> Catalog:
    """The process-wide catalog, read from the bundled data on first call.

    Provider plugins refresh it in place with :meth:`Catalog.replace_offers`.
    """
    global _CATALOG
    catalog = _CATALOG
    if catalog is None:
        with _CATALOG_LOCK:
            if _CATALOG is None:
                _CATALOG = Catalog.bundled()
            catalog = _CATALOG
    return catalog


def find_instances(
    *,
    instance_type: str | None = None,
    gpu: str | None = None,
    gpu_count: int | None = None,
    min_gpu_memory_gb: int | None = None,
    max_price_per_hour: float | None = None,
    provider: str | None = None,
    region: str | None = None,
    spot: bool | None = None,
) -> list[Offer]:
    """:meth:`Catalog.find_instances` on the process-wide catalog.

    >>> [o.provider_type_id for o in find_instances(instance_type="8xa100", provider="fcp")]
    ['it_J7OyNf9idfImLIFo']
    """
    return get_catalog().find_instances(
        instance_type=instance_type,
        gpu=gpu,
        gpu_count=gpu_count,
        min_gpu_memory_gb=min_gpu_memory_gb,
        max_price_per_hour=max_price_per_hour,
        provider=provider,
        region=region,
        spot=spot,
    )


def resolve_instance_type(text: str, provider: str | None = None) -> InstanceType:
    """:meth:`Catalog.resolve` on the process-wide catalog.

    >>> resolve_instance_type("a100").name
    'a100-80gb.sxm.1x'
    """
    return get_catalog().resolve(text, provider=provider)


# -- helpers ------------------------------------------------------------------------------------


def _provider_key(provider: str) -> str:
    key = provider.strip().lower() if isinstance(provider, str) else ""
    if not key:
        raise ValidationError(f"a provider is a name such as 'fcp', got {provider!r}")
    return key


def _offer_order(o: Offer) -> tuple[str, str, int, str, int, str, bool, str]:
    t = o.instance_type
    return (
        o.provider,
        t.gpu,
        t.gpu_memory_gb,
        t.interconnect or "",
        t.gpu_count,
        o.region or "",
        o.spot,
        o.provider_type_id,
    )


def _price_order(o: Offer) -> tuple[bool, float, str, str, str, bool, str]:
    price = o.price_per_hour
    return (
        price is None,
        price or 0.0,
        o.provider,
        o.name,
        o.region or "",
        o.spot,
        o.provider_type_id,
    )


def _type_order(t: InstanceType) -> tuple[str, int, str, int]:
    return (t.gpu, t.gpu_memory_gb, t.interconnect or "", t.gpu_count)


def _checked(offers: Iterable[Offer], gpus: Mapping[str, GpuSpec]) -> tuple[Offer, ...]:
    """``offers`` sorted, after checking the rules in :class:`Catalog`'s docstring."""
    rows = list(offers)
    id_of: dict[tuple[str, str], str] = {}
    name_of: dict[tuple[str, str], str] = {}
    shape_of: dict[tuple[str, str], InstanceType] = {}
    seen: set[tuple[str, str, str | None, bool]] = set()
    for o in rows:
        if not isinstance(o, Offer):
            raise ValidationError(f"a catalog holds Offer objects, got {o!r}")
        where = f"{o.provider} {o.provider_type_id} ({o.name})"
        if o.instance_type.gpu not in gpus:
            raise ValidationError(
                f"{where}: GPU {o.instance_type.gpu!r} has no spec in the catalog",
                suggestions=sorted(gpus),
            )
        name_key = (o.provider, o.name)
        id_key = (o.provider, o.provider_type_id)
        if id_of.setdefault(name_key, o.provider_type_id) != o.provider_type_id:
            raise ValidationError(
                f"{where}: {o.provider} already sells {o.name} as {id_of[name_key]!r}; "
                "a name has one provider id"
            )
        if name_of.setdefault(id_key, o.name) != o.name:
            raise ValidationError(
                f"{where}: {o.provider_type_id!r} already names {name_of[id_key]}; "
                "an id names one instance type"
            )
        if shape_of.setdefault(name_key, o.instance_type) != o.instance_type:
            raise ValidationError(
                f"{where}: another {o.provider} row of {o.name} has a different host "
                f"({shape_of[name_key]})"
            )
        row_key = (o.provider, o.provider_type_id, o.region, o.spot)
        if row_key in seen:
            raise ValidationError(f"{where}: listed twice for region {o.region!r}")
        seen.add(row_key)
    return tuple(sorted(rows, key=_offer_order))


def _distinct(offers: Sequence[Offer]) -> list[InstanceType]:
    """One instance type per name; host specs kept where all rows agree."""
    groups: dict[str, list[InstanceType]] = {}
    for o in offers:
        groups.setdefault(o.name, []).append(o.instance_type)
    return sorted((_merge(shapes) for shapes in groups.values()), key=_type_order)


def _merge(shapes: list[InstanceType]) -> InstanceType:
    first = shapes[0]
    if all(s == first for s in shapes):
        return first

    def agreed(values: set[int | None]) -> int | None:
        return values.pop() if len(values) == 1 else None

    return dataclasses.replace(
        first,
        vcpus=agreed({s.vcpus for s in shapes}),
        ram_gb=agreed({s.ram_gb for s in shapes}),
        disk_gb=agreed({s.disk_gb for s in shapes}),
    )


def _resolve_id(fid: str, offers: Sequence[Offer], key: str | None) -> InstanceType:
    hits = _id_hits(fid, offers, key)
    owners = sorted({o.provider for o in hits})
    if len(owners) > 1:
        raise ValidationError(
            f"{fid!r} is an instance type id of {', '.join(owners)}; say which provider",
            suggestions=[f"{o.provider}: {o.name}" for o in hits],
        )
    return hits[0].instance_type


def _id_hits(fid: str, offers: Sequence[Offer], key: str | None) -> list[Offer]:
    """The offers (of provider ``key``, when given) whose provider id is ``fid``; never empty.

    Ids are case-sensitive, but a unique case-insensitive match is safe to take.
    """
    hits = [o for o in offers if o.provider_type_id == fid]
    if not hits:
        folded = [o for o in offers if o.provider_type_id.lower() == fid.lower()]
        if len({o.provider_type_id for o in folded}) == 1:
            hits = folded
    in_scope = [o for o in hits if key is None or o.provider == key]
    if in_scope:
        return in_scope
    if hits:
        hit = hits[0]
        shape = hit.instance_type
        scope = _distinct([o for o in offers if o.provider == key])
        close = closest(scope, shape.gpu, shape.gpu_count, shape.gpu_memory_gb, shape.interconnect)
        raise ValidationError(
            f"{fid!r} is a {hit.provider} instance type id ({hit.name}), not one of {key}'s",
            suggestions=[t.name for t in close],
        )
    import difflib

    scope_ids = sorted({o.provider_type_id for o in offers if key is None or o.provider == key})
    close_ids = difflib.get_close_matches(fid, scope_ids, n=SUGGESTED, cutoff=0.6)
    at = f" at {key}" if key else ""
    listing = ""
    if key is not None:
        pairs = sorted({(o.provider_type_id, o.name) for o in offers if o.provider == key})
        listing = f"; {key}'s ids: " + ", ".join(f"{i} ({n})" for i, n in pairs)
    raise ValidationError(
        f"unknown instance type id {fid!r}{at}{listing}. Ids can change: an instance type name "
        "(e.g. 'a100-80gb.sxm.1x') always works, and `flow catalog --refresh` updates the ids",
        suggestions=close_ids or ["a100", "8xh100", "h100-80gb.pcie.1x"],
    )


def _gpu_model(text: str) -> str:
    """The canonical model of a ``gpu=`` filter, which names a GPU and nothing more."""
    request = parse_instance_type(text)
    extra = request.count or request.memory_gb or request.interconnect or request.fid
    if request.gpu is None or extra is not None:
        raise ValidationError(
            f"gpu={text!r} should name a GPU model only (e.g. 'h100'); pass {text!r} as "
            "instance_type= instead, or use gpu_count= / min_gpu_memory_gb=",
            suggestions=[request.gpu] if request.gpu else ["a100", "h100"],
        )
    return request.gpu


def _check_filters(
    gpu_count: int | None,
    min_gpu_memory_gb: int | None,
    max_price_per_hour: float | None,
    spot: bool | None,
) -> None:
    if gpu_count is not None and (
        isinstance(gpu_count, bool)
        or not isinstance(gpu_count, int)
        or not 1 <= gpu_count <= MAX_GPU_COUNT
    ):
        raise ValidationError(
            f"gpu_count must be a whole number from 1 to {MAX_GPU_COUNT}, got {gpu_count!r}",
            suggestions=["gpu_count=8"],
        )
    if min_gpu_memory_gb is not None and (
        isinstance(min_gpu_memory_gb, bool)
        or not isinstance(min_gpu_memory_gb, (int, float))
        or not min_gpu_memory_gb > 0
    ):
        raise ValidationError(
            f"min_gpu_memory_gb is GB of memory per GPU, more than 0; got {min_gpu_memory_gb!r}",
            suggestions=["min_gpu_memory_gb=80"],
        )
    if max_price_per_hour is not None and (
        isinstance(max_price_per_hour, bool)
        or not isinstance(max_price_per_hour, (int, float))
        or not math.isfinite(max_price_per_hour)
        or not max_price_per_hour > 0
    ):
        raise ValidationError(
            f"max_price_per_hour is US dollars per hour, more than 0; got {max_price_per_hour!r}",
            suggestions=["max_price_per_hour=12.5"],
        )
    if spot is not None and not isinstance(spot, bool):
        raise ValidationError(f"spot must be True, False or None, got {spot!r}")
