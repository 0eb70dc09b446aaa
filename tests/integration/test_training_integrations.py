"""The Lightning and Hugging Face examples, trained for real (a 9-parameter model on CPU) as
local flowlib tasks: metrics reach `flow metrics`, `flow cancel` gives the stop notice, the run
saves a checkpoint and announces it, and `flow resume` continues at the step it stopped at.

Needs the `train` extra (torch, lightning, transformers); .ci/run installs it."""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import pytest
from extras import need

from flowlib import Flow, TaskStatus

EXAMPLES = Path(__file__).parents[2] / "examples" / "integrations"


def wait_for_step(flow: Flow, task_id: str, step: int, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = flow.metrics(task_id)
        if rows and rows[-1].step >= step:
            return
        status = flow.get_task(task_id).status
        assert not status.is_terminal, f"{status}: {flow.logs(task_id)}"
        time.sleep(0.1)
    raise AssertionError(f"never reached step {step}:\n{flow.logs(task_id)}")


def stop_and_resume(example: str, tmp_path: Path, steps: int) -> tuple[int, list[int], str]:
    """Run ``example`` as a task, cancel it midway, resume it: the step of the checkpoint saved
    on the notice, the resumed task's metric steps, and its log."""
    flow = Flow()
    env = {"STEPS": str(steps), "STEP_DELAY": "0.15", "CKPT_DIR": str(tmp_path / "ckpt")}
    task = flow.run([sys.executable, example], code_dir=EXAMPLES, env=env, stop_grace_s=20)
    wait_for_step(flow, task.task_id, 3)
    flow.cancel(task.task_id)
    cut = flow.wait(task.task_id, timeout=60)
    assert cut.status == TaskStatus.CANCELLED
    assert "flow: cancelled: flow cancel; sav" in flow.logs(task.task_id), flow.logs(task.task_id)
    saved = cut.checkpoints()[-1]
    assert saved.step is not None and 3 <= saved.step < steps
    assert Path(saved.path).exists()
    assert flow.metrics(task.task_id)[-1].step <= saved.step

    resumed = flow.resume(task.task_id)
    done = flow.wait(resumed.task_id, timeout=120)
    log = flow.logs(done.task_id, tail=None)
    assert done.status == TaskStatus.COMPLETED, log
    return saved.step, [r.step for r in flow.metrics(done.task_id) if "loss" in r.values], log


@pytest.mark.timeout(300)
def test_lightning_saves_on_the_notice_and_resumes_at_that_step(
    project: Path, isolated_home: Path, tmp_path: Path
) -> None:
    need("lightning")
    saved, steps, log = stop_and_resume("lightning_train.py", tmp_path, steps=12)
    # Lightning logs the metrics of global step g at step g - 1: the resumed run's first row
    # is the first step after the checkpoint, none is repeated, none is skipped.
    assert steps == list(range(saved, 12)), (saved, steps)
    assert "trained to step 12 (resumed from" in log


@pytest.mark.timeout(300)
def test_hugging_face_saves_on_the_notice_and_resumes_at_that_step(
    project: Path, isolated_home: Path, tmp_path: Path
) -> None:
    need("transformers", "accelerate")
    saved, steps, log = stop_and_resume("hf_train.py", tmp_path, steps=12)
    assert Path(tmp_path / "ckpt" / f"checkpoint-{saved}" / "trainer_state.json").exists()
    # The Trainer logs global step g at g: the resumed run goes on from the saved step.
    assert steps == list(range(saved + 1, 13)), (saved, steps)
    assert "trained to step 12" in log


@pytest.mark.timeout(300)
def test_a_preempted_fcp_task_resumes_from_the_checkpoint_it_saved_on_the_notice(
    project: Path, isolated_home: Path, tmp_path: Path
) -> None:
    """The Lightning example on the emulated FCP cloud: outbid, FCP gives five minutes
    (``Preempting``, shortened here), flowlib gives the workload the stop notice as soon as it
    sees that, the run saves and stops, and ``flow resume`` continues at the saved step on a
    new instance. The checkpoints go to a directory that stands for a volume or bucket: the
    preempted instance's own disk goes with it."""
    need("lightning")
    from clouds import FAST, fcp_flow

    from flowlib.testing.emulators.fcp import FcpEmulator, Options

    timing = dataclasses.replace(FAST, preempt_notice_s=120)
    with FcpEmulator(timing=timing, workdir=tmp_path / "fcp", options=Options()) as emu:
        emu.start()
        flow = fcp_flow(emu)
        ckpt = tmp_path / "volume"
        env = {"STEPS": "12", "STEP_DELAY": "0.15", "CKPT_DIR": str(ckpt)}
        argv = [sys.executable, "lightning_train.py"]
        task = flow.run(argv, code_dir=EXAMPLES, env=env, stop_grace_s=20)
        wait_for_step(flow, task.task_id, 3)
        emu.preempt(flow.store.get(task.task_id).provider_data["bid"])
        cut = flow.wait(task.task_id, timeout=90)
        log = flow.logs(task.task_id)
        assert cut.status == TaskStatus.FAILED and cut.provider_state == "preempted", log
        assert "flow: preempted: outbid on the spot market" in log
        saved = cut.checkpoints()[-1]
        assert saved.step is not None and Path(saved.path).parent == ckpt

        resumed = flow.resume(task.task_id)
        done = flow.wait(resumed.task_id, timeout=120)
        log = flow.logs(done.task_id, tail=None)
        assert done.status == TaskStatus.COMPLETED, log
        steps = [r.step for r in flow.metrics(done.task_id) if "loss" in r.values]
        assert steps == list(range(saved.step, 12)), (saved.step, steps)
        assert f"trained to step 12 (resumed from {saved.path})" in log
