"""Evaluation entrypoint: score the base and the tuned model on the same benchmarks, write
``evaluation.json`` + ``evaluation.md`` (with the forgetting gate's verdict) and log them
to MLflow. Same image and SageMaker contract as training:

    channels   model (base, HF format), tuned (merged model) or adapter (LoRA on the base),
               eval (benchmark files; layout in evaluation/layout.py)
    output     /opt/ml/model (uploaded next to the model by the pipeline)

    python -m openforge_training.evaluate --input_dir work/input --output_dir work/eval
"""
from __future__ import annotations

import logging
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

from openforge_contract.hyperparameters import GATE, GATE_HELP

from .config import SAGEMAKER_INPUT, entrypoint, parse
from .errors import InputError

log = logging.getLogger("openforge_training.evaluate")
BENCHMARKS = ("mmlu", "ifeval", "byod")


@dataclass
class EvalPathArguments:
    input_dir: str = field(default=SAGEMAKER_INPUT, metadata={"help": "SageMaker input folder: config/hyperparameters.json and data/<channel>."})
    model_channel: str | None = field(default=None, metadata={"help": "Base model and tokenizer (HF format). Default: <input_dir>/data/model."})
    tuned_channel: str | None = field(default=None, metadata={"help": "Tuned model with merged weights (a training run's output). Default: <input_dir>/data/tuned if present."})
    adapter_channel: str | None = field(default=None, metadata={"help": "A LoRA adapter to apply to the base instead of a tuned model. Default: <input_dir>/data/adapter if present."})
    eval_channel: str | None = field(default=None, metadata={"help": "Benchmark files (mmlu/, ifeval/, byod/). Default: <input_dir>/data/eval."})
    output_dir: str = field(default="/opt/ml/model", metadata={"help": "Where evaluation.json and evaluation.md go."})
    base_results: str | None = field(
        default=None,
        metadata={"help": "evaluation.json of an earlier run on the same base model and settings: reuse its base scores instead of scoring the base again (a mixing grid scores the base once)."},
    )

    def channel(self, name: str) -> Path:
        explicit = getattr(self, f"{name}_channel")
        return Path(explicit) if explicit else Path(self.input_dir) / "data" / name


@dataclass
class BenchmarkArguments:
    benchmarks: str = field(default="mmlu,ifeval,byod", metadata={"help": "Comma-separated: mmlu, ifeval, byod."})
    mmlu_shots: str = field(
        default="0,5",
        metadata={"help": "Comma-separated few-shot counts; each is its own general benchmark (mmlu_0shot, mmlu_5shot). "
                          "The examples are the first n rows of each subject's dev file, as lm-evaluation-harness takes them."},
    )
    limit: int = field(default=0, metadata={"help": "Score at most this many items per benchmark (0 = all); for smoke runs."})
    batch_size: int = field(default=8, metadata={"help": "Sequences per forward pass."})
    max_length: int = field(
        default=2048,
        metadata={"help": "Context in tokens for MMLU and IFEval (prompt and generated answer together); at most the model's "
                          "max_position_embeddings. With ifeval, more than IFEval's max_gen_toks: lm-eval keeps the rest for the prompt."},
    )
    max_new_tokens: int = field(
        default=256, metadata={"help": "Longest generated answer on the held-out (byod) set. IFEval uses lm-evaluation-harness's own generation settings."}
    )
    chat_template: str = field(default="auto", metadata={"help": "auto (use the tokenizer's chat template if it has one), on, or off (plain completion prompts)."})
    byod_label_pattern: str = field(default="", metadata={"help": "Regex whose first group is the label in an answer; default: the answer's first line."})
    byod_metric: str = field(default="accuracy", metadata={"help": "The held-out metric the gate reads: accuracy, exact_match, macro_f1 or rougeL."})
    byod_rouge: bool = field(default=False, metadata={"help": "Also score ROUGE-L (free-text answers)."})


@dataclass
class GateArguments:
    min_general_retention: float = field(default=GATE["min_general_retention"], metadata={"help": GATE_HELP["min_general_retention"]})
    min_domain_gain: float = field(default=GATE["min_domain_gain"], metadata={"help": GATE_HELP["min_domain_gain"]})
    waive_general_check: bool = field(default=GATE["waive_general_check"], metadata={"help": GATE_HELP["waive_general_check"]})

    def limits(self):
        from .evaluation.gate import Limits

        try:
            return Limits(self.min_general_retention, self.min_domain_gain, self.waive_general_check)
        except ValueError as error:
            raise InputError(str(error)) from None


