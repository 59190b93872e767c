"""`make bench`, training container: every figure is a ratio against an anchor measured in
the same run, on the same data.

1. Mixing exactness: per-batch deviation of each source's count from its target, ours vs
   HF ``datasets.interleave_datasets`` with the same probabilities (the anchor).
2. Padding waste on a realistic (log-normal) length mix: our packing vs padding every
   micro-batch to its longest record (what a plain collator does).
3. Training throughput, trained-on tokens per second: our entrypoint (mixing + packing)
   vs a plain transformers Trainer on the same tiny model, records and LoRA settings.
   Goal: ratio >= 1.0 (our data path costs nothing).
"""
from __future__ import annotations

import os
import tempfile
from itertools import islice
from pathlib import Path

import numpy as np


from openforge_training.chat import IGNORE_INDEX, Tokenised
from openforge_training.mixing import MixPlan, MixSpec
from openforge_training.packing import PackStats, collate

BATCH, CUSTOMER_PERCENT, WEIGHTS, BATCHES = 32, 75, {"reasoning": 40, "instruction_following": 30, "factuality": 30}, 2000


def mixing_exactness() -> list[tuple[str, float, float]]:
    from datasets import Dataset, interleave_datasets

    spec = MixSpec.from_percentages(CUSTOMER_PERCENT, WEIGHTS)
    shares = {name: float(v) for name, v in spec.as_percentages().items()}
    names = list(shares)
    targets = np.array([shares[n] / 100 * BATCH for n in names])

    ours = np.array([[counts.by_source()[n.removeprefix("curated/")] for n in names] for _, counts in islice(MixPlan(spec, BATCH).batches(), BATCHES)])
    size = BATCH * BATCHES
    pools = [Dataset.from_dict({"source": [index] * size}) for index in range(len(names))]
    mixed = interleave_datasets(pools, probabilities=[shares[n] / 100 for n in names], seed=0, stopping_strategy="first_exhausted")
    sources = np.array(mixed["source"][: size])
    anchor = np.stack([np.bincount(sources[i * BATCH : (i + 1) * BATCH], minlength=len(names)) for i in range(BATCHES)])

    rows = []
    for index, name in enumerate(names):
        ours_dev, anchor_dev = ours[:, index] - targets[index], anchor[:, index] - targets[index]
        rows.append((name, float(np.abs(ours_dev).max()), float(np.abs(anchor_dev).max()), float(ours_dev.std()), float(anchor_dev.std())))
    return rows


# Record lengths in tokens of a realistic fine-tuning set: log-normal, median 350 tokens.
MEDIAN_RECORD_TOKENS, RECORD_LENGTH_SIGMA, SHORTEST_RECORD = 350, 0.9, 16


def record_lengths(records: int, max_length: int, seed: int = 0) -> np.ndarray:
    """Tokens per record, drawn from the realistic log-normal mix and clipped to [16, max_length]."""
    rng = np.random.default_rng(seed)
    return np.clip(rng.lognormal(mean=np.log(MEDIAN_RECORD_TOKENS), sigma=RECORD_LENGTH_SIGMA, size=records).astype(int), SHORTEST_RECORD, max_length)


def padding_waste(max_length: int = 2048, micro_batch: int = 8, records: int = 4000) -> tuple[float, float]:
    lengths = record_lengths(records, max_length)
    tokenised = [Tokenised([1] * n, [IGNORE_INDEX] + [1] * (n - 1)) for n in lengths]
    packed, plain = PackStats(), PackStats()
    for start in range(0, records, micro_batch):
        chunk = tokenised[start : start + micro_batch]
        collate(chunk, max_length, 0, pack=True, stats=packed)
        collate(chunk, max_length, 0, pack=False, stats=plain)
    return plain.padding_fraction, packed.padding_fraction


def write_varied_customer_data(data_dir: Path, records: int = 3000) -> None:
    """Support tickets whose lengths follow a log-normal mix, like real customer data."""
    import json
    import random

    from synthetic_data.basic_skills import WORDS
    from synthetic_data.tickets import TICKET_LABELS

    rng, lengths = random.Random(0), np.random.default_rng(0).lognormal(np.log(40), 0.9, records).astype(int).clip(3, 400)
    folder = data_dir / "customer"
    for old in folder.glob("*.jsonl"):
        old.unlink()
    with open(folder / "tickets.jsonl", "w") as handle:
        for n in lengths:
            body = " ".join(rng.choice(WORDS) for _ in range(n))
            handle.write(json.dumps({"input": f"Classify this ticket: {body}", "output": rng.choice(TICKET_LABELS)}) + "\n")


