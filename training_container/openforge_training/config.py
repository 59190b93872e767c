"""Run configuration: one dataclass per concern, every field with help text.

The same fields arrive as SageMaker hyperparameters (a JSON object of strings in
``<input_dir>/config/hyperparameters.json``) or as command-line flags (``--lora_rank 8``);
flags win. ``python -m openforge_training.train --help`` lists them all.
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

from transformers import HfArgumentParser

from openforge_contract.environment_variables import OPENFORGE_COMMIT
from openforge_contract.hyperparameters import METHOD, MIXING, SHARDING, TRAINING

from .errors import InputError

SAGEMAKER_INPUT = "/opt/ml/input"
CHANNELS = ("model", "customer", "curated", "validation")


@dataclass
class PathArguments:
    input_dir: str = field(default=SAGEMAKER_INPUT, metadata={"help": "SageMaker input folder: config/hyperparameters.json and data/<channel>."})
    model_channel: str | None = field(default=None, metadata={"help": "Base model and tokenizer (HF format). Default: <input_dir>/data/model."})
    customer_channel: str | None = field(default=None, metadata={"help": "Customer JSONL files. Default: <input_dir>/data/customer."})
    curated_channel: str | None = field(default=None, metadata={"help": "Curated JSONL, one subfolder or file prefix per category. Default: <input_dir>/data/curated."})
    validation_channel: str | None = field(default=None, metadata={"help": "Optional held-out JSONL for eval loss. Default: <input_dir>/data/validation if present."})
    output_dir: str = field(default="/opt/ml/model", metadata={"help": "Where the exported model goes (SageMaker uploads it)."})
    checkpoint_dir: str = field(default="/opt/ml/checkpoints", metadata={"help": "Checkpoints; a run finding one here resumes from it."})

    def channel(self, name: str) -> Path:
        explicit = getattr(self, f"{name}_channel")
        return Path(explicit) if explicit else Path(self.input_dir) / "data" / name


@dataclass
class MixArguments:
    customer_data_percent: float = field(default=float(MIXING["customer_data_percent"]), metadata={"help": "Share of every global batch from the customer channel, 0-100."})
    curated_weights: str | None = field(
        default=None,
        metadata={"help": 'JSON object of category weights inside the curated share, e.g. {"reasoning": 40, "instruction_following": 60}; must sum to 100. Default: every category found, equally.'},
    )
    normalise_curated_weights: bool = field(default=False, metadata={"help": "Scale curated_weights to sum to 100 instead of rejecting them."})
    max_length: int = field(default=TRAINING["max_length"], metadata={"help": "Tokens per packed row; longer records are truncated."})
    packing: bool = field(default=True, metadata={"help": "Pack several records per row (position ids keep them apart)."})
    shuffle_block: int = field(default=8192, metadata={"help": "Records shuffled together in memory; bounds memory whatever the data size."})

    def weights(self) -> dict | None:
        if self.curated_weights is None or not str(self.curated_weights).strip():
            return None
        try:
            weights = json.loads(self.curated_weights)
        except json.JSONDecodeError as error:
            raise InputError(f"curated_weights is not valid JSON ({error}): expected an object like {{\"reasoning\": 40, \"instruction_following\": 60}}") from None
        if not isinstance(weights, dict):
            raise InputError(f"curated_weights must be a JSON object of category -> weight, got {type(weights).__name__}")
        return weights


@dataclass
class TuningArguments:
    method: str = field(default=METHOD, metadata={"help": "lora (parameter-efficient, the default) or full (full-rank SFT)."})
    lora_rank: int = field(default=TRAINING["lora_rank"], metadata={"help": "LoRA rank r."})
    lora_alpha: int = field(default=TRAINING["lora_alpha"], metadata={"help": "LoRA scaling alpha."})
    lora_dropout: float = field(default=TRAINING["lora_dropout"], metadata={"help": "Dropout on the LoRA path."})
    lora_target_modules: str = field(default=TRAINING["lora_target_modules"], metadata={"help": "all-linear, or comma-separated module names (q_proj,v_proj)."})
    learning_rate: float = field(default=TRAINING["learning_rate"], metadata={"help": "Peak learning rate."})
    lr_scheduler_type: str = field(default=TRAINING["lr_scheduler_type"], metadata={"help": "transformers scheduler name."})
    warmup_ratio: float = field(default=TRAINING["warmup_ratio"], metadata={"help": "Share of steps spent warming up."})
    weight_decay: float = field(default=TRAINING["weight_decay"], metadata={"help": "AdamW weight decay."})
    global_batch_size: int = field(default=TRAINING["global_batch_size"], metadata={"help": "Records per optimiser step, across all devices; the mix is exact per global batch."})
    per_device_batch_size: int = field(default=TRAINING["per_device_batch_size"], metadata={"help": "Records per micro-batch on one device; gradient accumulation makes up the rest."})
    num_epochs: float = field(default=TRAINING["num_epochs"], metadata={"help": "Passes over the customer data (curated pools cycle)."})
    max_steps: int = field(default=TRAINING["max_steps"], metadata={"help": "Stop after this many optimiser steps (e.g. 5 for a validation run); overrides num_epochs."})
    dataloader_workers: int = field(default=0, metadata={"help": "Processes preparing batches (render, tokenise, pack) ahead of the device; 0 = in the training process."})
    seed: int = field(default=TRAINING["seed"], metadata={"help": "Seeds the data order, the mix and initialisation."})
    precision: str = field(default=TRAINING["precision"], metadata={"help": "auto (bf16 where the device has it), bf16 or fp32."})
    gradient_checkpointing: bool = field(default=TRAINING["gradient_checkpointing"], metadata={"help": "Trade compute for activation memory."})
    sharding: str = field(default=TRAINING["sharding"], metadata={"help": "none (a replica per device), full (FSDP over every device) or auto (full where a replica does not fit)."})
    save_steps: int = field(default=200, metadata={"help": "Checkpoint every N steps (and at the end)."})
    logging_steps: int = field(default=10, metadata={"help": "Log loss, learning rate, mix and tokens/s every N steps."})


@dataclass
class TrackingArguments:
    mlflow_tracking_uri: str | None = field(default=None, metadata={"help": "SageMaker MLflow ARN or http(s) URI. Default: $MLFLOW_TRACKING_URI; none = no tracking."})
    project: str = field(default="openforge", metadata={"help": "MLflow tag: project."})
    experiment: str = field(default="fine-tune", metadata={"help": "MLflow experiment name (and tag)."})
    run_name: str | None = field(default=None, metadata={"help": "MLflow run name. Default: the SageMaker job name, or a generated one."})
    base_model: str | None = field(default=None, metadata={"help": "The base model's name for the model card, e.g. its S3 URI. Default: from its config.json."})
    dataset_version: str | None = field(default=None, metadata={"help": "MLflow tag. Default: a hash of every data file's bytes."})
    commit_hash: str | None = field(default=None, metadata={"help": "MLflow tag. Default: $OPENFORGE_COMMIT, baked into the image at build time."})


ARGUMENT_CLASSES = (PathArguments, MixArguments, TuningArguments, TrackingArguments)


@dataclass
class RunConfig:
    paths: PathArguments
    mix: MixArguments
    tuning: TuningArguments
    tracking: TrackingArguments

    def validate(self) -> None:
        t = self.tuning
        if t.method not in ("lora", "full"):
            raise InputError(f"method must be 'lora' or 'full', got {t.method!r}")
        if t.precision not in ("auto", "bf16", "fp32"):
            raise InputError(f"precision must be auto, bf16 or fp32, got {t.precision!r}")
        if t.sharding not in SHARDING:
            raise InputError(f"sharding must be one of {', '.join(SHARDING)}, got {t.sharding!r}")
        for name in ("global_batch_size", "per_device_batch_size", "save_steps", "logging_steps", "lora_rank"):
            if getattr(t, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(t, name)}")
        if self.mix.max_length < 16:
            raise InputError(f"max_length must be at least 16, got {self.mix.max_length}")
        if t.max_steps < 1 and t.num_epochs <= 0:
            raise InputError("set num_epochs > 0 or max_steps >= 1")
        if not 0 < t.learning_rate < 1:
            raise InputError(f"learning_rate must be in (0, 1), got {t.learning_rate}")

    def as_flat_dict(self) -> dict:
        return {f.name: getattr(part, f.name) for part in (self.mix, self.tuning) for f in fields(part)}


def parser(classes: tuple = ARGUMENT_CLASSES, prog: str = "python -m openforge_training.train") -> HfArgumentParser:
    return HfArgumentParser(classes, prog=prog)


def hyperparameters_file(argv: list[str]) -> Path:
    """The input dir can itself be a flag; read it before the real parse."""
    input_dir = SAGEMAKER_INPUT
    for index, arg in enumerate(argv):
        if arg == "--input_dir" and index + 1 < len(argv):
            input_dir = argv[index + 1]
        elif arg.startswith("--input_dir="):
            input_dir = arg.split("=", 1)[1]
    return Path(input_dir) / "config" / "hyperparameters.json"


def parse(argv: list[str] | None, classes: tuple, prog: str) -> list:
    """One instance of each class: the hyperparameters file first (SageMaker passes every
    value as a string), then flags, which win. Unknown keys are refused by name."""
    argv = list(argv or [])
    known = {f.name for cls in classes for f in fields(cls)}
    args: list[str] = []
    path = hyperparameters_file(argv)
    if path.is_file():
        try:
            hyperparameters = json.loads(path.read_text())
        except json.JSONDecodeError as error:
            raise InputError(f"{path} is not valid JSON: {error}") from None
        for key, value in hyperparameters.items():
            if key not in known:
                raise InputError(f"unknown hyperparameter '{key}' in {path} (known: run with --help)")
            args += [f"--{key}", value if isinstance(value, str) else json.dumps(value)]
    args += argv
    try:
        parts = parser(classes, prog).parse_args_into_dataclasses(args=args, return_remaining_strings=True)
    except SystemExit as exit_:
        raise InputError(f"bad hyperparameters or flags (see the message above): {' '.join(args)}") from exit_
    *values, remaining = parts
    if remaining:
        raise InputError(f"unknown argument(s): {' '.join(remaining)}")
    return values


def entrypoint(argv: list[str] | None, classes: tuple, prog: str, work) -> int:
    """What every container entrypoint shares: ``--help``; ``work(argv)``; an InputError
    becomes exit status 2 and SageMaker's failure file, before any compute is spent."""
    import logging
    import sys

    from .errors import write_failure

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    if "-h" in argv or "--help" in argv:
        parser(classes, prog).print_help()
        return 0
    try:
        work(argv)
    except InputError as error:
        logging.getLogger(prog.rsplit(" ", 1)[-1]).error("input error: %s", error)
        write_failure(str(hyperparameters_file(argv).parent.parent), f"InputError: {error}")
        return 2
    return 0


def fill_tracking_defaults(tracking: TrackingArguments) -> None:
    if tracking.mlflow_tracking_uri is None:
        tracking.mlflow_tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or None
    if tracking.commit_hash is None:
        tracking.commit_hash = os.environ.get(OPENFORGE_COMMIT, "unknown")


def load(argv: list[str] | None = None) -> RunConfig:
    config = RunConfig(*parse(argv, ARGUMENT_CLASSES, "python -m openforge_training.train"))
    fill_tracking_defaults(config.tracking)
    config.validate()
    return config
