"""Load the base model, score it, load the tuned one (merged weights, or the base plus a
LoRA adapter), score it the same way, then gate, write and log the results."""
from __future__ import annotations

import gc
import hashlib
import json
import logging
from pathlib import Path

from openforge_contract.environment_variables import TRAINING_JOB_NAME

from ..errors import InputError
from . import byod, harness
from .gate import verdict
from .metrics import LabelExtractor
from .report import SCHEMA, benchmark_entry, write

log = logging.getLogger(__name__)


def evaluate(config) -> dict:
    """``config``: evaluate.EvalConfig. Returns the results written to evaluation.json."""
    paths, bench = config.paths, config.bench
    base_dir, eval_dir = paths.channel("model"), paths.channel("eval")
    tuned_dir, adapter_dir = _tuned_source(paths)
    for name, folder in (("model", base_dir), ("eval", eval_dir)):
        if not folder.is_dir():
            raise InputError(f"the {name} channel is missing: expected {folder}")
    harness.check_files(eval_dir, config.benchmarks, config.shots)  # every missing file named before a model loads
    if {"mmlu", "ifeval"} & set(config.benchmarks):  # lm-eval's benchmarks: max_length is their context
        harness.check_context([folder for folder in (base_dir, tuned_dir) if folder is not None], bench.max_length)
    extract = LabelExtractor(bench.byod_label_pattern)
    held_out = byod.load(eval_dir, bench.limit) if "byod" in config.benchmarks else None
    harness.refuse_downloads()

    settings = {"benchmarks": config.benchmarks, "mmlu_shots": config.shots, "limit": bench.limit, "chat_template": bench.chat_template,
                "byod_metric": bench.byod_metric, "byod_label_pattern": bench.byod_label_pattern, "byod_rouge": bench.byod_rouge,
                "max_length": bench.max_length, "max_new_tokens": bench.max_new_tokens,
                "ifeval_generation": harness.ifeval_generation() if "ifeval" in config.benchmarks else None}
    fingerprint = model_fingerprint(base_dir)
    scores = {"base": reused_base_scores(Path(paths.base_results), settings, fingerprint)} if paths.base_results else {}
    for role in ("base", "tuned"):
        if role in scores:
            continue
        model, tokenizer = _load(base_dir, tuned_dir if role == "tuned" else None, adapter_dir if role == "tuned" else None)
        chat = _use_chat_template(tokenizer, bench.chat_template)
        log.info("scoring the %s model (%s)", role, "chat template" if chat else "plain prompts")
        scores[role] = _score(model, tokenizer, eval_dir, config, chat=chat, held_out=held_out, extract=extract)
        del model
        gc.collect()

    benchmarks = {name: benchmark_entry(name, _kind(name), scores["base"][name], scores["tuned"][name]) for name in scores["base"]}
    results = {
        "schema": SCHEMA,
        "base_model": str(base_dir),
        "base_fingerprint": fingerprint,
        "base_scores_reused_from": paths.base_results,
        "tuned_model": str(tuned_dir or adapter_dir),
        "tuned_is_adapter": tuned_dir is None,
        "settings": settings,
        "benchmarks": benchmarks,
        "gate": verdict(benchmarks, config.gate.limits()),
    }
    json_path, md_path = write(results, Path(paths.output_dir))
    _track(config.tracking, results, (json_path, md_path))
    return results


def model_fingerprint(model_dir: Path) -> str:
    """Which base model this is, cheaply: its config and the names and sizes of its files."""
    digest = hashlib.sha256((model_dir / "config.json").read_bytes() if (model_dir / "config.json").is_file() else b"")
    for path in sorted(model_dir.iterdir()):
        if path.is_file():
            digest.update(f"{path.name}:{path.stat().st_size}".encode())
    return digest.hexdigest()[:16]


def reused_base_scores(path: Path, settings: dict, fingerprint: str) -> dict:
    """The base model's scores from an earlier evaluation.json, if it scored this base
    model with these settings; otherwise the run stops and says what differs."""
    try:
        earlier = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise InputError(f"base_results {path} cannot be read as JSON: {error}") from None
    if earlier.get("schema") != SCHEMA:
        raise InputError(f"base_results {path} is not an evaluation.json ({SCHEMA})")
    if earlier.get("base_fingerprint") != fingerprint:
        raise InputError(f"base_results {path} scored another base model (fingerprint {earlier.get('base_fingerprint')}, this one {fingerprint})")
    differing = sorted(key for key in settings if earlier.get("settings", {}).get(key) != settings[key])
    if differing:
        raise InputError(f"base_results {path} was scored with other settings: {', '.join(differing)}")
    return {name: harness.Score(b["metric"], b["base"], b["count"], b["base_details"], b.get("base_items")) for name, b in earlier["benchmarks"].items()}


