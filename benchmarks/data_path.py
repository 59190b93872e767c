"""`make bench`, data-path headroom: can the CPU side feed the GPUs?

Measured: records rendered with the chat template, tokenised, mixed and packed per CPU-second
through the training container's own data path (MixedRecordStream -> MixedPackedDataset:
ChatRenderer, clip, collate), one process on one core with one thread, at max_length 2048.
Data: generated pseudo-English conversations (Zipf-distributed words) whose lengths follow
the realistic log-normal mix of benchmarks/training.py (median 350 tokens), tokenised by a
byte-level BPE of 32k tokens trained here on the same generator's text.

Against it: the tokens per second one accelerator of the platform's default GPU training type
consumes at the capacity plan's assumed MFU, for Llama-3.2-1B and Llama-3.1-8B, full and LoRA
(FLOPs per token from openforge_contract.capacity). Their ratio is the cores the data path
needs per GPU, printed beside the vCPUs the host gives each GPU. Goal: at most one core per
GPU for the 8B model. Conservative on both sides: only non-padding tokens count as produced,
while the GPU rate leaves out attention's length-squared FLOPs and gradient checkpointing's recompute.
"""
from __future__ import annotations

import os
import random
import statistics
import tempfile
import time
from dataclasses import dataclass, fields
from pathlib import Path

import numpy as np
from openforge_training.chat import ChatRenderer
from openforge_training.config import MixArguments
from openforge_training.dataset import MixedPackedDataset
from openforge_training.mixing import CUSTOMER, MixedRecordStream, MixPlan, MixSpec
from openforge_training.sources import curated_pools, customer_pool

from benchmarks.training import CUSTOMER_PERCENT, WEIGHTS, record_lengths
from openforge_contract.capacity import ModelShape, training_flops_per_token
from openforge_contract.capacity_plan import ASSUMED_MFU
from openforge_contract.hyperparameters import TRAINING
from openforge_contract.instance_catalogue import DEFAULT_GPU_TRAINING_TYPE, InstanceType, lookup
from openforge_contract.reference_models import BENCHMARK_CONFIGS
from synthetic_data.files import write_jsonl
from synthetic_data.tiny_model import build_tokenizer

VOCAB_SIZE = 32_000  # Llama 2's and Mistral's size; the shipped base model's 1,000 tokens would flatter the speed
MODELS = ("Llama-3.2-1B", "Llama-3.1-8B")
METHODS = ("full", "lora")
GOAL_MODEL, GOAL_CORES_PER_GPU = "Llama-3.1-8B", 1.0
GLOBAL_BATCH, PER_DEVICE_BATCH = 64, 8
SHUFFLE_BLOCK = next(f.default for f in fields(MixArguments) if f.name == "shuffle_block")

# Pseudo-English: syllables make words; short words are the frequent ones, as in natural language.
ONSETS = ("", "b", "c", "d", "f", "g", "h", "l", "m", "n", "p", "r", "s", "t", "w", "st", "tr", "ch", "sh", "th", "pl", "gr")
VOWELS = ("a", "e", "i", "o", "u", "ea", "ou", "ai", "y")
CODAS = ("", "", "n", "r", "s", "t", "l", "nd", "st", "ng", "ck")
SYSTEM_PROMPT = "You are a helpful assistant for the support team. Answer precisely and cite the ticket number."


