"""The shipped base model: a small Llama-architecture model pre-trained here, from random
weights, on the generated general curriculum (``synthetic_data.curriculum``, seed 0, scale 1),
with the training container's own entrypoint (full-rank, the curriculum as the "customer"
channel), then scored with the evaluation entrypoint.

    python -m synthetic_data.base_model --out examples/base-model      (make base-model)

The folder holds the Hugging Face files and ``provenance.json``: the sha256 of every file,
every setting that made them, the library versions, threads, wall time, steps, final loss
and the benchmark scores. ``check`` compares a folder with its provenance, cheaply.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import logging
import platform
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from openforge_training.evaluate import BenchmarkArguments

from openforge_contract.run_record import MODEL_CARD, RUN_RECORD
from synthetic_data.curriculum import Sizes, corpus_texts, write_experiment_data
from synthetic_data.tiny_model import build_model

log = logging.getLogger("synthetic_data.base_model")

PROVENANCE = "provenance.json"
SHIPPED = Path("examples/base-model")  # relative to the repository root
# Settings that config.json itself states, by their config.json names.
CONFIG_KEYS = {"hidden_size": "hidden_size", "layers": "num_hidden_layers", "heads": "num_attention_heads",
               "max_positions": "max_position_embeddings"}


@dataclass(frozen=True)
class BaseSettings:
    """Everything that decides the shipped weights; the defaults made them."""

    data_seed: int = 0  # build_experiment_data's seed and scale: the demo and the experiment use the same
    data_scale: float = 1.0
    hidden_size: int = 128
    layers: int = 4
    heads: int = 4
    vocab_size: int = 1000  # the BPE's target size, trained on the curriculum's texts
    max_positions: int = BenchmarkArguments.max_length  # the evaluation's context: IFEval's prompt and 1,280 generated tokens
    max_length: int = 256  # tokens per packed training row
    epochs: float = 20.0
    learning_rate: float = 3e-3
    batch_size: int = 32
    seed: int = 0  # initial weights and training order
    threads: int = 1  # torch's intra-op threads: the weights depend on it (a float sum's order); 1 is also the fastest on a shared machine


@contextmanager
def deterministic(threads: int) -> Iterator[None]:
    """Fixed thread count and deterministic kernels while inside: a rerun on the same kind of
    CPU gives the same weights (another CPU's vector width can still change the last bits).
    The process's own settings come back after."""
    import torch

    before = torch.get_num_threads(), torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.set_num_threads(before[0])
        torch.use_deterministic_algorithms(before[1])


def training_argv(*, model: Path, customer: Path, out: Path, percent: int, method: str, learning_rate: float, batch_size: int,
                  max_length: int, seed: int, schedule: list[str]) -> list[str]:
    """The training entrypoint's flags for one run of the experiment or the base model."""
    return [
        "--input_dir", str(out / "input"), "--model_channel", str(model), "--customer_channel", str(customer),
        "--output_dir", str(out / "model"), "--checkpoint_dir", str(out / "checkpoints"),
        "--customer_data_percent", str(percent), "--method", method, "--learning_rate", str(learning_rate),
        "--global_batch_size", str(batch_size), "--per_device_batch_size", str(batch_size),
        "--max_length", str(max_length), "--warmup_ratio", "0.05", "--seed", str(seed),
        "--save_steps", "100000", "--logging_steps", "50", *schedule,
    ]


def train(argv: list[str]) -> dict:
    """One run of the training container's entrypoint; its run record."""
    from openforge_training import train as entrypoint
    from openforge_training.config import load

    return entrypoint.run(entrypoint.prepare(load(argv)))


def build_initial_model(settings: BaseSettings, out: Path, texts: list[str]) -> Path:
    return build_model(out, hidden_size=settings.hidden_size, layers=settings.layers, heads=settings.heads, vocab_size=settings.vocab_size,
                       seed=settings.seed, texts=texts, max_position_embeddings=settings.max_positions)


def pretrain(settings: BaseSettings, initial: Path, data: Path, out: Path) -> dict:
    """Full-rank training from random weights on the general curriculum alone; the run record."""
    argv = training_argv(model=initial, customer=data / "pretrain", out=out, percent=100, method="full", learning_rate=settings.learning_rate,
                         batch_size=settings.batch_size, max_length=settings.max_length, seed=settings.seed, schedule=["--num_epochs", str(settings.epochs)])
    record = train(argv)
    log.info("pre-trained: %d steps, final loss %s", record["steps"], record["final_loss"])
    return record


def score(model: Path, eval_dir: Path, out: Path) -> dict:
    """The general benchmarks through the evaluation entrypoint (the model stands as base and
    tuned): MMLU-format 0-shot per subject, IFEval-format strict prompt-level."""
    from openforge_training.evaluate import load
    from openforge_training.evaluation.gate import score_interval
    from openforge_training.evaluation.run import evaluate

    config = load(["--input_dir", str(out / "input"), "--model_channel", str(model), "--tuned_channel", str(model),
                   "--eval_channel", str(eval_dir), "--output_dir", str(out), "--benchmarks", "mmlu,ifeval", "--mmlu_shots", "0",
                   "--batch_size", "32"])
    benchmarks = evaluate(config)["benchmarks"]
    scores = {name: {"metric": b["metric"], "score": b["base"], "count": b["count"], "chance": b["chance"],
                     "interval": [round(bound, 4) for bound in score_interval(b["base"], b["count"])], "details": b["base_details"]}
              for name, b in benchmarks.items()}
    return {"settings": {name: getattr(config.bench, name) for name in ("mmlu_shots", "max_length", "max_new_tokens", "chat_template")}, "scores": scores}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def versions() -> dict:
    import tokenizers
    import torch
    import transformers

    return {"python": platform.python_version(), "torch": torch.__version__, "transformers": transformers.__version__, "tokenizers": tokenizers.__version__}


PRETRAIN_FILE = "pretrain/general.jsonl"  # under write_experiment_data's folder


def write_data(settings: BaseSettings, data: Path) -> dict:
    """The curriculum the settings name, written under ``data``; what provenance.json says of it."""
    written = write_experiment_data(data, seed=settings.data_seed, scale=settings.data_scale)
    return {"sizes": asdict(Sizes.at(settings.data_scale)), "pretrain_records": written[PRETRAIN_FILE], "pretrain_sha256": sha256(data / PRETRAIN_FILE)}


def build(settings: BaseSettings, work: Path, out: Path) -> dict:
    """Data, tokenizer and initial weights, pre-training, scoring; ``out`` gets the model and
    its provenance (returned)."""
    started = time.monotonic()
    if work.exists():
        shutil.rmtree(work)
    data = work / "data"
    data_provenance = write_data(settings, data)
    with deterministic(settings.threads):
        initial = build_initial_model(settings, work / "initial", corpus_texts(data))
        record = pretrain(settings, initial, data, work / "pretrain")
    training_s = time.monotonic() - started
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    for path in sorted((work / "pretrain" / "model").iterdir()):
        if path.is_file() and path.name not in (RUN_RECORD, MODEL_CARD):  # those name this machine's paths
            shutil.copy2(path, out / path.name)
    provenance = {
        "settings": asdict(settings),
        "data": data_provenance,
        "training": {"steps": record["steps"], "final_loss": record["final_loss"], "records": sum(record["records_trained"].values()),
                     "tokens": record["tokens_trained"], "wall_s": round(training_s, 1), "threads": settings.threads,
                     "cpu": platform.machine(), "versions": versions()},
        "files": {path.name: sha256(path) for path in sorted(out.iterdir()) if path.is_file()},
    }
    return rescore(out, work / "evaluation", provenance, data)


def rescore(folder: Path, work: Path, provenance: dict | None = None, data: Path | None = None) -> dict:
    """Score the model in ``folder`` and write its provenance.json with the scores (the one
    given, or the folder's own: an evaluation change rescored without retraining)."""
    provenance = provenance or json.loads((folder / PROVENANCE).read_text())
    if data is None:
        data = work / "data"
        if data.exists():
            shutil.rmtree(data)
        if write_data(BaseSettings(**provenance["settings"]), data) != provenance["data"]:
            raise ValueError(f"the curriculum is no longer the one {folder} was trained on: remake it (make base-model)")
    with deterministic(provenance["settings"]["threads"]):
        provenance["evaluation"] = score(folder, data / "eval", work)
    (folder / PROVENANCE).write_text(json.dumps(provenance, indent=2) + "\n")
    return provenance


def check(folder: Path) -> list[str]:
    """What in ``folder`` disagrees with its provenance.json (empty: all agrees): a file
    missing, added or changed, or config.json not the shape the settings name."""
    provenance = json.loads((folder / PROVENANCE).read_text())
    problems = []
    present = {path.name for path in folder.iterdir() if path.is_file() and path.name != PROVENANCE}
    for path in sorted(folder.iterdir()):  # the demo copies the whole folder: nothing else may ride along
        if not path.is_file():
            problems.append(f"{path.name} is not a file (the folder holds only the files {PROVENANCE} lists)")
    for name in sorted(present - set(provenance["files"])):
        problems.append(f"{name} is not in {PROVENANCE}")
    for name, digest in sorted(provenance["files"].items()):
        if name not in present:
            problems.append(f"{name} is missing")
        elif sha256(folder / name) != digest:
            problems.append(f"{name} differs from its sha256 in {PROVENANCE}")
    config = json.loads((folder / "config.json").read_text())
    for setting, key in CONFIG_KEYS.items():
        if config.get(key) != provenance["settings"][setting]:
            problems.append(f"config.json {key} is {config.get(key)}, the settings say {provenance['settings'][setting]}")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=SHIPPED, help="the model folder (recreated)")
    parser.add_argument("--work", type=Path, default=Path("work/base-model"), help="scratch: data, checkpoints, evaluation (recreated)")
    parser.add_argument("--rescore", action="store_true", help="only score the model already in --out and update its provenance.json")
    for f in fields(BaseSettings):
        parser.add_argument(f"--{f.name}", type=type(f.default), default=f.default)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    settings = BaseSettings(**{f.name: getattr(args, f.name) for f in fields(BaseSettings)})
    provenance = rescore(args.out, args.work) if args.rescore else build(settings, args.work, args.out)
    print(json.dumps({"training": provenance["training"], "scores": provenance["evaluation"]["scores"]}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
