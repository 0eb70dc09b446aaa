"""The keeper at scale: live tasks on both emulated clouds, and the API calls of one keeper look.

    python benchmarks/bench_keeper.py [--per-cloud 1000]

Submits ``--per-cloud`` tasks to each emulated cloud (FCP and Hyperstack; their machines run no
scripts, so every task stays live), then lets the keeper look once with Hyperstack's real rate
limit (500 requests a minute) and prints the calls of that look by route, how long it took and
the pause the keeper keeps before the next. :func:`run` returns them;
``tests/integration/test_keeper_scale.py`` checks them at a smaller count.
"""

from __future__ import annotations

import argparse
import dataclasses
import tempfile
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path


@dataclass
class Look:
    """One keeper look over ``live`` tasks: each cloud's calls by route and statuses."""

    live: int
    fcp_calls: Counter[str]
    hs_calls: Counter[str]
    hs_statuses: list[int | None]
    took_s: float
    pause_s: float
    submit_s: float


def run(per_cloud: int, workdir: Path) -> Look:
    from flowlib import Flow
    from flowlib.keeper import poll
    from flowlib.models import TaskConfig
    from flowlib.testing.emulators import sandbox_settings
    from flowlib.testing.emulators.fcp import FcpEmulator
    from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Options, Timing

    (workdir / "none").mkdir(parents=True, exist_ok=True)
    fcp = FcpEmulator(workdir=workdir / "fcp", boot=False)
    # Hyperstack's rate limit is lifted while the tasks are submitted, restored for the keeper.
    options = Options(rate_limit_per_minute=None)
    hs = HyperstackEmulator(workdir=workdir / "hs", boot=False, options=options,
                            timing=Timing.instant())  # fmt: skip
    with fcp, hs:
        fcp.start()
        hs.start()
        hs.set_stock("CANADA-1", "A100-80G-PCIe", 10 * per_cloud)
        sandbox = sandbox_settings(workdir / "none")
        providers = {
            "fcp": fcp.provider_settings(**sandbox),
            "hyperstack": hs.provider_settings(**sandbox, instance_type="n3-A100x1"),
        }
        with Flow(home=workdir / "flow", providers=providers, keeper=False) as flow:
            began = time.monotonic()
            for provider, extra in (("fcp", {"instance_type": "a100"}), ("hyperstack", {})):
                configs = [
                    TaskConfig(shell=f"echo {i}", upload_code=False, **extra)
                    for i in range(per_cloud)
                ]
                flow.run_array(configs, provider=provider)  # recorded and submitted one by one
            submit_s = time.monotonic() - began
            with hs.state.lock:  # the real limit from here on
                hs.state.options = dataclasses.replace(hs.state.options, rate_limit_per_minute=500)
            fcp.calls.clear()
            hs.calls.clear()
            began = time.monotonic()
            live, pause = poll(flow)
            took = time.monotonic() - began
        return Look(
            live=live,
            fcp_calls=Counter(c.path for c in fcp.calls),
            hs_calls=Counter(c.path for c in hs.calls),
            hs_statuses=[c.status for c in hs.calls],
            took_s=took,
            pause_s=pause,
            submit_s=submit_s,
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-cloud", type=int, default=1000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-keeper-") as work:
        look = run(args.per_cloud, Path(work))
    hs_total, fcp_total = sum(look.hs_calls.values()), sum(look.fcp_calls.values())
    print(f"{look.live:,} live tasks ({args.per_cloud:,} per cloud), submitted in "
          f"{look.submit_s:.1f} s; one keeper look:")  # fmt: skip
    print("| measure | value |\n|---|---|")
    print(f"| Hyperstack calls | {hs_total} {dict(look.hs_calls)} |")
    print(f"| FCP calls | {fcp_total} {dict(look.fcp_calls)} |")
    print(f"| the look took | {look.took_s:.1f} s |")
    print(f"| pause before the next look | {look.pause_s:.1f} s |")
    rate = hs_total * 60 / look.pause_s
    print(f"| Hyperstack requests a minute, at most (half its limit: 250) | {rate:.0f} |")


if __name__ == "__main__":
    main()