class PseudoEnglish:
    """Text whose word frequencies follow Zipf-Mandelbrot's law over a generated lexicon."""

    def __init__(self, seed: int, lexicon_size: int = 60_000):
        rng, words = random.Random(seed), set()
        while len(words) < lexicon_size:
            syllables = min(5, 1 + int(rng.expovariate(1.0)))
            words.add("".join(rng.choice(ONSETS) + rng.choice(VOWELS) + rng.choice(CODAS) for _ in range(syllables)))
        self.words = sorted(words, key=lambda word: (len(word), word))
        weights = 1.0 / (np.arange(1, lexicon_size + 1) + 2.7)
        self.cumulative = np.cumsum(weights / weights.sum())
        self.rng = np.random.default_rng(seed)

    def text(self, words: int) -> str:
        picked = [self.words[i] for i in np.searchsorted(self.cumulative, self.rng.random(words), side="right")]
        sentences = []
        for start in range(0, len(picked), 14):
            sentence = picked[start : start + 14]
            if self.rng.random() < 0.3:
                sentence[len(sentence) // 2] = str(int(self.rng.integers(1, 10_000)))
            if len(sentence) > 6:
                sentence[4] += ","
            sentences.append(" ".join(sentence).capitalize() + ".")
        return " ".join(sentences)


def train_tokenizer(generator: PseudoEnglish, *, paragraphs: int = 20_000, words_per_paragraph: int = 100, vocab_size: int = VOCAB_SIZE):
    """The project's byte-level BPE and chat template (synthetic_data.tiny_model), at ``vocab_size``."""
    return build_tokenizer([generator.text(words_per_paragraph) for _ in range(paragraphs)], vocab_size)


def conversations(generator: PseudoEnglish, tokenizer, records: int, max_length: int, seed: int) -> list[dict]:
    """Chat records whose token lengths follow ``record_lengths``: one to three user/assistant
    turns, half with a system prompt; a turn's words are sized by the tokenizer's tokens per word."""
    sample = generator.text(5_000)
    tokens_per_word = len(tokenizer(sample, add_special_tokens=False)["input_ids"]) / len(sample.split())
    rng, out = random.Random(seed), []
    for length in record_lengths(records, max_length, seed):
        turns = 1 + (rng.random() < 0.3) + (rng.random() < 0.1)
        words = max(2 * turns, round(length / tokens_per_word))
        messages = [{"role": "system", "content": SYSTEM_PROMPT}] if rng.random() < 0.5 else []
        for _ in range(turns):
            user = max(1, round(0.6 * words / turns))
            messages += [{"role": "user", "content": generator.text(user)},
                         {"role": "assistant", "content": generator.text(max(1, words // turns - user))}]
        out.append({"messages": messages})
    return out


def write_channels(data_dir: Path, records: list[dict]) -> None:
    """customer/ and curated/<category>/ as the training container reads them: half the records
    to the customer channel, the rest shared among the benchmark's curated categories."""
    half = len(records) // 2
    write_jsonl(data_dir / "customer" / "records.jsonl", records[:half])
    for index, category in enumerate(WEIGHTS):
        write_jsonl(data_dir / "curated" / category / "part-000.jsonl", records[half + index :: len(WEIGHTS)])


@dataclass(frozen=True)
class Throughput:
    records: int
    tokens: int  # non-padding tokens in the packed micro-batches
    cpu_seconds: float

    @property
    def records_per_second(self) -> float:
        return self.records / self.cpu_seconds

    @property
    def tokens_per_second(self) -> float:
        return self.tokens / self.cpu_seconds


def data_path_throughput(data_dir: Path, tokenizer, *, max_length: int, global_batches: int, start_batch: int = 0, seed: int = 0,
                         global_batch: int = GLOBAL_BATCH, per_device_batch: int = PER_DEVICE_BATCH) -> Throughput:
    """CPU time of making ``global_batches`` mixed global batches into packed micro-batches,
    as the Trainer's loader does, from ``start_batch`` on (after one batch of warm-up)."""
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # as train.prepare does
    spec = MixSpec.from_percentages(CUSTOMER_PERCENT, WEIGHTS)
    pools = {CUSTOMER: customer_pool(data_dir / "customer"), **curated_pools(data_dir / "curated", list(spec.categories))}
    stream = MixedRecordStream(MixPlan(spec, global_batch), pools, seed, SHUFFLE_BLOCK)
    micro_batches = global_batch // per_device_batch
    dataset = MixedPackedDataset(stream, ChatRenderer(tokenizer), max_length=max_length, micro_batches_per_step=micro_batches, start_batch=start_batch)
    items = iter(dataset)
    for _ in range(micro_batches):  # warm-up: pools opened, the template compiled
        next(items)
    tokens_before, started = dataset.stats.tokens, time.process_time()
    for _ in range(global_batches * micro_batches):
        next(items)
    return Throughput(global_batches * global_batch, dataset.stats.tokens - tokens_before, time.process_time() - started)


@dataclass(frozen=True)
class Headroom:
    model: str
    method: str
    gpu_tokens_per_second: float  # what one accelerator consumes at ASSUMED_MFU
    cores_needed: float  # data-path cores to feed one accelerator
    cores_per_gpu: float  # what the host gives each accelerator


def gpu_tokens_per_second(instance: InstanceType, model: str, method: str) -> float:
    shape = ModelShape.from_config(BENCHMARK_CONFIGS[model])
    flops = training_flops_per_token(shape, method=method, lora_rank=TRAINING["lora_rank"] if method == "lora" else 0)
    return ASSUMED_MFU * instance.peak_bf16_tflops * 1e12 / flops


def headroom(tokens_per_core_second: float, instance_type: str = DEFAULT_GPU_TRAINING_TYPE) -> list[Headroom]:
    instance = lookup(instance_type)
    if not instance.peak_bf16_tflops or not instance.accelerator_count:
        raise ValueError(f"{instance_type} has no published bf16 peak or no accelerator: pick a GPU type from the instance catalogue")
    cores_per_gpu = instance.vcpus / instance.accelerator_count
    rows = []
    for model in MODELS:
        for method in METHODS:
            demand = gpu_tokens_per_second(instance, model, method)
            rows.append(Headroom(model, method, demand, demand / tokens_per_core_second, cores_per_gpu))
    return rows


def pin_to_one_core() -> int:
    """This process and its threads on one CPU (Linux), torch and the tokenizer on one thread
    each (the tokenizer reads the variable at every call); returns the CPU."""
    import torch

    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    torch.set_num_threads(1)
    core = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {core})
    return core


def main(records: int = 6000, global_batches: int = 20, repeats: int = 5) -> None:
    core = pin_to_one_core()
    max_length = TRAINING["max_length"]
    started = time.perf_counter()
    generator = PseudoEnglish(seed=0)
    tokenizer = train_tokenizer(generator)
    data = conversations(generator, tokenizer, records, max_length, seed=1)
    with tempfile.TemporaryDirectory(prefix="openforge-data-path-") as folder:
        write_channels(Path(folder), data)
        runs = [data_path_throughput(Path(folder), tokenizer, max_length=max_length, global_batches=global_batches, start_batch=1 + k * global_batches)
                for k in range(repeats)]
    sample = [len(record) for record in ChatRenderer(tokenizer).tokenise_many([r["messages"] for r in data[:500]])]
    chars = sum(len(m["content"]) for r in data[:500] for m in r["messages"])
    per_core = statistics.median(run.tokens_per_second for run in runs)
    records_per_core = statistics.median(run.records_per_second for run in runs)
    print(f"Data-path headroom (CPU {core} of {os.cpu_count()} on this machine; setup {time.perf_counter() - started:.0f} s):")
    print(f"  tokenizer: byte-level BPE, {len(tokenizer):,} tokens, trained here; records: median {statistics.median(sample):.0f} tokens "
          f"(log-normal), {chars / sum(sample):.1f} characters per token, max_length {max_length}")
    print(f"  data path (render, tokenise, mix, pack), 1 core, median of {repeats} x {global_batches * GLOBAL_BATCH} records: "
          f"{records_per_core:,.0f} records/s, {per_core:,.0f} tokens/s per core")
    rows = headroom(per_core)
    instance = lookup(DEFAULT_GPU_TRAINING_TYPE)
    print(f"  vs one GPU of {instance.name} ({instance.peak_bf16_tflops:g} dense bf16 TFLOPS at {ASSUMED_MFU:.0%} MFU; "
          f"{rows[0].cores_per_gpu:g} vCPUs per GPU = {instance.vcpus} / {instance.accelerator_count}, a vCPU being a hyperthread):")
    print(f"  {'model':14} {'method':6} {'GPU tokens/s':>13} {'cores needed':>13} {'of its vCPUs':>13}")
    for row in rows:
        print(f"  {row.model:14} {row.method:6} {row.gpu_tokens_per_second:13,.0f} {row.cores_needed:13.2f} {row.cores_needed / row.cores_per_gpu:13.1%}")
    worst = max(row.cores_needed for row in rows if row.model == GOAL_MODEL)
    verdict = "met" if worst <= GOAL_CORES_PER_GPU else "NOT met"
    print(f"  goal: <= {GOAL_CORES_PER_GPU:g} core per GPU for {GOAL_MODEL}: {worst:.2f} ({verdict})")


if __name__ == "__main__":
    main()
