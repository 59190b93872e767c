"""transformers' Trainer with the two hooks mixing needs: measure what each micro-batch
really held (realised mix, tokens/s) and save the sampler position with every checkpoint."""
from __future__ import annotations

import json
import time
from pathlib import Path

import torch
from transformers import Trainer, TrainerCallback

from .dataset import PACKING, SOURCE_COUNTS
from .mixing import MixPlan
from .sharding import enable_fsdp_on_cpu
from .tracking import log_metrics

MIXING_STATE_FILE = "openforge_mixing_state.json"


COUNTERS = ("tokens", "slots", "truncated", "skipped")  # trained tokens, token slots (with padding), records cut, records skipped


class MixMeter:
    """Running totals of records per source, tokens, padding and truncation, read at every
    log step and saved with every checkpoint.

    Each process only sees its own micro-batches; ``reduce`` sums the totals over all
    processes (every process calls it at the same log and save steps), so the logged mix is
    the mix of the global batches. ``resumed`` are the whole-run totals a checkpoint saved:
    the same on every process, added after the sum, so figures cover the whole run.
    """

    def __init__(self, sources: list[str], reduce=lambda totals: totals, resumed: dict | None = None):
        self.sources, self.reduce = sources, reduce
        self.local = torch.zeros(len(sources) + len(COUNTERS), dtype=torch.long)
        self.resumed = self._vector(resumed) if resumed else torch.zeros_like(self.local)
        self._tokens_at_last_log, self._time_at_last_log = self.as_dict(self.resumed)["tokens"], time.perf_counter()

    def add(self, counts: torch.Tensor, packing: torch.Tensor, slots: int) -> None:
        """``packing`` is the dataset's [tokens, truncated, skipped] of one micro-batch."""
        tokens, truncated, skipped = packing.tolist()
        self.local += torch.tensor([*counts.tolist(), tokens, slots, truncated, skipped])

    def totals(self) -> dict:
        """``{"records": {source: n}, "tokens": n, "slots": n, "truncated": n, "skipped": n}`` over the whole run."""
        return self.as_dict(self.reduce(self.local.clone()) + self.resumed)

    def as_dict(self, vector: torch.Tensor) -> dict:
        values = vector.tolist()
        return {"records": dict(zip(self.sources, values)), **dict(zip(COUNTERS, values[len(self.sources) :]))}

    def _vector(self, totals: dict) -> torch.Tensor:
        return torch.tensor([*(totals["records"].get(s, 0) for s in self.sources), *(totals[c] for c in COUNTERS)], dtype=torch.long)

    def realised(self, totals: dict) -> dict[str, float]:
        records = list(totals["records"].values())
        total = sum(records)
        if not total:
            return {}
        metrics = {"mix/customer_data_percent": 100 * records[0] / total}
        curated = total - records[0]
        for name, count in zip(self.sources[1:], records[1:]):
            metrics[f"mix/curated/{name}_percent"] = 100 * count / curated if curated else 0.0
        return metrics

    def overall(self, totals: dict) -> dict[str, float]:
        """Share of all records per source, keyed like ``MixSpec.as_percentages``."""
        records = list(totals["records"].values())
        names = ["customer", *[f"curated/{n}" for n in self.sources[1:]]]
        return {name: 100 * count / (sum(records) or 1) for name, count in zip(names, records)}

    def throughput(self, totals: dict) -> dict[str, float]:
        now = time.perf_counter()
        rate = (totals["tokens"] - self._tokens_at_last_log) / max(now - self._time_at_last_log, 1e-9)
        self._tokens_at_last_log, self._time_at_last_log = totals["tokens"], now
        return {"tokens_per_second": rate}

    @staticmethod
    def truncation(totals: dict) -> dict[str, int]:
        return {"data/truncated_records": totals["truncated"], "data/skipped_records": totals["skipped"]}

    def summary(self) -> dict:
        totals = self.totals()
        return {
            "realised": self.overall(totals),
            "totals": totals,
            "tokens_since_resume": totals["tokens"] - self.as_dict(self.resumed)["tokens"],
            "padding_fraction": 1 - totals["tokens"] / totals["slots"] if totals["slots"] else 0.0,
        }


class MixingTrainer(Trainer):
    def __init__(self, *args, sources: list[str], resumed: dict | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.meter = MixMeter(sources, reduce=self._sum_over_processes, resumed=resumed)
        self.restore_rng_from: str | None = None

    def create_accelerator_and_postprocess(self) -> None:
        super().create_accelerator_and_postprocess()
        if self.args.fsdp_plugin_args and not self.is_fsdp_enabled and enable_fsdp_on_cpu(self.accelerator, self.args.fsdp_plugin_args):
            self.is_fsdp_enabled = True

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
        counts, packing = inputs.pop(SOURCE_COUNTS, None), inputs.pop(PACKING, None)
        if counts is not None and model.training:
            self.meter.add(counts.cpu(), packing.cpu(), inputs["input_ids"].numel())
        return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    def log(self, logs: dict, start_time: float | None = None) -> None:
        if "loss" in logs:
            totals = self.meter.totals()
            logs.update(self.meter.realised(totals))
            logs.update(self.meter.throughput(totals))
            logs.update(self.meter.truncation(totals))
            logs["data/tokens_trained"] = totals["tokens"]  # whole run so far: step by step, which batches were trained
        super().log(logs, start_time)
        if self.is_world_process_zero():
            log_metrics(logs, step=self.state.global_step)


class MixingStateCallback(TrainerCallback):
    """Writes the sampler's position beside each checkpoint. The position is the number of
    global batches done; the JSON also holds what that means per source, a fingerprint
    of data and mix, so a resume on different data is refused instead of silently wrong,
    and the meter's whole-run totals (``measured``), which a resumed run carries on from.
    ``sharding`` and ``processes`` say how the checkpoint's weights were written, so that a
    resume that cannot read them is refused before training (``train.prepare``)."""

    def __init__(self, plan: MixPlan, seed: int, fingerprint: str, meter: MixMeter, sharding: str, processes: int):
        self.plan, self.seed, self.fingerprint, self.meter = plan, seed, fingerprint, meter
        self.sharding, self.processes = sharding, processes

    def on_save(self, args, state, control, **kwargs):
        measured = self.meter.totals()  # every process takes part in the sum
        if state.is_world_process_zero:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if folder.is_dir():
                (folder / MIXING_STATE_FILE).write_text(json.dumps(self.state(state.global_step, measured), indent=2))
        return control

    def state(self, batches_done: int, measured: dict) -> dict:
        return {
            "global_batches_done": batches_done,
            "seed": self.seed,
            "fingerprint": self.fingerprint,
            "records_consumed": self.plan.consumed(batches_done),
            "measured": measured,
            "sharding": self.sharding,
            "processes": self.processes,
        }


def read_mixing_state(checkpoint: Path) -> dict | None:
    path = checkpoint / MIXING_STATE_FILE
    return json.loads(path.read_text()) if path.is_file() else None


__all__ = ["MixingTrainer", "MixingStateCallback", "read_mixing_state", "MIXING_STATE_FILE"]
