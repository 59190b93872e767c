"""Export portable weights: merged safetensors + tokenizer (load with plain transformers),
the LoRA adapter (load with peft), and a model card saying how they were made."""
from __future__ import annotations

import json
from pathlib import Path

from openforge_contract.run_record import MODEL_CARD, RUN_RECORD

from .planning import capacity_card

# Largest safetensors file written; a bigger model is split into several files with a
# model.safetensors.index.json, which from_pretrained follows (a 70B bf16 model: ~30 files).
MAX_SHARD_SIZE = "5GB"


def gathered_model(trainer):
    """The trained model as an ordinary module in CPU memory on the main process, None on
    the others. Under FSDP every process must call this: each parameter is gathered from
    its shards in turn and moved to the main process's CPU memory (accelerate's full state
    dict, ``cpu_offload``), so the whole model is never held by one accelerator. The main
    process loads it into a skeleton of the model built on the meta device (no memory); the
    buffers a checkpoint does not hold (rotary frequencies) stay unallocated: it is for export."""
    if not trainer.is_fsdp_enabled:
        return trainer.model if trainer.is_world_process_zero() else None
    import torch
    from transformers import AutoModelForCausalLM

    state = trainer.accelerator.get_state_dict(trainer.model)
    if not trainer.is_world_process_zero():
        return None
    trained = trainer.accelerator.unwrap_model(trainer.model)
    peft_config = getattr(trained, "peft_config", None)
    config = trained.get_base_model().config if peft_config else trained.config
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(config, dtype=next(iter(state.values())).dtype)
        if peft_config:
            from peft import get_peft_model

            model = get_peft_model(model, peft_config["default"])
    model.load_state_dict(state, strict=True, assign=True)
    model.tie_weights()
    return model


def checkpoint_dtype(model_dir: Path):
    """The dtype the base model's weights were published in (config.json's ``dtype``, or
    ``torch_dtype`` as older transformers wrote it); None when it does not say."""
    import torch

    config = json.loads((model_dir / "config.json").read_text())
    name = config.get("dtype") or config.get("torch_dtype")
    return getattr(torch, name, None) if isinstance(name, str) and name in ("bfloat16", "float16", "float32") else None


def export_model(model, tokenizer, output_dir: Path, *, method: str, record: dict, dtype=None) -> Path:
    """``dtype``: the weights are written in it (the base model's own: a full-rank run trains
    fp32 master weights, which would double the files of a bf16 model)."""
    output_dir.mkdir(parents=True, exist_ok=True)
    if method == "lora":
        model.save_pretrained(output_dir / "adapter", safe_serialization=True)
        model = model.merge_and_unload()
    if dtype is not None:
        model = model.to(dtype)
    model.config.use_cache = True  # training switched it off; inference wants it
    model.save_pretrained(output_dir, safe_serialization=True, max_shard_size=MAX_SHARD_SIZE)
    tokenizer.save_pretrained(output_dir)
    (output_dir / RUN_RECORD).write_text(json.dumps(record, indent=2, sort_keys=True, default=str))
    (output_dir / MODEL_CARD).write_text(model_card(record, method))
    return output_dir


def model_card(record: dict, method: str) -> str:
    mix = record["mix"]
    lines = [
        f"# {record.get('run_name') or 'OpenForge fine-tune'}",
        "",
        f"Fine-tuned by OpenForge from **{record['base_model']}** with **{'LoRA' if method == 'lora' else 'full-rank SFT'}**.",
        "",
        "## Files",
        "- `model.safetensors`, `config.json`, tokenizer files: the full weights; load with "
        "`AutoModelForCausalLM.from_pretrained(<this folder>)`.",
    ]
    if method == "lora":
        lines.append("- `adapter/`: the LoRA adapter alone; load with `PeftModel.from_pretrained(base, <this folder>/adapter)`.")
    lines += [
        f"- `{RUN_RECORD}`: everything below, machine-readable.",
        "",
        "## Data",
        f"- dataset version: `{record['dataset_version']}`",
        *[f"- {name}: {count} records" for name, count in record["data_records"].items()],
        "",
        "## Mix (per global batch)",
        "| source | target % | realised % |",
        "|---|---|---|",
        *[f"| {name} | {target:.2f} | {mix['realised'].get(name, float('nan')):.2f} |" for name, target in mix["target"].items()],
        "",
        *(["## Warnings", *[f"- {warning}" for warning in record["warnings"]], ""] if record.get("warnings") else []),
        "## Hyperparameters",
        *[f"- {key}: {value}" for key, value in sorted(record["hyperparameters"].items())],
        "",
        "## Training",
        f"- steps: {record['steps']}, final loss: {record.get('final_loss')}, compute: {record['compute']}, commit: {record['commit_hash']}",
        f"- records cut at max_length: {record.get('truncated_records', 0)}, of which skipped (no trained token left): {record.get('skipped_records', 0)}",
        "",
        *(capacity_card(record["capacity"]) if record.get("capacity") else []),
    ]
    return "\n".join(lines)
