"""Training entrypoint: ``python -m openforge_training.train [--flag value ...]``.

Everything that can be wrong with the input is checked in ``prepare`` (channels, pools,
weights, every record rendered through the chat template) before a model is loaded, so a
bad run fails in seconds with a message naming the problem, never after GPU hours.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import sys
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights come from the model channel only
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from openforge_contract.capacity_plan import TrainingPlan
from openforge_contract.run_record import MODEL_CARD, RUN_RECORD
from sanitiser.formats import parse_line

from .chat import ChatRenderer, TemplateError, Tokenised
from .config import ARGUMENT_CLASSES, RunConfig, entrypoint, load
from .errors import InputError
from .launch import hosts, instance_type
from .mixing import CUSTOMER, MixedRecordStream, MixPlan, MixSpec
from .planning import TokenCounts, actual_figures, plan_run, replica_fits
from .sharding import effective_sharding, fsdp_arguments, resolve_sharding
from .sources import Pool, checked, curated_pools, customer_pool, jsonl_files

log = logging.getLogger("openforge.train")


@dataclass
class Prepared:
    config: RunConfig
    tokenizer: object
    renderer: ChatRenderer
    spec: MixSpec
    plan: MixPlan
    pools: dict[str, Pool]
    stream: MixedRecordStream
    warnings: list[str]  # also in the run record
    validation: list[Tokenised]
    world_size: int
    gradient_accumulation: int
    max_steps: int
    dataset_version: str
    fingerprint: str
    resume_from: Path | None
    start_batch: int
    resumed: dict | None  # the checkpoint's whole-run totals (MixMeter.totals), which this run adds to
    sharding: str  # none | full, as this run trains (sharding.resolve_sharding, effective_sharding)
    capacity: TrainingPlan | None  # the plan on the job's instances, with the tokens the run will train
    not_planned: str | None  # why there is no plan


def prepare(config: RunConfig) -> Prepared:
    from transformers import AutoTokenizer

    model_dir = config.paths.channel("model")
    if not (model_dir / "config.json").is_file():
        raise InputError(f"channel 'model' is missing or not a Hugging Face model folder: no config.json in {model_dir}")
    try:
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
    except (OSError, ValueError) as error:
        raise InputError(f"channel 'model' has no usable tokenizer ({model_dir}): {error}") from None
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token  # padding is never trained on, so any id will do
    try:
        renderer = ChatRenderer(tokenizer)
    except TemplateError as error:
        raise InputError(str(error)) from None

    def check(line: str) -> Tokenised:
        return renderer.tokenise(parse_line(line))

    t = config.tuning
    # The plan first: a run that cannot fit (started without ValidateInput) fails before its data is tokenised.
    input_dir = Path(config.paths.input_dir)
    try:
        model_config = json.loads((model_dir / "config.json").read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise InputError(f"channel 'model': {model_dir / 'config.json'} is not valid JSON ({error})") from None
    job_instance_type, instance_count = instance_type(input_dir), len(hosts(input_dir)[0])
    capacity, not_planned = plan_run(config, model_config, job_instance_type, instance_count)
    if capacity is not None and capacity.problems:
        raise InputError(f"this run cannot start on {instance_count} x {job_instance_type}: {capacity.refusal()}")
    spec = MixSpec.from_percentages(config.mix.customer_data_percent, config.mix.weights(), config.mix.normalise_curated_weights)
    counts = TokenCounts(config.mix.max_length)
    pools: dict[str, Pool] = {}
    if spec.customer > 0:
        pools[CUSTOMER] = customer_pool(config.paths.channel("customer"), counts.counting(CUSTOMER, check))
    if spec.needs_curated:
        categories = curated_pools(config.paths.channel("curated"), list(spec.categories) or None, lambda name: counts.counting(name, check))
        if not spec.categories:
            spec = spec.with_equal_categories(sorted(categories))
        pools.update(categories)
    plan = MixPlan(spec, t.global_batch_size)
    stream = MixedRecordStream(plan, pools, t.seed, config.mix.shuffle_block)
    warnings = stream.small_pools()
    for warning in warnings:
        log.warning(warning)

    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    sharding = effective_sharding(resolve_sharding(t.sharding, replica_fits(capacity)), world_size)
    if capacity is not None and capacity.devices != world_size:
        log.warning("the capacity plan counts %d processes on %d x %s, but this job has %d: its memory figures assume the former",
                    capacity.devices, instance_count, job_instance_type, world_size)
    per_step = t.per_device_batch_size * world_size
    if t.global_batch_size % per_step:
        raise InputError(
            f"global_batch_size ({t.global_batch_size}) must be a multiple of per_device_batch_size x devices "
            f"({t.per_device_batch_size} x {world_size} = {per_step})"
        )
    if t.max_steps > 0:
        max_steps = t.max_steps
    elif CUSTOMER in pools:
        max_steps = math.ceil(t.num_epochs * plan.batches_per_epoch(pools[CUSTOMER].records))
    else:
        raise InputError("customer_data_percent is 0, so epochs are undefined: set max_steps")
    if capacity is not None:
        capacity, _ = plan_run(config, model_config, job_instance_type, instance_count, counts.planned_tokens(spec.pool_shares(), max_steps * t.global_batch_size))
        for line in capacity.lines():
            log.info("capacity plan: %s", line)
    else:
        log.info("no capacity plan: %s", not_planned)

    validation = _validation_records(config, check)
    digest = hashlib.sha256("".join(p.digest for p in pools.values()).encode()).hexdigest()
    dataset_version = config.tracking.dataset_version or digest[:12]
    fingerprint = hashlib.sha256(
        json.dumps({"data": digest, "mix": spec.as_percentages(), "batch": t.global_batch_size, "seed": t.seed, "block": config.mix.shuffle_block}).encode()
    ).hexdigest()[:16]
    resume_from, start_batch, resumed = _resume_point(Path(config.paths.checkpoint_dir), fingerprint, sharding, world_size)
    if resume_from and resumed is None:
        warnings.append(f"checkpoint {resume_from} holds no measured totals: the realised mix and token counts cover only the resumed steps")
        log.warning(warnings[-1])
    return Prepared(
        config, tokenizer, renderer, spec, plan, pools, stream, warnings, validation, world_size,
        t.global_batch_size // per_step, max_steps, dataset_version, fingerprint, resume_from, start_batch, resumed, sharding, capacity, not_planned,
    )


def _validation_records(config: RunConfig, check) -> list[Tokenised]:
    channel = config.paths.channel("validation")
    if config.paths.validation_channel is None and not channel.is_dir():
        return []
    if not channel.is_dir():
        raise InputError(f"channel 'validation' is missing: expected a folder of JSONL files at {channel}")
    records = []
    for path in jsonl_files(channel):
        with open(path, "rb") as handle:
            records += [checked(path, number, raw, check) for number, raw in enumerate(handle, start=1) if raw.strip()]
    return records


def _resume_point(checkpoint_dir: Path, fingerprint: str, sharding: str, world_size: int) -> tuple[Path | None, int, dict | None]:
    from transformers.trainer_utils import get_last_checkpoint

    from .trainer import MIXING_STATE_FILE, read_mixing_state

    if not checkpoint_dir.is_dir():
        return None, 0, None
    last = get_last_checkpoint(str(checkpoint_dir))
    if last is None:
        return None, 0, None
    state = read_mixing_state(Path(last))
    if state is None:
        raise InputError(f"checkpoint {last} has no {MIXING_STATE_FILE}: it was not written by this container; clear checkpoint_dir to start afresh")
    if state["fingerprint"] != fingerprint:
        raise InputError(
            f"checkpoint {last} was written for different data, mix, batch size or seed (fingerprint {state['fingerprint']} != {fingerprint}); "
            "restore them or clear checkpoint_dir to start afresh"
        )
    # A sharded checkpoint holds each process's shard (read back, resharded, by FSDP only);
    # an unsharded one holds whole weights. Checkpoints from before sharding are unsharded.
    written_sharding, written_processes = state.get("sharding", "none"), state.get("processes", "an unknown number of")
    if written_sharding != sharding:
        raise InputError(
            f"checkpoint {last} was written by a run with sharding={written_sharding} on {written_processes} processes, but this job "
            f"trains with sharding={sharding} on {world_size} process(es) (sharding=full on one process trains unsharded): "
            f"resume with sharding={written_sharding}{' on at least 2 processes' if written_sharding == 'full' else ''}, or clear checkpoint_dir to start afresh"
        )
    if written_processes != world_size:
        log.info("checkpoint %s was written on %s processes, this job has %d: %s", last, written_processes, world_size,
                 "FSDP reshards it on load" if sharding == "full" else "each process loads the whole model")
    return Path(last), int(state["global_batches_done"]), state.get("measured")


def run(prepared: Prepared, extra_callbacks: tuple = ()) -> dict:
    """Train, export, and return the run record (also written next to the model).
    ``extra_callbacks`` are transformers TrainerCallbacks (progress displays, tests)."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, TrainingArguments

    from . import device as devices
    from .dataset import MixedPackedDataset, RecordsDataset, unwrap
    from .export import checkpoint_dtype, export_model, gathered_model
    from .tracking import compute_description, mlflow_run, run_tags
    from .trainer import MixingStateCallback, MixingTrainer

    config, t = prepared.config, prepared.config.tuning
    device = devices.detect()
    bf16 = devices.use_bf16(device, t.precision)
    torch.manual_seed(t.seed)
    model_dir = config.paths.channel("model")
    model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True, dtype=devices.weights_dtype(t.method, bf16))
    model.config.use_cache = False  # a KV cache in training would also disable packed-sequence masking
    if t.method == "lora":
        targets = "all-linear" if t.lora_target_modules == "all-linear" else [m.strip() for m in t.lora_target_modules.split(",") if m.strip()]
        lora = LoraConfig(r=t.lora_rank, lora_alpha=t.lora_alpha, lora_dropout=t.lora_dropout, target_modules=targets, task_type="CAUSAL_LM")
        try:
            model = get_peft_model(model, lora)
        except ValueError as error:  # peft: none of the named modules is in this model
            linear = sorted({name.rsplit(".", 1)[-1] for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)})
            raise InputError(f"lora_target_modules {t.lora_target_modules!r} names no module of this model ({error}); "
                             f"its linear modules are: {', '.join(linear)}, or use all-linear") from None

    fixed_rows = t.per_device_batch_size if device.static_shapes else None
    train_data = MixedPackedDataset(
        prepared.stream, prepared.renderer, max_length=config.mix.max_length, micro_batches_per_step=prepared.gradient_accumulation * prepared.world_size, processes=prepared.world_size,
        start_batch=prepared.start_batch, pack=config.mix.packing, fixed_rows=fixed_rows,
    )
    parallel = fsdp_arguments(model, t.gradient_checkpointing) if prepared.sharding == "full" else {"activation_checkpointing": t.gradient_checkpointing}
    eval_data = RecordsDataset(prepared.validation, prepared.renderer, max_length=config.mix.max_length, batch_records=t.per_device_batch_size, fixed_rows=fixed_rows) if prepared.validation else None
    arguments = TrainingArguments(
        output_dir=config.paths.checkpoint_dir,
        per_device_train_batch_size=1,  # one item = one packed micro-batch
        per_device_eval_batch_size=1,
        gradient_accumulation_steps=prepared.gradient_accumulation,
        max_steps=prepared.max_steps,
        learning_rate=t.learning_rate,
        lr_scheduler_type=t.lr_scheduler_type,
        warmup_steps=int(t.warmup_ratio * prepared.max_steps),
        weight_decay=t.weight_decay,
        logging_steps=t.logging_steps,
        save_steps=t.save_steps,
        save_total_limit=2,
        seed=t.seed,
        bf16=bf16,
        **parallel,
        report_to="none",  # MixingTrainer.log sends our own metrics to MLflow
        dataloader_num_workers=t.dataloader_workers,  # tokenise and pack while the device computes
        remove_unused_columns=False,
        ignore_data_skip=True,  # the dataset itself starts at the checkpoint's batch
        accelerator_config={"split_batches": False, "dispatch_batches": False},
        disable_tqdm=True,
        use_cpu=device.kind == "cpu",
    )
    trainer = MixingTrainer(
        model=model, args=arguments, train_dataset=train_data, eval_dataset=eval_data, data_collator=unwrap,
        processing_class=prepared.tokenizer, sources=train_data.sources, resumed=prepared.resumed, callbacks=list(extra_callbacks),
    )
    trainer.add_callback(MixingStateCallback(prepared.plan, t.seed, prepared.fingerprint, trainer.meter, prepared.sharding, prepared.world_size))
    compute = compute_description(config.paths.input_dir, device.kind)
    tags = run_tags(config, dataset_version=prepared.dataset_version, compute=compute)
    params = {**config.as_flat_dict(), "base_model": str(model_dir), "gradient_accumulation": prepared.gradient_accumulation, "max_steps_resolved": prepared.max_steps}
    with mlflow_run(config, tags, params) as mlflow_active:
        if prepared.resume_from:
            log.info("resuming from %s at global batch %d", prepared.resume_from, prepared.start_batch)
        result = trainer.train(resume_from_checkpoint=str(prepared.resume_from) if prepared.resume_from else None)
        metrics = dict(result.metrics)  # train_loss, train_runtime, ...
        if eval_data is not None:
            metrics.update(trainer.evaluate())
        measured = trainer.meter.summary()  # every process takes part in the sum; whole run, resumed or not
        totals = measured["totals"]
        actual = actual_figures(device.kind, result.metrics.get("train_runtime", 0.0), totals["tokens"], lambda value: _largest(trainer, value))
        record = {
            "run_name": config.tracking.run_name,
            "base_model": config.tracking.base_model or _base_model_name(model_dir),
            "dataset_version": prepared.dataset_version,
            "data_records": {name: pool.records for name, pool in prepared.pools.items()},
            "mix": {"target": prepared.spec.as_percentages(), "realised": measured["realised"]},
            "hyperparameters": params,
            "tags": tags,
            "steps": trainer.state.global_step,
            "final_loss": _last_loss(trainer.state.log_history),
            "metrics": metrics,
            "records_trained": totals["records"],
            "padding_fraction": measured["padding_fraction"],
            "tokens_trained": totals["tokens"],
            "tokens_per_second": measured["tokens_since_resume"] / max(result.metrics.get("train_runtime", 0.0), 1e-9),
            "truncated_records": totals["truncated"],  # cut at max_length
            "skipped_records": totals["skipped"],  # cut so that no trained token was left: not trained on
            "capacity": {"planned": prepared.capacity.to_dict() if prepared.capacity else None, "actual": actual,
                         **({"not_planned": prepared.not_planned} if prepared.not_planned else {})},
            "compute": compute,
            "warnings": prepared.warnings,
            "commit_hash": config.tracking.commit_hash,
            "mlflow_run_id": mlflow_active.info.run_id if mlflow_active else None,
        }
        trained = gathered_model(trainer)  # every process takes part; the main process gets the model
        if trainer.is_world_process_zero():
            output = export_model(trained, prepared.tokenizer, Path(config.paths.output_dir), method=t.method, record=record,
                                  dtype=checkpoint_dtype(model_dir))
            if mlflow_active:
                import mlflow

                mlflow.log_metrics({k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))})
                mlflow.log_metrics({f"mix/realised_overall/{k}": v for k, v in record["mix"]["realised"].items()})
                mlflow.log_metrics(trainer.meter.truncation(totals))
                mlflow.log_artifact(str(output / MODEL_CARD))
                mlflow.log_artifact(str(output / RUN_RECORD))
    return record


