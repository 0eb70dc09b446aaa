"""Hugging Face ``Trainer``: metrics and checkpoints into flowlib, and a save-and-stop on the stop
notice.

::

    from flowlib.integrations.huggingface import FlowCallback

    trainer = Trainer(model=model, args=args, train_dataset=data, callbacks=[FlowCallback()])
    trainer.train(resume_from_checkpoint=os.environ.get("FLOW_RESUME_FROM"))

``on_log`` logs the numbers at ``state.global_step``, ``on_save`` announces the checkpoint
directory (``flow resume`` hands the latest to the next run as ``FLOW_RESUME_FROM``), and
``on_step_end`` asks the trainer to save and stop when a stop notice arrives
(:func:`flowlib.stop_requested`, or SIGTERM: during training the callback turns SIGTERM into a
notice instead of letting it kill the process before the save).
"""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType
from typing import Any

from transformers import TrainerCallback, TrainerControl, TrainerState, TrainingArguments
from transformers.trainer_utils import PREFIX_CHECKPOINT_DIR

from flowlib.stop import stop_reason, stop_requested
from flowlib.tracking import Run, init

__all__ = ["FlowCallback"]

_Handler = Any  # what signal.getsignal returns


class FlowCallback(TrainerCallback):
    """Logs to a flowlib run (world process zero only) and stops on a stop notice."""

    def __init__(self, project: str | None = None, name: str | None = None) -> None:
        self.project = project
        self.name = name
        self.run: Run | None = None
        self.sigterm = False
        self._previous: _Handler = None

    def _on_sigterm(self, signum: int, frame: FrameType | None) -> None:
        self.sigterm = True

    def on_train_begin(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._on_sigterm)
        if state.is_world_process_zero and self.run is None:
            self.run = init(self.project or args.run_name, name=self.name)
            self.run.update_config(
                {k: v for k, v in args.to_dict().items() if isinstance(v, (int, float, str))}
            )

    def on_log(
        self,
        args: TrainingArguments,
        state: TrainerState,
        control: TrainerControl,
        logs: dict[str, Any] | None = None,
        **kw: Any,
    ) -> None:
        if self.run is not None and logs:
            self.run.log(logs, step=state.global_step)

    def on_save(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self.run is not None:
            folder = f"{PREFIX_CHECKPOINT_DIR}-{state.global_step}"
            path = os.path.join(args.output_dir or "trainer_output", folder)
            self.run.log_checkpoint(path, step=state.global_step)

    def on_step_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if (self.sigterm or stop_requested()) and not control.should_training_stop:
            control.should_save = True
            control.should_training_stop = True
            if state.is_world_process_zero:
                why = stop_reason() or "SIGTERM"
                print(f"flow: {why}; saving at step {state.global_step}", flush=True)

    def on_train_end(
        self, args: TrainingArguments, state: TrainerState, control: TrainerControl, **kw: Any
    ) -> None:
        if self._previous is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._previous)
            self._previous = None
        if self.run is not None:
            self.run.finish(143 if self.sigterm or stop_requested() else 0)
            self.run = None
