"""What FCP sells right now: instance types and spot markets, read from the API with a TTL.

Instance type names and FIDs are mapped at run time from ``/v2/instance-types``; nothing here
knows a FID in advance. Each (instance type, region) market of ``/v2/spot/availability`` becomes
one spot :class:`~flowlib.catalog.Offer` priced at its last instance price, with its free
capacity as ``available``.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowlib.errors import CapacityError, ValidationError

if TYPE_CHECKING:
    from flowlib.catalog import Catalog, InstanceType, Offer
    from flowlib.models import TaskConfig
    from flowlib.providers.fcp._api import FcpApi
    from flowlib.providers.fcp._shapes import AuctionJson, InstanceTypeJson

__all__ = ["FcpCatalog", "Placement", "dollars", "parse_dollars"]

log = logging.getLogger(__name__)
_SOCKETS = {"sxm": "sxm", "pcie": "pcie", "nvl": "nvl"}


def parse_dollars(text: object) -> float | None:
    """``"$25.60"`` -> 25.6; None for anything else."""
    if not isinstance(text, str) or not text.startswith("$"):
        return None
    try:
        return float(text[1:])
    except ValueError:
        return None


def dollars(amount: float) -> str:
    """A price as the API writes it, rounded down to the cent: 25.609 -> ``"$25.60"``."""
    cents = math.floor(round(amount * 100, 6))
    return f"${cents // 100}.{cents % 100:02d}"


@dataclass(frozen=True)
class Placement:
    """Where a task's bid goes: an offer (instance type, region, market price) chosen for it."""

    offer: Offer
    instance_type_fid: str
    region: str
    market_price: float


class FcpCatalog:
    """Live offers, refreshed when older than ``ttl_s`` (clock: ``monotonic``)."""

    def __init__(self, api: FcpApi, *, ttl_s: float, monotonic: Callable[[], float]) -> None:
        self.api = api
        self.ttl_s = ttl_s
        self.monotonic = monotonic
        self._catalog: Catalog | None = None
        self._names: dict[str, str] = {}  # FID -> name
        self._loaded_at = -math.inf

    def refresh(self) -> Catalog:
        from flowlib.catalog import Catalog, get_catalog

        types = self.api.instance_types()
        markets = self.api.availability()
        gpus = get_catalog().gpus()
        known = {g.model for g in gpus}
        shapes: dict[str, InstanceType] = {}
        for row in types:
            shape = _shape(row)
            if shape is None or shape.gpu not in known:
                log.debug("fcp: skipping instance type %s (no GPU flowlib knows)", row.get("name"))
                continue
            shapes[row["fid"]] = shape
        self._names = {row["fid"]: str(row.get("name")) for row in types}
        offers = [o for m in markets if (o := _offer(m, shapes)) is not None]
        self._catalog = Catalog(offers, gpus)
        self._loaded_at = self.monotonic()
        return self._catalog

    def catalog(self) -> Catalog:
        if self._catalog is None or self.monotonic() - self._loaded_at > self.ttl_s:
            return self.refresh()
        return self._catalog

    def offers(self, config: TaskConfig | None = None) -> list[Offer]:
        """Offers for ``config`` (every offer without one), cheapest first."""
        catalog = self.catalog()
        if config is None:
            return catalog.find_instances(provider="fcp")
        kwargs: dict[str, object] = {
            "provider": "fcp",
            "max_price_per_hour": config.max_price_per_hour,
            "min_gpu_memory_gb": config.min_gpu_memory_gb,
            "region": config.region,
        }
        if config.instance_type is not None:
            self.resolve(config.instance_type)  # a clear error for an unknown type
            kwargs["instance_type"] = config.instance_type
        return catalog.find_instances(**kwargs)  # type: ignore[arg-type]

    def resolve(self, text: str) -> str:
        """The canonical name of the instance type ``text`` means, among what FCP sells now."""
        catalog = self.catalog()
        try:
            return catalog.resolve(text, provider="fcp").name
        except ValidationError as exc:
            names = sorted({o.name for o in catalog.offers("fcp")})
            raise ValidationError(
                f"fcp does not sell {text!r}: {exc.message}",
                suggestions=[f"available now: {', '.join(names) or 'nothing'}"],
                provider="fcp",
            ) from None

    def place(self, config: TaskConfig) -> Placement:
        """The cheapest market able to run ``config`` now, or a CapacityError that says what
        price would win."""
        catalog = self.catalog()
        wanted = config.model_copy(update={"max_price_per_hour": None})
        candidates = self.offers(wanted)
        if not candidates and config.instance_type is None and config.min_gpu_memory_gb:
            raise CapacityError(
                f"fcp sells no GPU with at least {config.min_gpu_memory_gb} GB"
                + (f" in {config.region}" if config.region else ""),
                suggestions=[f"available: {', '.join(sorted({o.name for o in catalog.offers()}))}"],
                provider="fcp",
            )
        what = config.instance_type or "a GPU instance"
        where = f" in {config.region}" if config.region else ""
        if not candidates:
            regions = sorted({o.region or "?" for o in catalog.offers("fcp")})
            raise CapacityError(
                f"fcp has no market for {what}{where}",
                suggestions=[f"regions with spot markets: {', '.join(regions)}"],
                provider="fcp",
            )
        n = config.num_instances
        with_room = [o for o in candidates if (o.available or 0) >= n]
        if not with_room:
            raise CapacityError(
                f"fcp has no capacity for {n} x {what}{where} right now",
                suggestions=["try again later, another region, or another instance type"],
                provider="fcp",
            )
        cap = config.max_price_per_hour
        affordable = [o for o in with_room if cap is None or (o.price_per_hour or 0) <= cap]
        if not affordable:
            cheapest = min(with_room, key=lambda o: o.price_per_hour or 0)
            price = cheapest.price_per_hour or 0
            raise CapacityError(
                f"no capacity for {what}{where} at or under ${cap:.2f}/hour: the cheapest "
                f"that would win is ${price:.2f}/hour ({cheapest.name} in {cheapest.region})",
                suggestions=[f"set max_price_per_hour to at least {price:.2f}"],
                provider="fcp",
                cheapest_price=price,
            )
        best = affordable[0]
        assert best.region is not None and best.price_per_hour is not None
        return Placement(best, best.provider_type_id, best.region, best.price_per_hour)

    def name_of(self, fid: str) -> str:
        self.catalog()
        return self._names.get(fid, fid)


