"""Screenshots of every `flow ui` page for docs/ui.md and the README, taken from real tasks.

    python scripts/ui_screenshots.py [--out docs/img]

Runs a few small training scripts on the local provider in a fresh FLOW_HOME (two finished runs
with different learning rates, one that fails, one still running) and one task on a persistent
instance of the Hyperstack emulator (loopback), starts `flow ui` on it and photographs each page
in headless Chromium (needs flowlib[ui], flowlib[test], playwright and Debian's chromium).
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import yaml

from flowlib import Flow
from flowlib.testing.emulators.hyperstack import HyperstackEmulator, Options, Timing
from flowlib.testing.ui import chromium, dashboard

TRAIN = """\
import math, sys, time, flowlib
lr, steps, pause = float(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
for step in range(steps):
    loss = 2.0 * math.exp(-lr * step / 10) + 0.05 * math.sin(step)
    flowlib.log_metrics(loss=loss, accuracy=1 - loss / 2.2, step=step)
    print(f"step {step}: loss {loss:.4f}", flush=True)
    if step % 20 == 19:
        flowlib.log_checkpoint(f"checkpoints/step-{step}.pt", step=step)
    time.sleep(pause)
if lr > 5:
    sys.exit("diverged: loss is nan")
"""

PAGES = (
    ("tasks", "/"),
    ("task", "/tasks/{live}"),
    ("compare", "/compare?tasks={a},{b}"),
    ("instances", "/instances"),
    ("catalog", "/catalog?min_gpu_memory_gb=40"),
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("docs/img"))
    out = parser.parse_args().out
    out.mkdir(parents=True, exist_ok=True)
    with (
        tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp,
        HyperstackEmulator(
            timing=Timing.instant(),
            workdir=Path(tmp) / "cloud",
            options=Options(rate_limit_per_minute=None),
        ) as cloud,
    ):
        cloud.start()
        # A user of its own: settings in ~/.flow/config.yaml, the store beside them.
        os.environ["HOME"] = tmp
        home, code = Path(tmp) / ".flow", Path(tmp) / "code"
        os.environ["FLOW_HOME"] = str(home)
        code.mkdir()
        home.mkdir()
        (code / "train.py").write_text(TRAIN)
        section = cloud.provider_settings(poll_interval_s=0.1, idle_cooldown_s=1800)
        (home / "config.yaml").write_text(yaml.safe_dump({"providers": {"hyperstack": section}}))
        py = sys.executable
        with Flow(home=home) as flow:
            on_box = flow.run(
                "echo evaluating on the persistent box",
                provider="hyperstack",
                instance_name="a6000-box",
                upload_code=False,
            )
            flow.wait(on_box.task_id, timeout=60)

            def run(name: str, *args: str) -> str:
                return flow.run(
                    [py, "train.py", *args], name=name, code_dir=code, env={"WANDB_API_KEY": "x"}
                ).task_id

            ids = {
                "a": run("resnet-lr1", "1", "60", "0"),
                "b": run("resnet-lr3", "3", "60", "0"),
                "c": run("resnet-lr9", "9", "12", "0"),
            }
            for task_id in ids.values():
                flow.wait(task_id, timeout=120)
            ids["live"] = run("resnet-lr2", "2", "400", "0.05")
        time.sleep(2.5)  # the live run logs a few dozen steps
        with dashboard(home) as ui, chromium() as browser:
            page = browser.new_page()
            page.set_viewport_size({"width": 1280, "height": 860})
            page.goto(ui.url)
            for name, path in PAGES:
                page.goto(ui.base + path.format(**ids))
                if name == "task":  # its live stream never idles: give the charts a moment
                    time.sleep(1.5)
                else:
                    page.wait_for_load_state("networkidle")
                target = out / f"ui-{name}.png"
                page.screenshot(path=str(target))
                print(f"wrote {target}")
        with Flow(home=home) as flow:
            flow.cancel(ids["live"])


if __name__ == "__main__":
    main()
