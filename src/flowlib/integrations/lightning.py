"""PyTorch Lightning: metrics and checkpoints into flowlib, and a save-and-stop on the stop notice.

::

    from flowlib.integrations.lightning import FlowLogger, StopOnNotice

    trainer = L.Trainer(logger=FlowLogger(project="mnist"), callbacks=[StopOnNotice("ckpt")])
    trainer.fit(model, ckpt_path=os.environ.get("FLOW_RESUME_FROM"))

:class:`FlowLogger` is a ``lightning.pytorch.loggers.Logger`` over a :func:`flowlib.init` run
(metric lines inside a task, a local run outside one), rank zero only. :class:`StopOnNotice`
saves a checkpoint, announces it and stops training when a stop notice arrives (preemption,
cancel, time limit: :func:`flowlib.stop_requested`, or the SIGTERM Lightning itself catches);
``flow resume`` then continues from it.
"""

from __future__ import annotations

import os
import re
from argparse import Namespace
from pathlib import Path
from typing import Any

from lightning.fabric.utilities.logger import _convert_params, _flatten_dict, _sanitize_params
from lightning.pytorch import Callback, LightningModule, Trainer
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import Logger
from lightning.pytorch.utilities import rank_zero_only
from typing_extensions import override

from flowlib.metrics import log_checkpoint
from flowlib.stop import stop_reason, stop_requested
from flowlib.tracking import Run, init

__all__ = ["FlowLogger", "StopOnNotice"]

_STEP = re.compile(r"step=(\d+)")


class FlowLogger(Logger):
    """Lightning's metrics, hyperparameters and checkpoints as a flowlib run."""

    def __init__(self, project: str | None = None, name: str | None = None) -> None:
        super().__init__()
        self._project = project
        self._name = name
        self._run: Run | None = None

    @property
    @override
    def name(self) -> str:
        return self._name or self._project or "flow"

    @property
    @override
    def version(self) -> str:
        return os.environ.get("FLOW_TASK_ID", "local")

    @property
    def experiment(self) -> Run:
        """The flowlib run (started on first use)."""
        if self._run is None:
            self._run = init(self._project, name=self._name)
        return self._run

    @override
    @rank_zero_only
    def log_hyperparams(
        self, params: dict[str, Any] | Namespace, *args: Any, **kwargs: Any
    ) -> None:
        values = _sanitize_params(_flatten_dict(_convert_params(params)))
        self.experiment.update_config(values)

    @override
    @rank_zero_only
    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.experiment.log(metrics, step=step)

    @override
    @rank_zero_only
    def after_save_checkpoint(self, checkpoint_callback: ModelCheckpoint) -> None:
        path = (
            getattr(checkpoint_callback, "_last_checkpoint_saved", "")
            or checkpoint_callback.last_model_path
            or checkpoint_callback.best_model_path
        )
        if path:
            found = _STEP.search(Path(path).name)
            self.experiment.log_checkpoint(path, step=int(found.group(1)) if found else None)

    @override
    @rank_zero_only
    def finalize(self, status: str) -> None:
        if self._run is not None and not self._run.finished:
            self._run.finish(0 if status == "success" else 1)


class StopOnNotice(Callback):
    """On a stop notice, save ``DIRPATH/stop-step=N.ckpt`` after the current batch, announce it
    (``flow resume`` continues from it) and stop training."""

    def __init__(self, dirpath: str | os.PathLike[str] = "checkpoints") -> None:
        self.dirpath = Path(dirpath)
        self.saved: Path | None = None

    @override
    def on_train_batch_end(
        self, trainer: Trainer, pl_module: LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self.saved is not None or not (stop_requested() or trainer.received_sigterm):
            return
        path = self.dirpath / f"stop-step={trainer.global_step}.ckpt"
        trainer.save_checkpoint(path)  # every rank takes part; rank zero writes
        self.saved = path
        if trainer.is_global_zero:
            loggers = [lg for lg in trainer.loggers if isinstance(lg, FlowLogger)]
            if loggers:
                loggers[0].experiment.log_checkpoint(path, step=trainer.global_step)
            else:
                log_checkpoint(path, step=trainer.global_step)
            print(f"flow: {stop_reason() or 'SIGTERM'}; saved {path}", flush=True)
        trainer.should_stop = True
