"""A tiny PyTorch Lightning run under flowlib: metrics to `flow metrics`, a checkpoint saved on
the stop notice (preemption, cancel, time limit), and `flow resume` continuing from it.

    flow run "python lightning_train.py" --code-dir examples/integrations
    flow cancel TASK            # or a preemption: the run saves stop-step=N.ckpt and stops
    flow resume TASK --wait     # FLOW_RESUME_FROM=.../stop-step=N.ckpt: continues at step N

CKPT_DIR says where checkpoints go: on spot capacity, a volume or bucket that outlives the
machine. STEPS and STEP_DELAY (seconds per step) size the run.
"""

import os
import time

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset

from flowlib.integrations.lightning import FlowLogger, StopOnNotice

STEPS = int(os.environ.get("STEPS", "20"))
DELAY = float(os.environ.get("STEP_DELAY", "0"))
CKPT_DIR = os.environ.get("CKPT_DIR", "checkpoints")


class Tiny(L.LightningModule):
    def __init__(self, lr: float = 0.05) -> None:
        super().__init__()
        self.save_hyperparameters()
        self.net = torch.nn.Linear(8, 1)  # 9 parameters

    def training_step(self, batch, batch_idx):
        x, y = batch
        loss = torch.nn.functional.mse_loss(self.net(x), y)
        self.log("loss", loss)
        time.sleep(DELAY)
        return loss

    def configure_optimizers(self):
        return torch.optim.SGD(self.parameters(), lr=self.hparams.lr)


def batches() -> DataLoader:
    """256 random pairs (x, sum of x), 8 a batch."""
    torch.manual_seed(0)
    x = torch.randn(256, 8)
    return DataLoader(TensorDataset(x, x.sum(1, keepdim=True)), batch_size=8)


def main() -> None:
    resume = os.environ.get("FLOW_RESUME_FROM")
    trainer = L.Trainer(
        max_steps=STEPS,
        accelerator="cpu",
        logger=FlowLogger(project="tiny-lightning"),
        callbacks=[StopOnNotice(CKPT_DIR)],
        log_every_n_steps=1,
        enable_progress_bar=False,
        enable_model_summary=False,
        enable_checkpointing=False,
    )
    trainer.fit(Tiny(), batches(), ckpt_path=resume)
    print(
        f"trained to step {trainer.global_step}" + (f" (resumed from {resume})" if resume else "")
    )


if __name__ == "__main__":
    main()
