"""``flow catalog``: the offers of the instance catalog, cheapest first."""

from __future__ import annotations

import argparse
from typing import Any

from flowlib.catalog import Offer, get_catalog
from flowlib.cli._output import print_json, table

__all__ = ["cmd_catalog", "offer_view"]


def cmd_catalog(args: argparse.Namespace) -> int:
    filters = {
        "min_gpu_memory_gb": args.min_gpu_memory,
        "max_price_per_hour": args.max_price,
        "gpu_count": args.gpus,
        "gpu": args.gpu,
        "instance_type": args.instance_type,
        "provider": args.provider,
        "region": args.region,
        "spot": args.spot,
    }
    offers = get_catalog().find_instances(**{k: v for k, v in filters.items() if v is not None})
    if args.json:
        print_json([offer_view(o) for o in offers])
        return 0
    if not offers:
        print("no offers match; loosen a filter (`flow catalog` lists every offer)")
        return 0
    rows = [
        [
            o.name,
            str(o.instance_type.gpu_count),
            f"{o.instance_type.gpu_memory_gb} GB",
            "-" if o.price_per_hour is None else f"${o.price_per_hour:,.2f}",
            o.provider,
            o.provider_type_id,
            o.region or "-",
            "yes" if o.spot else "no",
        ]
        for o in offers
    ]
    headers = [
        "INSTANCE TYPE",
        "GPUS",
        "GPU MEM",
        "PRICE/H",
        "PROVIDER",
        "PROVIDER ID",
        "REGION",
        "SPOT",
    ]
    print(table(headers, rows, right=(1, 2, 3)))
    print(f"({len(offers)} offers; prices are indicative, US dollars per instance-hour)")
    return 0


def offer_view(offer: Offer) -> dict[str, Any]:
    t = offer.instance_type
    return {
        "instance_type": offer.name,
        "gpu": t.gpu,
        "gpu_count": t.gpu_count,
        "gpu_memory_gb": t.gpu_memory_gb,
        "interconnect": t.interconnect,
        "vcpus": t.vcpus,
        "ram_gb": t.ram_gb,
        "disk_gb": t.disk_gb,
        "provider": offer.provider,
        "provider_type_id": offer.provider_type_id,
        "price_per_hour": offer.price_per_hour,
        "region": offer.region,
        "spot": offer.spot,
        "available": offer.available,
    }
