"""Live offers, kept under FLOW_HOME: what ``flow catalog --refresh`` fetched, and when.

``FLOW_HOME/catalog/live.json`` holds, per provider, the offers its ``flowlib_catalog_offers``
hook gave and the time they were fetched. Planning uses a provider's live offers while they are
younger than the TTL (``catalog_ttl_s``, default one hour) and the bundled ones otherwise, and
says which (:func:`planning_catalog`). A refresh that cannot reach a provider keeps what was
there and reports how old it is.
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING

from flowlib.catalog._catalog import Catalog, get_catalog
from flowlib.catalog._types import GpuSpec, InstanceType, Offer
from flowlib.errors import FlowError

if TYPE_CHECKING:
    from flowlib.catalog._shapes import LiveEntry, OfferJson

__all__ = [
    "LiveCatalog",
    "RecordingCatalog",
    "Refreshed",
    "age_text",
    "offer_from_dict",
    "offer_to_dict",
    "planning_catalog",
]

SCHEMA = 1


def offer_to_dict(o: Offer) -> OfferJson:
    """:meth:`Offer.to_dict`: what the cache keeps of an offer."""
    return o.to_dict()


def offer_from_dict(d: OfferJson) -> Offer:
    shape = InstanceType(
        gpu=d["gpu"],
        gpu_count=d["gpu_count"],
        gpu_memory_gb=d["gpu_memory_gb"],
        interconnect=d.get("interconnect"),
        vcpus=d.get("vcpus"),
        ram_gb=d.get("ram_gb"),
        disk_gb=d.get("disk_gb"),
    )
    return Offer(
        provider=d["provider"],
        instance_type=shape,
        provider_type_id=d["provider_type_id"],
        price_per_hour=d.get("price_per_hour"),
        region=d.get("region"),
        spot=bool(d.get("spot", False)),
        available=d.get("available"),
    )


def age_text(seconds: float) -> str:
    """``42 s``, ``5 min``, ``3.0 h``, ``2.5 days``."""
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    if seconds < 48 * 3600:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@dataclass(frozen=True)
class Refreshed:
    """What a refresh of one provider did: ``ok`` with ``count`` live offers, or not, with
    ``error`` and the age of the offers kept (None: there were none)."""

    provider: str
    ok: bool
    count: int = 0
    error: str = ""
    kept_age_s: float | None = None

    def line(self) -> str:
        if self.ok:
            return f"{self.provider}: {self.count} live offers fetched"
        kept = (
            f"kept the live offers fetched {age_text(self.kept_age_s)} ago"
            if self.kept_age_s is not None
            else "no live offers kept: planning uses the bundled ones"
        )
        return f"{self.provider}: refresh failed ({self.error}); {kept}"


class LiveCatalog:
    """The live offers cached under ``home`` (``home/catalog/live.json``)."""

    def __init__(self, home: Path, *, now: Callable[[], datetime] | None = None) -> None:
        self.path = Path(home) / "catalog" / "live.json"
        self._now = now or (lambda: datetime.now(timezone.utc))

    def read(self) -> dict[str, LiveEntry]:
        """provider -> ``{"fetched_at": ISO time, "offers": [...]}`` (empty when none)."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}
        if not isinstance(data, dict) or data.get("schema_version") != SCHEMA:
            return {}
        providers = data.get("providers")
        return providers if isinstance(providers, dict) else {}

    def age_s(self, entry: LiveEntry) -> float | None:
        try:
            fetched = datetime.fromisoformat(str(entry["fetched_at"]))
        except (KeyError, ValueError):
            return None
        return max(0.0, (self._now() - fetched).total_seconds())

    def fresh(self, ttl_s: float) -> dict[str, tuple[list[Offer], float]]:
        """provider -> (live offers, age in seconds) for entries younger than ``ttl_s``."""
        out: dict[str, tuple[list[Offer], float]] = {}
        for provider, entry in self.read().items():
            age = self.age_s(entry)
            if age is None or age > ttl_s:
                continue
            try:
                out[provider] = ([offer_from_dict(d) for d in entry.get("offers", [])], age)
            except (KeyError, TypeError, FlowError):
                continue  # an entry written by another version: not used
        return out

    def refresh(
        self,
        provider: str,
        fetch: Callable[[], Iterable[Offer]],
        keep: Callable[[], bool] = lambda: True,
    ) -> Refreshed | None:
        """Fetch ``provider``'s live offers with ``fetch`` and store them; when ``fetch``
        fails, keep the old entry and say how old it is. None (and nothing stored) when
        ``keep()`` says after the fetch that nobody answered for ``provider``."""
        entries = self.read()
        try:
            offers = list(fetch())
        except FlowError as exc:
            old = entries.get(provider)
            age = self.age_s(old) if old else None
            return Refreshed(provider, False, error=exc.message, kept_age_s=age)
        if not keep():
            return None
        entries[provider] = {
            "fetched_at": self._now().isoformat(),
            "offers": [offer_to_dict(o) for o in offers],
        }
        self._write(entries)
        return Refreshed(provider, True, count=len(offers))

    def _write(self, entries: dict[str, LiveEntry]) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = self.path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"schema_version": SCHEMA, "providers": entries}, indent=1))
        os.replace(tmp, self.path)


@functools.lru_cache(maxsize=1)
def _bundled_as_of() -> str:
    from flowlib.catalog._data import read_bundled

    return str(read_bundled().get("as_of", ""))


def planning_catalog(home: Path, ttl_s: float) -> tuple[Catalog, dict[str, str]]:
    """The catalog to plan against: the bundled one with every provider's live offers where
    they are fresh, and provider -> where its offers came from."""
    bundled = get_catalog()
    as_of = _bundled_as_of()
    sources = {p: f"bundled (prices as of {as_of})" for p in bundled.providers()}
    live = LiveCatalog(home).fresh(ttl_s)
    if not live:
        return bundled, sources
    catalog = Catalog(bundled.offers(), bundled.gpus())
    for provider, (offers, age) in live.items():
        catalog.replace_offers(provider, offers)
        sources[provider] = f"live, fetched {age_text(age)} ago"
    return catalog, sources


class RecordingCatalog(Catalog):
    """A catalog that remembers which providers were replaced in it (so a refresh tells "no
    plugin answered for it" from "it sells nothing now")."""

    def __init__(self, offers: Iterable[Offer], gpus: Iterable[GpuSpec]) -> None:
        super().__init__(offers, gpus)
        self.replaced: set[str] = set()

    def replace_offers(self, provider: str, offers: Iterable[Offer]) -> None:
        super().replace_offers(provider, offers)
        self.replaced.add(provider.strip().lower())