@dataclass
class EvalTrackingArguments:
    mlflow_tracking_uri: str | None = field(default=None, metadata={"help": "SageMaker MLflow ARN or http(s) URI. Default: $MLFLOW_TRACKING_URI; none = no tracking."})
    mlflow_run_id: str | None = field(default=None, metadata={"help": "Log into this run (the training run) instead of a new one."})
    experiment: str = field(default="fine-tune", metadata={"help": "MLflow experiment for a new run."})
    run_name: str | None = field(default=None, metadata={"help": "Name of a new run. Default: the SageMaker job name."})


ARGUMENT_CLASSES = (EvalPathArguments, BenchmarkArguments, GateArguments, EvalTrackingArguments)
PROG = "python -m openforge_training.evaluate"


@dataclass
class EvalConfig:
    paths: EvalPathArguments
    bench: BenchmarkArguments
    gate: GateArguments
    tracking: EvalTrackingArguments

    @property
    def benchmarks(self) -> list[str]:
        return [name.strip() for name in self.bench.benchmarks.split(",") if name.strip()]

    @property
    def shots(self) -> list[int]:
        try:
            return [int(value) for value in self.bench.mmlu_shots.split(",") if value.strip()]
        except ValueError:
            raise InputError(f"mmlu_shots must be comma-separated integers, got {self.bench.mmlu_shots!r}") from None

    def validate(self) -> None:
        unknown = set(self.benchmarks) - set(BENCHMARKS)
        if unknown or not self.benchmarks:
            raise InputError(f"benchmarks must be a comma-separated subset of {', '.join(BENCHMARKS)}, got {self.bench.benchmarks!r}")
        if "mmlu" in self.benchmarks and (not self.shots or min(self.shots) < 0):
            raise InputError(f"mmlu_shots must be non-negative integers, got {self.bench.mmlu_shots!r}")
        if self.bench.chat_template not in ("auto", "on", "off"):
            raise InputError(f"chat_template must be auto, on or off, got {self.bench.chat_template!r}")
        from .evaluation.metrics import BYOD_METRICS

        if self.bench.byod_metric not in BYOD_METRICS:
            raise InputError(f"byod_metric must be one of {', '.join(BYOD_METRICS)}, got {self.bench.byod_metric!r}")
        if self.bench.byod_metric == "rougeL" and not self.bench.byod_rouge:
            raise InputError("byod_metric=rougeL needs byod_rouge=true")
        for name in ("batch_size", "max_length", "max_new_tokens"):
            if getattr(self.bench, name) < 1:
                raise InputError(f"{name} must be at least 1, got {getattr(self.bench, name)}")
        if "ifeval" in self.benchmarks:
            from .evaluation.harness import ifeval_generation

            room = ifeval_generation()["max_gen_toks"]
            if self.bench.max_length <= room:
                raise InputError(f"max_length must be more than {room} with ifeval, got {self.bench.max_length}: IFEval generates up to "
                                 f"{room} tokens (lm-evaluation-harness's max_gen_toks) and lm-eval cuts the prompt to max_length - {room}")
        self.gate.limits()


def load(argv: list[str] | None = None) -> EvalConfig:
    config = EvalConfig(*parse(argv, ARGUMENT_CLASSES, PROG))
    if config.tracking.mlflow_tracking_uri is None:
        config.tracking.mlflow_tracking_uri = os.environ.get("MLFLOW_TRACKING_URI") or None
    config.validate()
    return config


def main(argv: list[str] | None = None) -> int:
    # The VPC has no internet: libraries must find everything locally.
    for variable in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        os.environ.setdefault(variable, "1")
    return entrypoint(argv, ARGUMENT_CLASSES, PROG, _evaluate)


def _evaluate(argv: list[str]) -> None:
    from .evaluation.run import evaluate  # heavy imports (torch, lm-eval) only past --help

    results = evaluate(load(argv))
    gate = results["gate"]
    log.info("gate %s: %s", "passed" if gate["passed"] else "FAILED", gate["cause"])


if __name__ == "__main__":
    sys.exit(main())
