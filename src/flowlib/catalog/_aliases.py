"""Every spelling of a GPU, an interconnect and a vendor that instance type parsing accepts.

These tables are the only place a spelling variant is allowed to live: the parser looks words up
here and nowhere else, and the tests walk them. To accept a new spelling, add one row.

A GPU spelling is written the way the parser sees it: lowercase, with the words of the user's
text joined by ``-`` (``"RTX A6000"``, ``"rtx_a6000"`` and ``"rtx-a6000"`` are all ``"rtx-a6000"``).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Final

__all__ = [
    "GPU_ALIASES",
    "INTERCONNECT_ALIASES",
    "MAX_GPU_COUNT",
    "MAX_GPU_MEMORY_GB",
    "VENDOR_PREFIXES",
]

#: spelling -> canonical GPU model. The canonical models are this mapping's values, and the
#: bundled catalog describes exactly these models (a test keeps the two in step).
GPU_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "a10": "a10",
        "a100": "a100",
        "a10g": "a10g",
        "a40": "a40",
        "a6000": "a6000",
        "rtx-a6000": "a6000",
        "rtxa6000": "a6000",
        "b200": "b200",
        "h100": "h100",
        "h200": "h200",
        "l4": "l4",
        "l40": "l40",
        "l40s": "l40s",
        "4090": "rtx4090",
        "rtx-4090": "rtx4090",
        "rtx4090": "rtx4090",
        "t4": "t4",
        "v100": "v100",
    }
)

#: Words that may lead a GPU spelling and are dropped: ``nvidia-a100``, ``NVIDIA A100``,
#: ``Tesla T4``, ``GeForce RTX 4090``, ``NVIDIA GeForce RTX 4090``.
VENDOR_PREFIXES: Final[tuple[str, ...]] = ("nvidia", "geforce", "tesla", "quadro")

#: spelling -> canonical interconnect. The SXM generation (SXM4 for A100, SXM5 for H100) is
#: dropped, as in provider names like ``a100-80gb.sxm.1x``. ``nvlink`` is deliberately absent:
#: providers use it both for SXM boards and for PCIe cards with NVLink bridges.
INTERCONNECT_ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "nvl": "nvl",
        "pcie": "pcie",
        "sxm": "sxm",
        "sxm2": "sxm",
        "sxm3": "sxm",
        "sxm4": "sxm",
        "sxm5": "sxm",
        "sxm6": "sxm",
    }
)

#: The most GPUs one instance may have (an instance type, not a cluster: more machines are
#: asked for with ``num_instances``).
MAX_GPU_COUNT: Final = 64

#: The most memory one GPU may have, in GB; larger numbers are typos.
MAX_GPU_MEMORY_GB: Final = 1024
