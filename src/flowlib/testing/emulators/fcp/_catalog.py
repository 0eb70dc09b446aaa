"""What the emulated cloud sells by default: every GPU instance type Mithril's own client knows
built in (``flow-compute`` 3.28.2, ``SEED_INSTANCE_TYPES``, with its FIDs), one more it does not
(``h100-80gb.pcie.1x``, to keep a type clients must discover), and the CPU-only VM types."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["CPU_TYPES", "DEFAULT_MARKETS", "CpuType", "Market"]


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
    fid: str | None = None  # None: a generated one


DEFAULT_MARKETS: tuple[Market, ...] = (
    Market(
        "a100-80gb.sxm.1x", "A100", 1, 80, 24, 224, 950, "SXM4",
        {"us-central1-a": ("$1.80", 8), "us-central1-b": ("$1.60", 4)},
        fid="it_RrgkIZz6c9BZu5gi",
    ),
    Market(
        "a100-80gb.sxm.2x", "A100", 2, 80, 48, 450, 3500, "SXM4",
        {"us-central1-a": ("$3.60", 4)}, minimum_price="$1.00", fid="it_TiAPxzKNi4xO0IAr",
    ),
    Market(
        "a100-80gb.sxm.4x", "A100", 4, 80, 96, 900, 7000, "SXM4",
        {"us-central1-a": ("$7.20", 2)}, minimum_price="$2.00", fid="it_4TugeYWOov5FllEf",
    ),
    Market(
        "a100-80gb.sxm.8x", "A100", 8, 80, 192, 1800, 14000, "SXM4",
        {"us-central1-a": ("$14.40", 2)},
        network_type="InfiniBand", ib_count=8, minimum_price="$4.00", fid="it_Sg1nDx1I8NFep60J",
    ),
    Market(
        "h100-80gb.sxm.8x", "H100", 8, 80, 224, 1800, 24000, "SXM5",
        {"us-central1-b": ("$19.20", 2), "us-central5-a": ("$17.60", 1)},
        network_type="InfiniBand", ib_count=8, minimum_price="$4.00", fid="it_5ECSoHQjLBzrp5YM",
    ),
    Market(
        "h100-80gb.pcie.1x", "H100", 1, 80, 26, 200, 1000, "PCIe",
        {"us-central1-b": ("$2.00", 4)}, adjustable_memory=True,
    ),
    Market(
        "h200.8x", "H200", 8, 141, 224, 2000, 28000, "SXM5",
        {"us-central2-a": ("$25.60", 2)},
        network_type="InfiniBand", ib_count=8, minimum_price="$6.00", fid="it_7RHoQUztab9lU9Ne",
    ),
    Market(
        "neb-b200.sxm.8x", "B200", 8, 180, 224, 2000, 28000, "SXM6",
        {"us-central2-a": ("$33.60", 1)},
        network_type="InfiniBand", ib_count=8, minimum_price="$8.00", fid="it_q0o0UtmD4bgy36kb",
    ),
    Market(
        "b200-192gb.8x", "B200", 8, 192, 240, 2900, 30000, "SXM6",
        {"us-central2-a": ("$36.00", 1)},
        network_type="InfiniBand", ib_count=8, minimum_price="$8.00", fid="it_nFEHySv5IMnHKbKi",
    ),
    Market(
        "b200-192gb.1x", "B200", 1, 192, 30, 360, 3700, "SXM6",
        {"us-central2-a": ("$4.50", 8)}, minimum_price="$1.00", fid="it_tcjiKnwIK0jX21t3",
    ),
    Market(
        "b200-192gb.2x", "B200", 2, 192, 60, 720, 7500, "SXM6",
        {"us-central2-a": ("$9.00", 4)}, minimum_price="$2.00", fid="it_WCJ0NkfuADQ7yexV",
    ),
    Market(
        "b200-192gb.4x", "B200", 4, 192, 120, 1450, 15000, "SXM6",
        {"us-central2-a": ("$18.00", 2)}, minimum_price="$4.00", fid="it_OS38SJAdsS1l6QFU",
    ),
    Market(
        "v6e-1", "TPU-v6e", 1, 32, 44, 176, 100, "TPU",
        {"us-east5-b": ("$2.70", 8)}, fid="it_iBJ0PZl0NszKMxPu",
    ),
    Market(
        "v6e-4", "TPU-v6e", 4, 32, 180, 720, 100, "TPU",
        {"us-east5-b": ("$10.80", 4)}, minimum_price="$2.00", fid="it_tGQ0hu1bV2rY2fEO",
    ),
    Market(
        "v6e-8", "TPU-v6e", 8, 32, 180, 1440, 100, "TPU",
        {"us-east5-b": ("$21.60", 2)}, minimum_price="$4.00", fid="it_2vblKKB0L8sRG8K7",
    ),
)  # fmt: skip


@dataclass(frozen=True)
class CpuType:
    """A CPU-only VM type (``/v2/cpu/instance-types``): sold at a fixed hourly price."""

    name: str
    num_cpus: int
    ram_gb: int
    local_storage_gb: int
    hourly_price: float
    regions: tuple[str, ...] = ("us-central1-a", "us-central1-b")


CPU_TYPES: tuple[CpuType, ...] = (
    CpuType("cpu.4x", 4, 16, 100, 0.16),
    CpuType("cpu.16x", 16, 64, 400, 0.64),
)
