"""The local provider passes the shared provider conformance suite."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowlib import Flow
from flowlib.testing.conformance import ProviderConformance


class TestLocalProvider(ProviderConformance):
    wait_timeout = 30.0

    @pytest.fixture
    def flow(self, project: Path, isolated_home: Path) -> Flow:
        return Flow(provider="local")
