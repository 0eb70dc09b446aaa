"""Shared fixtures: every test gets its own flowlib home and HOME, so nothing touches ~/.flow.

The suite runs on two pytest-xdist workers (``-n auto --dist loadgroup`` in pyproject, and
:func:`pytest_xdist_auto_num_workers`; ``-n 0`` runs it in one process). Integration tests are
spread one by one, except where sharing needs one worker: every test on the real SLURM
(``slurm_cluster``: one cluster, one node, brought up and down by one session) runs on the same
worker, and a module whose tests share a fixture wider than a test (the dashboard and its
browser, the vendor's venv) runs on one worker, so it is built once. Unit tests go a module at
a time.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

_SPANS: InMemorySpanExporter | None = None


def _xdist_group(item: pytest.Item) -> str | None:
    if "slurm_cluster" in getattr(item, "fixturenames", ()):
        return "slurm"
    module = item.nodeid.split("::")[0]
    if module.startswith("tests/unit/"):  # quick tests: one round trip per module, not per test
        return module
    info = getattr(item, "_fixtureinfo", None)
    defs = info.name2fixturedefs.values() if info is not None else ()
    if any(d and d[-1].scope in ("class", "module", "package") for d in defs):
        return module
    return None


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: two workers, or none when only tests/unit runs (those tests compute; the
    integration tests mostly wait for processes, so two overlap well even on two cores).
    ``PYTEST_XDIST_AUTO_NUM_WORKERS`` overrides, as in pytest-xdist."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "").isdigit():
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    unit = config.rootpath / "tests" / "unit"
    here = config.invocation_params.dir
    paths = [(here / arg.split("::")[0]).resolve() for arg in config.args]
    return 0 if paths and all(p.is_relative_to(unit) for p in paths) else 2


@pytest.hookimpl(wrapper=True)  # around every other impl: xdist reads the groups in its own
def pytest_collection_modifyitems(
    config: pytest.Config, items: list[pytest.Item]
) -> Iterator[None]:
    for item in items:
        group = _xdist_group(item)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))
    return (yield)


def pytest_configure(config: pytest.Config) -> None:
    # xdist groups by a suffix it writes into each grouped test's id; pytest 9.2 keeps ids where
    # that write is lost (pytest-xdist#1386), and the groups would spread silently.
    version = tuple(int(p) for p in pytest.__version__.split(".")[:2] if p.isdigit())
    workers = config.getoption("numprocesses", None)
    if workers and config.getoption("dist", None) == "loadgroup" and version >= (9, 2):
        raise pytest.UsageError(
            f"pytest {pytest.__version__} breaks pytest-xdist's --dist loadgroup "
            "(pytest-xdist#1386): the SLURM tests would share the cluster from two workers. "
            "Install the test extra's pytest (pip install -e '.[test]'), or run with -n 0."
        )


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
