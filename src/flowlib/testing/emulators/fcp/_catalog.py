"""What the emulated cloud sells by default: a few GPU instance types in a few regions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["DEFAULT_MARKETS", "Market"]


@dataclass(frozen=True)
class Market:
    """An instance type and, per region, its market price (``"$X.XX"`` per instance-hour) and
    capacity (instances)."""

    name: str
    gpu_type: str
    num_gpus: int
    gpu_memory_gb: int
    num_cpus: int
    ram_gb: int
    local_storage_gb: int
    gpu_socket: str
    regions: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    network_type: str | None = None
    ib_count: int = 0
    minimum_price: str = "$0.50"
    adjustable_memory: bool = False


DEFAULT_MARKETS: tuple[Market, ...] = (
    Market(
        "a100-80gb.sxm.1x",
        "A100",
        1,
        80,
        24,
        224,
        950,
        "SXM4",
        {"us-central1-a": ("$1.80", 8), "us-central1-b": ("$1.60", 4)},
    ),
    Market(
        "a100-80gb.sxm.8x",
        "A100",
        8,
        80,
        192,
        1800,
        14000,
        "SXM4",
        {"us-central1-a": ("$14.40", 2)},
        network_type="InfiniBand",
        ib_count=8,
        minimum_price="$4.00",
    ),
    Market(
        "h100-80gb.sxm.8x",
        "H100",
        8,
        80,
        224,
        1800,
        24000,
        "SXM5",
        {"us-central1-b": ("$19.20", 2), "us-central5-a": ("$17.60", 1)},
        network_type="InfiniBand",
        ib_count=8,
        minimum_price="$4.00",
    ),
    Market(
        "h100-80gb.pcie.1x",
        "H100",
        1,
        80,
        26,
        200,
        1000,
        "PCIe",
        {"us-central1-b": ("$2.00", 4)},
        adjustable_memory=True,
    ),
)
