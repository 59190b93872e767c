"""``torchrun ... interrupted_train.py STEP [train flags]``: the training entrypoint on every
process, killed (as a spot interruption would) once optimiser step STEP has run."""
import sys

from openforge_training import train
from openforge_training.config import load
from transformers import TrainerCallback


class InterruptAt(TrainerCallback):
    def __init__(self, step: int):
        self.step = step

    def on_step_end(self, args, state, control, **kwargs):
        if state.global_step == self.step:
            raise SystemExit(f"simulated interruption after step {self.step}")


if __name__ == "__main__":
    train.run(train.prepare(load(sys.argv[2:])), extra_callbacks=(InterruptAt(int(sys.argv[1])),))
