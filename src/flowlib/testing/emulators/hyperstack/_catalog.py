"""What the emulated Hyperstack sells by default: flavors per region, GPU stock and prices.

Flavor names follow flowlib's bundled catalog (``n3-RTX-A6000x1``...). Per-GPU prices go in the
pricebook under the GPU model string, as on the real service; flavors carry no price.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "DEFAULT_FLAVORS",
    "DEFAULT_IMAGES",
    "DEFAULT_PRICES",
    "DEFAULT_REGIONS",
    "DEFAULT_STOCK",
    "FlavorSpec",
]


@dataclass(frozen=True)
class FlavorSpec:
    """One flavor in one region (the API lists a flavor once per region, each with its id)."""

    name: str
    region: str
    gpu: str  # the GPU model string ("A100-80G-PCIe"); "" for CPU-only
    gpu_count: int
    cpu: int
    ram: float  # GB
    disk: int  # root disk, GB
    ephemeral: int  # GB, wiped on delete and hibernate
    hibernation: bool = True
    labels: tuple[str, ...] = ()


def _family(
    prefix: str,
    gpu: str,
    counts: dict[int, tuple[str, ...]],
    per_gpu: tuple[int, float, int],
    *,
    hibernation: bool = True,
) -> list[FlavorSpec]:
    cpu, ram, ephemeral = per_gpu
    rows = []
    for count, regions in counts.items():
        for region in regions:
            rows.append(
                FlavorSpec(
                    f"{prefix}x{count}",
                    region,
                    gpu,
                    count,
                    cpu * count + 4 * (count - 1),
                    ram * count,
                    100,
                    ephemeral * count,
                    hibernation,
                )
            )
    return rows


_CA, _NO, _US = "CANADA-1", "NORWAY-1", "US-1"
DEFAULT_REGIONS: tuple[tuple[str, str, str], ...] = (
    (_CA, "Canada", "Montreal, Quebec"),
    (_NO, "Norway", "Oslo"),
    (_US, "United States", "Texas"),
)

DEFAULT_FLAVORS: tuple[FlavorSpec, ...] = (
    *_family(
        "n3-RTX-A6000",
        "RTX-A6000",
        {1: (_CA, _NO), 2: (_CA, _NO), 4: (_NO,), 8: (_NO,)},
        (28, 58.0, 0),
    ),
    *_family(
        "n3-A100", "A100-80G-PCIe", {1: (_CA,), 2: (_CA,), 4: (_CA,), 8: (_CA,)}, (28, 120.0, 750)
    ),
    *_family(
        "n3-H100", "H100-80G-PCIe", {1: (_CA,), 2: (_CA,), 4: (_CA,), 8: (_CA,)}, (28, 180.0, 750)
    ),
    *_family("n3-L40", "L40", {1: (_CA,), 2: (_CA,), 4: (_CA,), 8: (_CA,)}, (28, 58.0, 725)),
    # No hibernation on SXM5 H100s in US-1 (the documentation names them).
    FlavorSpec("n3-H100-SXM5x8", _CA, "H100-80G-SXM5", 8, 192, 1800.0, 100, 32000),
    FlavorSpec("n3-H100-SXM5x8", _US, "H100-80G-SXM5", 8, 192, 1800.0, 100, 32000, False),
    FlavorSpec("n1-cpu-small", _CA, "", 0, 4, 8.0, 100, 0, False),
)

# USD per GPU-hour, keyed by GPU model (the pricebook's ``name``).
DEFAULT_PRICES: dict[str, float] = {
    "RTX-A6000": 0.50,
    "A100-80G-PCIe": 1.35,
    "H100-80G-PCIe": 1.90,
    "H100-80G-SXM5": 2.40,
    "L40": 1.00,
}

# GPUs that can be placed now, per (region, GPU model).
DEFAULT_STOCK: dict[tuple[str, str], int] = {
    (_CA, "RTX-A6000"): 16,
    (_NO, "RTX-A6000"): 32,
    (_CA, "A100-80G-PCIe"): 16,
    (_CA, "H100-80G-PCIe"): 16,
    (_CA, "H100-80G-SXM5"): 8,
    (_US, "H100-80G-SXM5"): 16,
    (_CA, "L40"): 8,
}

DEFAULT_IMAGES: tuple[str, ...] = (
    "Ubuntu Server 22.04 LTS R535 CUDA 12.2",
    "Ubuntu Server 24.04 LTS R570 CUDA 12.8",
)
