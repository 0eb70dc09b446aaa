"""The planner against 10,000 offers: one need to a priced plan, and an impossible need to its
error with the nearest offers.

    python benchmarks/bench_plan.py [--offers 10000] [--runs 50]

The offers are made up but shaped like real ones: every GPU family of the bundled catalog, 1 to 8
GPUs, 40 regions, spot and on-demand, four providers, prices spread around the bundled ones. Only
planning is timed (the offers are built once). Prints a Markdown table; :func:`run` returns rows.
"""

from __future__ import annotations

import argparse
import itertools
import os
import random
import statistics
import time
from typing import Any

from flowlib.catalog import Catalog, InstanceType, Offer, get_catalog, plan_offers
from flowlib.errors import CapacityError
from flowlib.models import Requirements

TARGET_MS = 20.0


def make_offers(n: int, seed: int = 7) -> tuple[list[Offer], Catalog]:
    rng = random.Random(seed)
    gpus = get_catalog().gpus()
    shapes = [
        (provider, InstanceType(spec.model, count, v.memory_gb, v.interconnect,
                                vcpus=count * 12, ram_gb=count * 100, disk_gb=500))
        for count in (1, 2, 4, 8)
        for spec in gpus
        for v in spec.variants
        for provider in ("alpha", "beta", "gamma", "delta")
    ]  # fmt: skip
    offers: list[Offer] = []
    for region, spot, (provider, shape) in itertools.product(range(40), (False, True), shapes):
        if len(offers) >= n:
            break
        price = shape.gpu_count * shape.gpu_memory_gb * rng.uniform(0.01, 0.04)
        offers.append(
            Offer(provider, shape, f"{provider}-{shape.name}", round(price, 2), f"r{region}", spot)
        )
    rng.shuffle(offers)
    return offers, Catalog(offers, gpus)


def _times_ms(fn: Any, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU milliseconds per call (CPU time is what the planner costs when other
    processes share the machine's cores)."""
    fn()  # warm: the first call resolves instance types through the catalog
    wall, cpu = [], []
    for _ in range(runs):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        cpu.append((time.process_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, cpu


def run(n: int = 10_000, runs: int = 50) -> list[dict[str, Any]]:
    offers, catalog = make_offers(n)
    need = Requirements(gpu_count=4, min_gpu_memory_gb=40, min_vcpus=32, max_price_per_hour=20)
    named = Requirements(instance_type="8xh100", region="r3")
    impossible = Requirements(min_gpu_memory_gb=1000)

    def fails() -> None:
        try:
            plan_offers(impossible, offers, provider="auto", catalog=catalog)
        except CapacityError:
            return
        raise AssertionError("an impossible need was planned")

    def plan(req: Requirements) -> Any:
        return lambda: plan_offers(req, offers, provider="auto", catalog=catalog)

    cases = [
        ("4 GPUs >= 40 GB, >= 32 vCPUs, <= $20/h", plan(need)),
        ("8xh100 in one region", plan(named)),
        ("impossible (1000 GB per GPU) -> error", fails),
    ]
    rows = []
    for label, fn in cases:
        wall, cpu = _times_ms(fn, runs)
        rows.append(
            {
                "benchmark": f"plan against {n:,} offers: {label}",
                "median_ms": statistics.median(wall),
                "cpu_median_ms": statistics.median(cpu),
            }
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    rows = run(args.offers, args.runs)
    print("| benchmark | median (wall) | median (CPU) | target |\n|---|---:|---:|---:|")
    for row in rows:
        ok = "ok" if row["median_ms"] < TARGET_MS else "MISSED"
        print(
            f"| {row['benchmark']} | {row['median_ms']:.1f} ms | {row['cpu_median_ms']:.1f} ms "
            f"| {TARGET_MS:.0f} ms {ok} |"
        )
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"\n(load average {load:.1f} on {os.cpu_count()} CPUs while measuring)")


if __name__ == "__main__":
    main()