def _shape(row: InstanceTypeJson) -> InstanceType | None:
    from flowlib.catalog import GPU_ALIASES, InstanceType

    try:
        count = int(row.get("num_gpus") or 0)
        gpu_type = str(row.get("gpu_type") or "")
        if not count and isinstance(row.get("gpus"), list) and row["gpus"]:  # legacy shape
            gpu_type, count = str(row["gpus"][0]["name"]), int(row["gpus"][0]["count"])
        if count < 1:
            return None
        gpu = GPU_ALIASES.get(gpu_type.lower(), gpu_type.lower())
        socket = str(row.get("gpu_socket") or "").lower()
        link = next((v for k, v in _SOCKETS.items() if socket.startswith(k)), None)
        return InstanceType(
            gpu=gpu,
            gpu_count=count,
            gpu_memory_gb=int(row["gpu_memory_gb"]),
            interconnect=link,
            vcpus=int(row["num_cpus"]) or None,
            ram_gb=int(row["ram_gb"]) or None,
            disk_gb=int(row.get("local_storage_gb") or 0),
        )
    except (KeyError, TypeError, ValueError, ValidationError):
        return None


def _offer(market: AuctionJson, shapes: dict[str, InstanceType]) -> Offer | None:
    from flowlib.catalog import Offer

    shape = shapes.get(str(market.get("instance_type")))
    price = parse_dollars(market.get("last_instance_price"))
    if shape is None or price is None or not market.get("region"):
        return None
    return Offer(
        provider="fcp",
        instance_type=shape,
        provider_type_id=str(market["instance_type"]),
        price_per_hour=price,
        region=str(market["region"]),
        spot=True,
        available=max(0, int(market.get("capacity") or 0)),
    )
