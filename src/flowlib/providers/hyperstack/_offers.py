"""Hyperstack flavors as flowlib offers, and the choice of one flavor for a task.

Flavors carry no price and no GPU memory: the price is the pricebook's per-GPU rate for the
flavor's GPU model times its GPU count, and the memory comes from the model string
(:data:`GPU_MODELS`). Stock comes from ``/core/stocks`` (how many VMs of each GPU count fit).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from flowlib.catalog import InstanceType, Offer, parse_instance_type
from flowlib.errors import CapacityError, ValidationError
from flowlib.models import TaskConfig

if TYPE_CHECKING:
    from flowlib.providers.hyperstack._shapes import Flavor

__all__ = ["GPU_MODELS", "FlavorOffer", "choose", "to_offers"]

log = logging.getLogger(__name__)

# Hyperstack GPU model string -> (flowlib GPU, memory per GPU in GB, interconnect).
GPU_MODELS: Mapping[str, tuple[str, int, str]] = {
    "RTX-A6000": ("a6000", 48, "pcie"),
    "A40": ("a40", 48, "pcie"),
    "L40": ("l40", 48, "pcie"),
    "L40S": ("l40s", 48, "pcie"),
    "A100-80G-PCIe": ("a100", 80, "pcie"),
    "A100-80G-PCIe-NVLink": ("a100", 80, "pcie"),
    "A100-80G-SXM4": ("a100", 80, "sxm"),
    "H100-80G-PCIe": ("h100", 80, "pcie"),
    "H100-80G-PCIe-NVLink": ("h100", 80, "pcie"),
    "H100-80G-SXM5": ("h100", 80, "sxm"),
    "H200-141G-SXM5": ("h200", 141, "sxm"),
}


@dataclass(frozen=True)
class FlavorOffer:
    """A flavor in a region, as an offer, with what the API needs to create it."""

    offer: Offer
    flavor: str
    gpu_model: str
    hibernation: bool = True  # False only when the flavor says so (features.hibernation)

    @property
    def region(self) -> str:
        assert self.offer.region is not None
        return self.offer.region

    @property
    def in_stock(self) -> bool:
        return bool(self.offer.available)


def to_offers(
    flavors: Sequence[Flavor],
    prices: Mapping[str, float],
    stock: Mapping[tuple[str, str], Mapping[str, int]],
) -> list[FlavorOffer]:
    """Every GPU flavor as an offer, cheapest first. CPU-only flavors and GPU models flowlib
    does not know are left out, with a warning for the latter."""
    out = []
    for flavor in flavors:
        model = str(flavor.get("gpu") or "")
        count = int(str(flavor.get("gpu_count") or 0))
        if not model or count < 1:
            continue
        known = GPU_MODELS.get(model)
        if known is None:
            log.warning("hyperstack: GPU model %r of flavor %s is unknown", model, flavor["name"])
            continue
        gpu, memory, link = known
        region = str(flavor.get("region_name"))
        per_gpu = prices.get(model)
        fits = stock.get((region, model), {}).get(f"{count}x")
        if fits is None:
            fits = 1 if flavor.get("stock_available") else 0
        shape = InstanceType(
            gpu=gpu,
            gpu_count=count,
            gpu_memory_gb=memory,
            interconnect=link,
            vcpus=int(str(flavor.get("cpu") or 1)) or None,
            ram_gb=max(1, round(float(str(flavor.get("ram") or 1)))),
            disk_gb=int(str(flavor.get("disk") or 0)) + int(str(flavor.get("ephemeral") or 0)),
        )
        offer = Offer(
            provider="hyperstack",
            instance_type=shape,
            provider_type_id=str(flavor["name"]),
            price_per_hour=round(per_gpu * count, 4) if per_gpu is not None else None,
            region=region,
            spot=False,
            available=max(0, fits),
        )
        features = flavor.get("features")
        hibernation = not (isinstance(features, Mapping) and features.get("hibernation") is False)
        out.append(FlavorOffer(offer, str(flavor["name"]), model, hibernation))
    out.sort(key=lambda f: (f.offer.price_per_hour is None, f.offer.price_per_hour or 0, f.flavor))
    return out


def matching(
    offers: Sequence[FlavorOffer], config: TaskConfig, default: str | None
) -> list[FlavorOffer]:
    """The offers of the instance type a task asks for (or its default), in any region."""
    text = config.instance_type or default
    found = list(offers)
    if text is not None:
        request = parse_instance_type(text)
        if request.fid is not None:
            found = [f for f in found if f.flavor == request.fid]
        else:
            found = [
                f
                for f in found
                if f.offer.instance_type.gpu == request.gpu
                and f.offer.instance_type.gpu_count == (request.count or 1)
                and request.memory_gb in (None, f.offer.instance_type.gpu_memory_gb)
                and request.interconnect in (None, f.offer.instance_type.interconnect)
            ]
    if config.min_gpu_memory_gb is not None:
        found = [
            f for f in found if f.offer.instance_type.gpu_memory_gb >= config.min_gpu_memory_gb
        ]
    return found


def choose(
    offers: Sequence[FlavorOffer], config: TaskConfig, region: str | None, default: str | None
) -> FlavorOffer:
    """The cheapest offer in stock for ``config`` (in ``region`` when given), or an error that
    says what exists instead."""
    wanted = config.instance_type or default or "a GPU instance"
    candidates = matching(offers, config, default)
    here = [f for f in candidates if region in (None, f.region)]
    if not candidates or not here:
        pool = [f for f in offers if region in (None, f.region)]
        names = sorted({f.flavor for f in pool})
        where = f" in {region}" if region else ""
        raise ValidationError(
            f"hyperstack has no flavor for {wanted}{where}",
            suggestions=[
                f"flavors{where}: {', '.join(names) or 'none'}",
                *(
                    [f"{wanted} exists in: {', '.join(sorted({f.region for f in candidates}))}"]
                    if candidates
                    else []
                ),
            ],
            provider="hyperstack",
        )
    if config.max_price_per_hour is not None:
        affordable = [
            f
            for f in here
            if f.offer.price_per_hour is not None
            and f.offer.price_per_hour <= config.max_price_per_hour
        ]
        if not affordable:
            cheapest = min(f.offer.price_per_hour or 0.0 for f in here)
            raise CapacityError(
                f"{wanted} costs at least ${cheapest:.2f}/hour on hyperstack, over the "
                f"max_price_per_hour of ${config.max_price_per_hour:.2f}",
                suggestions=[f"raise max_price_per_hour to {cheapest:.2f}", "pick a smaller GPU"],
                provider="hyperstack",
            )
        here = affordable
    stocked = [f for f in here if f.in_stock]
    if not stocked:
        elsewhere = sorted({f"{f.region} ({f.flavor})" for f in candidates if f.in_stock})
        where = f" in {region}" if region else ""
        raise CapacityError(
            f"{wanted} is out of stock on hyperstack{where}",
            suggestions=[
                f"regions with stock: {', '.join(elsewhere)}"
                if elsewhere
                else "no region has stock now: try again later, or another GPU"
            ],
            provider="hyperstack",
            regions_with_stock=", ".join(elsewhere) or None,
        )
    return stocked[0]
