"""benchmarks/chaos.py cannot rot: one tiny scenario on the FCP emulator, end to end (a few
seconds). It checks the table's shape, never the numbers: those are the benchmark's findings."""

from __future__ import annotations

import importlib.util
import random
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def chaos() -> ModuleType:
    spec = importlib.util.spec_from_file_location("chaos", ROOT / "benchmarks" / "chaos.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["chaos"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_one_tiny_scenario_prints_a_table_with_every_column(
    chaos: ModuleType, isolated_home: Path
) -> None:
    size = chaos.Size(tasks=1, kills=0, cancels=0, workers=0, per_worker=0,
                      settle_rounds=4, settle_pause_s=0.25)  # fmt: skip
    scenario = next(s for s in chaos.SCENARIOS if s.name.startswith("5xx"))
    row = chaos.run_row(scenario, "fcp", random.Random(0), size)
    assert set(chaos.COLUMNS) <= set(row)
    assert row["tasks"] == 1
    assert row["integrity_check"]  # whatever it says, it was run
    text = chaos.table([row])
    header, rule, line = text.splitlines()
    assert header == "| " + " | ".join(chaos.COLUMNS) + " |"
    assert line.startswith(f"| {scenario.name} | fcp | 1 |")
    assert line.count("|") == header.count("|") == rule.count("|")