def _tuned_source(paths) -> tuple[Path | None, Path | None]:
    tuned, adapter = paths.channel("tuned"), paths.channel("adapter")
    has_tuned, has_adapter = (tuned / "config.json").is_file(), (adapter / "adapter_config.json").is_file()
    if has_tuned == has_adapter:
        raise InputError(
            f"give exactly one tuned model: a merged model in the tuned channel ({tuned}, with config.json) "
            f"or a LoRA adapter in the adapter channel ({adapter}, with adapter_config.json); found {'both' if has_tuned else 'neither'}"
        )
    return (tuned, None) if has_tuned else (None, adapter)


def _load(base_dir: Path, tuned_dir: Path | None, adapter_dir: Path | None):
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ..device import detect

    device = detect()
    dtype = torch.bfloat16 if device.bf16 else torch.float32
    source = tuned_dir or base_dir
    try:
        tokenizer = AutoTokenizer.from_pretrained(source)
        model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype)
        if adapter_dir is not None:
            from peft import PeftModel

            model = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()  # merged: as fast as the base
    except (OSError, ValueError) as error:
        raise InputError(f"cannot load the model from {adapter_dir or source}: {error}") from None
    if device.kind == "cuda":
        model = model.to("cuda")
    return model.eval(), tokenizer


def _use_chat_template(tokenizer, setting: str) -> bool:
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if setting == "on" and not has_template:
        raise InputError("chat_template=on but the tokenizer has no chat template")
    return has_template if setting == "auto" else setting == "on"


def _score(model, tokenizer, eval_dir: Path, config, *, chat: bool, held_out, extract) -> dict:
    bench, scores = config.bench, {}
    if "mmlu" in config.benchmarks or "ifeval" in config.benchmarks:
        lm = harness.language_model(model, tokenizer, batch_size=bench.batch_size, max_length=bench.max_length)
        if "mmlu" in config.benchmarks:
            for shots in config.shots:
                scores[f"mmlu_{shots}shot"] = harness.mmlu(lm, eval_dir, shots=shots, chat=chat, limit=bench.limit)
        if "ifeval" in config.benchmarks:
            scores["ifeval"] = harness.ifeval(lm, eval_dir, chat=chat, limit=bench.limit)
    if held_out is not None:
        answers = byod.generate(model, tokenizer, held_out.prompts, chat=chat, max_new_tokens=bench.max_new_tokens, batch_size=bench.batch_size)
        numbers = byod.score(answers, held_out.references, extract=extract, rouge=bench.byod_rouge)
        examples = [{"reference": r, "answer": a} for r, a in zip(held_out.references[:5], answers[:5])]
        items = byod.per_item(answers, held_out.references, extract=extract, metric=bench.byod_metric)
        scores["byod"] = harness.Score(bench.byod_metric, numbers[bench.byod_metric], len(answers), {**numbers, "examples": examples},
                                       None if items is None else harness.item_string(items))
    return scores


def _kind(name: str) -> str:
    return "domain" if name == "byod" else "general"


def _track(tracking, results: dict, files) -> None:
    """Metrics and the two files on the training run (or a new run), when tracking is on."""
    if not tracking.mlflow_tracking_uri:
        return
    import os

    import mlflow

    mlflow.set_tracking_uri(tracking.mlflow_tracking_uri)
    if tracking.mlflow_run_id:
        run = mlflow.start_run(run_id=tracking.mlflow_run_id)
    else:
        mlflow.set_experiment(tracking.experiment)
        run = mlflow.start_run(run_name=tracking.run_name or os.environ.get(TRAINING_JOB_NAME))
    with run:
        metrics = {"eval.gate_passed": float(results["gate"]["passed"])}
        for name, b in results["benchmarks"].items():
            metrics.update({f"eval.{name}.{key}": b[key] for key in ("base", "tuned", "delta", "retention") if b[key] is not None})
        mlflow.log_metrics(metrics)
        mlflow.set_tag("eval.gate", "passed" if results["gate"]["passed"] else "failed")
        for path in files:
            mlflow.log_artifact(str(path), artifact_path="evaluation")