def throughput(steps: int = 100, repeats: int = 3) -> tuple[float, float]:
    """Median of ``repeats`` alternating runs of each arm, on the very same global batches."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    from datasets import Dataset
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, DataCollatorForSeq2Seq, Trainer, TrainingArguments

    from openforge_training import train
    from openforge_training.config import load
    from openforge_training.mixing import MixedRecordStream
    from sanitiser.formats import parse_line
    from synthetic_data import sandbox

    root = Path(tempfile.mkdtemp(prefix="openforge-bench-"))
    input_dir = sandbox.build(root, customer=100, per_category=800)
    write_varied_customer_data(input_dir / "data")
    flags = {"max_steps": steps, "global_batch_size": 16, "per_device_batch_size": 16, "learning_rate": 1e-3, "logging_steps": steps,
             "save_steps": 10 * steps, "max_length": 1024, "customer_data_percent": 75, "seed": 1}

    def ours(run_index: int) -> float:
        argv = ["--input_dir", str(input_dir), "--output_dir", str(root / f"out{run_index}"), "--checkpoint_dir", str(root / f"ckpt{run_index}")]
        for key, value in flags.items():
            argv += [f"--{key}", str(value)]
        return train.run(train.prepare(load(argv)))["tokens_per_second"]  # tokenisation, mixing, packing included

    prepared = train.prepare(load(["--input_dir", str(input_dir), "--output_dir", str(root / "x"), "--checkpoint_dir", str(root / "y"),
                                   *[item for key, value in flags.items() for item in (f"--{key}", str(value))]]))
    stream = MixedRecordStream(prepared.plan, prepared.pools, flags["seed"], 8192)
    batches = list(islice(stream.batches(), steps))
    encoded = prepared.renderer.tokenise_many([parse_line(r.text) for batch in batches for r in batch])  # done before timing
    dataset = Dataset.from_dict({"input_ids": [e.input_ids for e in encoded], "labels": [e.labels for e in encoded]})
    model_dir = input_dir / "data" / "model"

    def plain(run_index: int) -> float:
        model = AutoModelForCausalLM.from_pretrained(model_dir)
        model = get_peft_model(model, LoraConfig(r=16, lora_alpha=32, lora_dropout=0.05, target_modules="all-linear", task_type="CAUSAL_LM"))
        args = TrainingArguments(output_dir=str(root / f"plain{run_index}"), per_device_train_batch_size=16, max_steps=steps, learning_rate=1e-3,
                                 report_to="none", save_strategy="no", disable_tqdm=True, use_cpu=True, logging_steps=steps)
        trainer = Trainer(model=model, args=args, train_dataset=dataset, data_collator=DataCollatorForSeq2Seq(prepared.tokenizer, padding=True))
        return sum(len(e) for e in encoded) / trainer.train().metrics["train_runtime"]

    ours_rates, plain_rates = [], []
    for run_index in range(repeats):
        ours_rates.append(ours(run_index))
        plain_rates.append(plain(run_index))
    return float(np.median(ours_rates)), float(np.median(plain_rates))


def main() -> None:
    print("Mixing exactness: per-batch |count - target| over", BATCHES, f"batches of {BATCH} at {CUSTOMER_PERCENT}% customer, curated {WEIGHTS}")
    print(f"  {'source':34} {'max ours':>9} {'max HF':>8} {'std ours':>9} {'std HF':>8} {'std ratio HF/ours':>18}")
    for name, ours_max, anchor_max, ours_std, anchor_std in mixing_exactness():
        ratio = f"{anchor_std / ours_std:.1f}x" if ours_std else "exact (0 std)"
        print(f"  {name:34} {ours_max:9.2f} {anchor_max:8.2f} {ours_std:9.3f} {anchor_std:8.3f} {ratio:>18}")
    plain, packed = padding_waste()
    print(f"Padding waste (log-normal lengths, median 350, max 2048, micro-batch 8): padded {plain:.1%}, packed {packed:.1%} "
          f"-> {plain / max(packed, 1e-9):.1f}x less padding")
    ours, anchor = throughput()
    verdict = "met" if ours / anchor >= 1.0 else "NOT met"
    print(f"Training throughput (tiny Llama, LoRA r16, CPU, log-normal ticket lengths, median of 3): ours {ours:,.0f} tok/s, plain HF Trainer {anchor:,.0f} tok/s -> ratio {ours / anchor:.2f} (goal >= 1.0: {verdict})")


if __name__ == "__main__":
    main()
