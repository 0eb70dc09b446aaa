"""``flow catalog``: the offers of the instance catalog, cheapest first: live ones where
``flow catalog --refresh`` fetched them recently (FLOW_HOME/catalog/live.json), bundled ones
otherwise, and which is which."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

from flowlib.catalog import Offer
from flowlib.cli._output import print_json, table

if TYPE_CHECKING:
    from flowlib.catalog._shapes import OfferJson

__all__ = ["cmd_catalog", "offer_view"]


def cmd_catalog(args: argparse.Namespace) -> int:
    from flowlib.catalog import planning_catalog
    from flowlib.flow import Flow

    with Flow(home=getattr(args, "home", None)) as flow:
        refreshed = []
        if getattr(args, "refresh", False):
            from flowlib._planning import refresh_catalog

            refreshed = refresh_catalog(flow, [args.provider] if args.provider else None)
            for r in refreshed:
                print(r.line(), file=sys.stderr if args.json else sys.stdout)
        catalog, sources = planning_catalog(flow.config.home, flow.config.catalog_ttl_s)
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
    offers = catalog.find_instances(**{k: v for k, v in filters.items() if v is not None})
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
    print(f"({len(offers)} offers; US dollars per instance-hour)")
    for provider in sorted({o.provider for o in offers}):
        if provider in sources:
            print(f"  {provider}: {sources[provider]}")
    if not refreshed and any(s.startswith("bundled") for s in sources.values()):
        print("  bundled prices are indicative: `flow catalog --refresh` fetches live ones")
    return 0


def offer_view(offer: Offer) -> OfferJson:
    return offer.to_dict()
