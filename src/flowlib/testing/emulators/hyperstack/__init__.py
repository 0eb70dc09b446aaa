"""An emulated Hyperstack (NexGen Cloud Infrahub API ``/v1``), for tests and offline demos.

See ``docs/emulators.md``. The API facts it follows are in the project's provider-API notes; the
official ``hyperstack`` SDK's models are checked against its answers in the tests.
"""

from __future__ import annotations

from .._base import RecordedCall
from .._clock import ManualClock, SystemClock
from .._faults import FaultPlan, FaultRule
from ._catalog import (
    DEFAULT_FLAVORS,
    DEFAULT_IMAGES,
    DEFAULT_PRICES,
    DEFAULT_STOCK,
    FlavorSpec,
)
from ._emulator import HyperstackEmulator
from ._entities import HyperstackError, Options, Timing, Vm
from ._state import BOOT_SERVICES_DIR, USER_DATA_LOG, USER_DATA_PATH, HyperstackState

__all__ = [
    "BOOT_SERVICES_DIR",
    "DEFAULT_FLAVORS",
    "DEFAULT_IMAGES",
    "DEFAULT_PRICES",
    "DEFAULT_STOCK",
    "USER_DATA_LOG",
    "USER_DATA_PATH",
    "FaultPlan",
    "FaultRule",
    "FlavorSpec",
    "HyperstackEmulator",
    "HyperstackError",
    "HyperstackState",
    "ManualClock",
    "Options",
    "RecordedCall",
    "SystemClock",
    "Timing",
    "Vm",
]
