"""Shared fixtures: every test gets its own flowlib home and HOME, so nothing touches ~/.flow."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_SPANS: InMemorySpanExporter | None = None


@pytest.fixture(autouse=True)
def isolated_home(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Path:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("FLOW_HOME", str(home / ".flow"))
    # No background keeper unless a test asks for one (tests/integration/test_keeper.py).
    monkeypatch.setenv("FLOW_KEEPER", "0")
    for var in ("FLOW_API_KEY", "FLOW_PROJECT", "FLOW_REGION", "FLOW_API_URL", "FLOW_PROVIDER"):
        monkeypatch.delenv(var, raising=False)
    return home


@pytest.fixture
def project(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A small project directory, as the current directory."""
    root = tmp_path / "project"
    root.mkdir()
    (root / "train.py").write_text("print('training')\n")
    monkeypatch.chdir(root)
    yield root


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Spans recorded by the OpenTelemetry SDK in memory (one exporter for the whole session)."""
    from opentelemetry import trace
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    global _SPANS
    provider = trace.get_tracer_provider()
    if not isinstance(provider, TracerProvider):
        trace.set_tracer_provider(TracerProvider())
        provider = trace.get_tracer_provider()
    assert isinstance(provider, TracerProvider)
    if _SPANS is None:
        _SPANS = InMemorySpanExporter()
        provider.add_span_processor(SimpleSpanProcessor(_SPANS))
    _SPANS.clear()
    return _SPANS
