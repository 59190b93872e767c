"""transformers' Trainer with the two hooks mixing needs: measure what each micro-batch
really held (realised mix, tokens/s) and save the sampler position with every checkpoint."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback

from .dataset import SOURCE_COUNTS, TRAINED_TOKENS
from .mixing import MixPlan
from .tracking import log_metrics

MIXING_STATE_FILE = "openforge_mixing_state.json"


class MixMeter:
    """Running totals of records per source, tokens and padding, read at every log step.

    Each process only sees its own micro-batches; ``reduce`` sums the totals over all
    processes (every process calls it at the same log steps), so the logged mix is the
    mix of the global batches.
    """

    def __init__(self, sources: list[str], reduce=lambda totals: totals):
        self.sources, self.reduce = sources, reduce
        self.local = torch.zeros(len(sources) + 2, dtype=torch.long)  # records per source, tokens, slots
        self._tokens_at_last_log, self._time_at_last_log = 0, time.perf_counter()

    def add(self, counts: torch.Tensor, tokens: torch.Tensor, slots: int) -> None:
        self.local[: len(self.sources)] += counts.cpu()
        self.local[-2] += int(tokens)
        self.local[-1] += slots

    def totals(self) -> tuple[list[int], int, int]:
        summed = self.reduce(self.local.clone()).tolist()
        return summed[: len(self.sources)], summed[-2], summed[-1]

    def realised(self, totals=None) -> dict[str, float]:
        records, _, _ = totals or self.totals()
        total = sum(records)
        if not total:
            return {}
        metrics = {"mix/customer_data_percent": 100 * records[0] / total}
        curated = total - records[0]
        for name, count in zip(self.sources[1:], records[1:]):
            metrics[f"mix/curated/{name}_percent"] = 100 * count / curated if curated else 0.0
        return metrics

    def overall(self, totals=None) -> dict[str, float]:
        """Share of all records per source, keyed like ``MixSpec.as_percentages``."""
        records, _, _ = totals or self.totals()
        names = ["customer", *[f"curated/{n}" for n in self.sources[1:]]]
        return {name: 100 * count / (sum(records) or 1) for name, count in zip(names, records)}

    def throughput(self, totals=None) -> dict[str, float]:
        _, tokens, _ = totals or self.totals()
        now = time.perf_counter()
        rate = (tokens - self._tokens_at_last_log) / max(now - self._time_at_last_log, 1e-9)
        self._tokens_at_last_log, self._time_at_last_log = tokens, now
        return {"tokens_per_second": rate}

    def summary(self) -> dict:
        totals = self.totals()
        _, tokens, slots = totals
        return {"realised": self.overall(totals), "tokens": tokens, "padding_fraction": 1 - tokens / slots if slots else 0.0}


class MixingTrainer(Trainer):
    def __init__(self, *args, sources: list[str], **kwargs):
        super().__init__(*args, **kwargs)
        self.meter = MixMeter(sources, reduce=self._sum_over_processes)
        self.restore_rng_from: str | None = None

    def _sum_over_processes(self, totals: torch.Tensor) -> torch.Tensor:
        if self.accelerator.num_processes == 1:
            return totals
        return self.accelerator.reduce(totals.to(self.accelerator.device), reduction="sum").cpu()

    def train(self, resume_from_checkpoint=None, **kwargs):
        self.restore_rng_from = resume_from_checkpoint
        return super().train(resume_from_checkpoint=resume_from_checkpoint, **kwargs)

    def get_batch_samples(self, epoch_iterator, num_batches, device):
        batches = super().get_batch_samples(epoch_iterator, num_batches, device)
        # With ignore_data_skip the Trainer never restores the RNG (dropout) state of a
        # checkpoint; do it where its own data-skip path would, after the first fetch.
        if self.restore_rng_from:
            self._load_rng_state(self.restore_rng_from)
            self.restore_rng_from = None
        return batches

    def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
        counts, tokens = inputs.pop(SOURCE_COUNTS, None), inputs.pop(TRAINED_TOKENS, None)
        if counts is not None and model.training:
            self.meter.add(counts, tokens, inputs["input_ids"].numel())
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs:
            totals = self.meter.totals()
            logs.update(self.meter.realised(totals))
            logs.update(self.meter.throughput(totals))
        super().log(logs, start_time)
        if self.is_world_process_zero():
            log_metrics(logs, step=self.state.global_step)


class MixingStateCallback(TrainerCallback):
    """Writes the sampler's position beside each checkpoint. The position is the number of
    global batches done; the JSON also holds what that means per source and a fingerprint
    of data and mix, so a resume on different data is refused instead of silently wrong."""

    def __init__(self, plan: MixPlan, seed: int, fingerprint: str):
        self.plan, self.seed, self.fingerprint = plan, seed, fingerprint

    def on_save(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / MIXING_STATE_FILE).write_text(json.dumps(self.state(state.global_step), indent=2))
        return control

    def state(self, batches_done: int) -> dict:
        return {
            "global_batches_done": batches_done,
            "seed": self.seed,
            "fingerprint": self.fingerprint,
            "records_consumed": self.plan.consumed(batches_done),
        }


def read_mixing_state(checkpoint: Path) -> dict | None:
    path = checkpoint / MIXING_STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["MixingTrainer", "MixingStateCallback", "read_mixing_state", "MIXING_STATE_FILE"]
