"""A tiny Hugging Face Trainer run under flowlib: metrics to `flow metrics`, checkpoints
announced, a save on the stop notice (preemption, cancel, time limit), and `flow resume`.

    flow run "python hf_train.py" --code-dir examples/integrations
    flow cancel TASK            # the trainer saves checkpoint-N and stops
    flow resume TASK --wait     # FLOW_RESUME_FROM=.../checkpoint-N: continues at step N

CKPT_DIR is the trainer's output_dir; STEPS and STEP_DELAY (seconds per step) size the run.
"""

import os
import time

import torch
from transformers import Trainer, TrainingArguments

from flowlib.integrations.huggingface import FlowCallback

STEPS = int(os.environ.get("STEPS", "20"))
DELAY = float(os.environ.get("STEP_DELAY", "0"))
CKPT_DIR = os.environ.get("CKPT_DIR", "hf-checkpoints")


class Tiny(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = torch.nn.Linear(8, 1)  # 9 parameters

    def forward(self, x, labels=None):
        time.sleep(DELAY)
        out = self.net(x)
        return {"loss": torch.nn.functional.mse_loss(out, labels), "logits": out}


class Pairs(torch.utils.data.Dataset):
    def __init__(self) -> None:
        torch.manual_seed(0)
        self.x = torch.randn(256, 8)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, i):
        return {"x": self.x[i], "labels": self.x[i].sum(0, keepdim=True)}


def main() -> None:
    args = TrainingArguments(
        output_dir=CKPT_DIR,
        max_steps=STEPS,
        per_device_train_batch_size=8,
        learning_rate=0.05,
        logging_steps=1,
        save_strategy="no",  # saves come from the stop notice (or set save_steps as usual)
        report_to=[],
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = Trainer(model=Tiny(), args=args, train_dataset=Pairs(), callbacks=[FlowCallback()])
    resume = os.environ.get("FLOW_RESUME_FROM")
    trainer.train(resume_from_checkpoint=resume)
    print(f"trained to step {trainer.state.global_step}")


if __name__ == "__main__":
    main()
