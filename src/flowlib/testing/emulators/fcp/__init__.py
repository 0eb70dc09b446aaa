"""An emulated FCP (Mithril v2, formerly ML Foundry) spot cloud, for tests and offline demos.

See ``docs/emulators.md``. The API facts it follows are in the project's provider-API notes;
the published OpenAPI document is checked against it in the tests.
"""

from __future__ import annotations

from .._clock import ManualClock, SystemClock
from .._faults import FaultPlan, FaultRule
from ._catalog import DEFAULT_MARKETS, Market
from ._emulator import FcpEmulator, RecordedCall
from ._entities import Auction, Bid, Instance, Timing
from ._state import MAX_STARTUP_SCRIPT, FcpState, Options

__all__ = [
    "DEFAULT_MARKETS",
    "MAX_STARTUP_SCRIPT",
    "Auction",
    "Bid",
    "FaultPlan",
    "FaultRule",
    "FcpEmulator",
    "FcpState",
    "Instance",
    "ManualClock",
    "Market",
    "Options",
    "RecordedCall",
    "SystemClock",
    "Timing",
]
