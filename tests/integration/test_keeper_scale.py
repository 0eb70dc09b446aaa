"""The keeper at scale: live tasks across the two emulated clouds, followed with list calls per
page of machines, not calls per task, and within each cloud's rate limit. The emulators count
every request by route; the tasks are submitted the ordinary way.

250 tasks per cloud (three pages each) is enough to tell calls per page from calls per task;
``benchmarks/bench_keeper.py`` runs the same look over 2,000 tasks (docs/performance.md), and
``FLOW_SCALE_PER_CLOUD=1000`` runs this test at that size."""

from __future__ import annotations

import importlib.util
import math
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

from flowlib.keeper import PAGE, RATE_SHARE

ROOT = Path(__file__).resolve().parents[2]
PER_CLOUD = int(os.environ.get("FLOW_SCALE_PER_CLOUD", "250"))


def bench_keeper() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "bench_keeper", ROOT / "benchmarks" / "bench_keeper.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_keeper"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(900)  # at 1,000 per cloud submitting takes most of it; the look is quick
def test_the_keeper_follows_live_tasks_with_calls_per_page(tmp_path: Path) -> None:
    look = bench_keeper().run(PER_CLOUD, tmp_path)
    assert look.live == 2 * PER_CLOUD
    assert all(status == 200 for status in look.hs_statuses)  # no 429
    # Hyperstack: the VM list, a page of 100 at a time, nothing per task.
    pages = math.ceil(PER_CLOUD / PAGE)
    assert pages >= 3  # several pages, or per page and per task could not be told apart
    assert set(look.hs_calls) == {"/v1/core/virtual-machines"}
    assert look.hs_calls["/v1/core/virtual-machines"] <= pages + 1  # + the empty page that ends it
    # FCP: the project's bids a page at a time, their instances 50 bids per query.
    assert set(look.fcp_calls) <= {"/v2/spot/bids", "/v2/instances", "/v2/projects"}
    assert look.fcp_calls["/v2/spot/bids"] <= pages + 1
    assert look.fcp_calls["/v2/instances"] <= math.ceil(PER_CLOUD / 50) * 2
    assert sum(look.fcp_calls.values()) < PER_CLOUD / 10
    # Looking every `pause` seconds uses at most half of Hyperstack's 500 requests/minute.
    assert sum(look.hs_calls.values()) * 60 / look.pause_s <= 500 * RATE_SHARE