def _largest(trainer, value: int) -> int:
    """The largest of every process's ``value`` (each process calls this)."""
    import torch

    gathered = trainer.accelerator.gather(torch.tensor([value], dtype=torch.long, device=trainer.accelerator.device))
    return int(gathered.max())


def _base_model_name(model_dir: Path) -> str:
    config = json.loads((model_dir / "config.json").read_text())
    return config.get("_name_or_path") or config.get("name_or_path") or f"a {config.get('model_type', 'causal LM')} model from the model channel"


def _last_loss(history: list[dict]) -> float | None:
    losses = [entry["loss"] for entry in history if "loss" in entry]
    return losses[-1] if losses else None


def main(argv: list[str] | None = None) -> int:
    return entrypoint(argv, ARGUMENT_CLASSES, "python -m openforge_training.train", _train)


def _train(argv: list[str]) -> None:
    config = load(argv)
    prepared = prepare(config)
    log.info(
        "mix %s | pools %s | %d steps x %d records (accumulation %d, world %d)",
        {k: round(v, 2) for k, v in prepared.spec.as_percentages().items()},
        {k: p.records for k, p in prepared.pools.items()}, prepared.max_steps, config.tuning.global_batch_size,
        prepared.gradient_accumulation, prepared.world_size,
    )
    record = run(prepared)
    log.info("done: %d steps, final loss %s, exported to %s", record["steps"], record["final_loss"], config.paths.output_dir)
    if record["truncated_records"]:
        log.warning("%d records were cut at max_length=%d; %d of them lost every trained token and were skipped: raise max_length or shorten them",
                    record["truncated_records"], config.mix.max_length, record["skipped_records"])


if __name__ == "__main__":
    sys.exit(main())
