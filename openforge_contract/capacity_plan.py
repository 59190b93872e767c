"""A training run's capacity and cost plan, before anything is paid for: the parameter
counts, the sharding (``auto`` resolved), memory per device against the device's, whether
it fits, and when not, the fixes that would, in the order to try them, each with the memory
it would give; then tokens, hours and on-demand dollars.

Trainium (ml.trn1*, ml.trn2*), what the Neuron path supports: the training container starts
one process per logical NeuronCore (``InstanceType.training_processes``: 32 on a
trn1.32xlarge, two cores sharing a chip's 32 GiB; 64 on a trn2.48xlarge), each holding a whole replica: data
parallelism only, no FSDP, no tensor or pipeline parallelism. So the plan refuses
sharding=full there, and any run whose replica does not fit one process's share of the
chips' memory, naming the fix (LoRA, a shorter micro-batch, a GPU type, a smaller model).
This path has not run on Trainium hardware; its memory figures are the CUDA model's.
"""
from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace

from .capacity import LoraTargets, ModelShape, lora_parameter_count, memory_per_device, parameter_count, resolve_lora_targets, training_flops_per_token
from .hyperparameters import SHARDING, TRAINING
from .instance_catalogue import CATALOGUE, DEFAULT_GPU_TRAINING_TYPE, HYPERPOD_WORKER, NEURON, NVIDIA, TRAINING_JOB, lookup

GIB = 2**30
# Share of a device's memory the plan leaves to the CUDA context, NCCL buffers and the
# allocator's fragmentation (PyTorch's caching allocator typically reserves 5-10 % over its peak).
MEMORY_HEADROOM = 0.10
# Model FLOPs utilisation assumed for the duration estimate: issue 17's figure for an H100,
# taken for every accelerator as no other has a documented one here. An assumption, not a measurement.
ASSUMED_MFU = 0.45
MAX_INSTANCES = 16  # the most instances a "more instances" fix proposes where the environment sets no lower limit
PRECISION_BYTES = {"bf16": 2, "fp32": 4}


@dataclass(frozen=True)
class Settings:
    """What the plan is asked about: the training settings that decide memory and time, named
    as plan_training's arguments (a fix is a dict of changes to them)."""
    method: str
    lora_rank: int
    lora_targets: LoraTargets
    lora_dropout: bool
    max_length: int
    per_device_batch_size: int
    global_batch_size: int
    gradient_checkpointing: bool
    sharding: str  # auto | none | full as asked; none | full once resolved
    precision: str  # bf16 | fp32 (auto resolved)
    instance_type: str
    instance_count: int


@dataclass(frozen=True)
class TrainingPlan:
    model_parameters: int
    trained_parameters: int
    settings: dict
    sharding_requested: str
    devices: int  # training processes over all instances
    memory: dict  # bytes per device, by part, and total
    device_memory_bytes: int
    usable_memory_bytes: int
    fits: bool
    problems: list[str] = field(default_factory=list)
    fixes: list[dict] = field(default_factory=list)  # each proposed fix: changes to plan_training's arguments that let the run start
    tokens: int | None = None
    flops_per_token: float = 0.0
    hours: float | None = None
    cost_usd: float | None = None
    assumptions: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        return json.loads(json.dumps(asdict(self)))  # JSON types only, for a Step Functions state

    def lines(self) -> list[str]:
        s, m = self.settings, self.memory
        parts = ", ".join(f"{name} {m[name] / GIB:.1f}" for name in m if name != "total" and m[name])
        lines = [
            (f"{s['method']} on a {self.model_parameters / 1e9:.2f}B-parameter model ({self.trained_parameters:,} trained), "
            f"{s['instance_count']} x {s['instance_type']} ({self.devices} processes), sharding {s['sharding']} (asked: {self.sharding_requested})"),
            (f"memory per device: {m['total'] / GIB:.1f} GiB of {self.usable_memory_bytes / GIB:.1f} GiB usable "
            f"({self.device_memory_bytes / GIB:.0f} GiB less {MEMORY_HEADROOM:.0%} headroom): {'fits' if self.fits else 'does not fit'} [{parts} GiB]"),
        ]
        if self.tokens is not None:
            hours = f"{self.hours:.2f} h at {ASSUMED_MFU:.0%} MFU" if self.hours is not None else "no duration (no published peak FLOPS)"
            cost = f"${self.cost_usd:,.2f} on demand" if self.cost_usd is not None else "no verified price"
            lines.append(f"{self.tokens:,} tokens x {self.flops_per_token:.3g} FLOPs: {hours}; {cost}")
        return lines + [f"problem: {problem}" for problem in self.problems]

    def __str__(self) -> str:
        return "\n".join(self.lines())

    def refusal(self) -> str:
        """The problems as one message (empty when the run can start)."""
        return "; ".join(self.problems)


def tokens_for(records: int, mean_tokens_per_record: float, epochs: float = 1.0) -> int:
    """The tokens a run trains on, from the sanitised data's counts."""
    return round(records * mean_tokens_per_record * epochs)


BYTES_PER_TOKEN = 4.0  # assumed: about 4 characters (bytes) of English text per token for BPE vocabularies of 32k-150k


def tokens_from_bytes(text_bytes: int) -> int:
    """An estimate of the tokens in ``text_bytes`` of English text, where no tokenizer has counted them."""
    return round(text_bytes / BYTES_PER_TOKEN)


def _devices(settings: Settings) -> int:
    return lookup(settings.instance_type).training_processes * settings.instance_count


def _device_memory(instance_type: str) -> int:
    """Bytes one training process may use: a GPU's, or a NeuronCore's share of its chip's."""
    return int(lookup(instance_type).memory_per_training_process_gib * GIB)


def _neuron(instance_type: str) -> bool:
    return lookup(instance_type).accelerator == NEURON


def _need(shape: ModelShape, settings: Settings) -> int:
    """Bytes per device of these (resolved) settings."""
    return memory_per_device(shape, method=settings.method, dtype_bytes=PRECISION_BYTES[settings.precision], rows=settings.per_device_batch_size,
                             max_length=settings.max_length, gradient_checkpointing=settings.gradient_checkpointing, lora_rank=settings.lora_rank,
                             lora_targets=settings.lora_targets, lora_dropout=settings.lora_dropout,
                             sharded_over=_devices(settings) if settings.sharding == "full" else 1,
                             device="neuron" if _neuron(settings.instance_type) else "cuda").total


def _usable(instance_type: str) -> int:
    return int(_device_memory(instance_type) * (1 - MEMORY_HEADROOM))


def _resolve(shape: ModelShape, asked: Settings) -> Settings:
    """The sharding the run trains with: sharding full is refused on Neuron and planned as
    none; ``auto`` is a replica per device where it fits one device, else FSDP full shard
    (never on Neuron)."""
    if _neuron(asked.instance_type):
        return replace(asked, sharding="none")
    if asked.sharding != "auto":
        return asked
    whole = replace(asked, sharding="none")
    return whole if _need(shape, whole) <= _usable(asked.instance_type) or _devices(asked) == 1 else replace(asked, sharding="full")


def _batch_divides(settings: Settings) -> bool:
    return settings.global_batch_size % (settings.per_device_batch_size * _devices(settings)) == 0


def _starts(shape: ModelShape, asked: Settings) -> bool:
    """Whether ``plan_training`` finds no problem with these settings (the checks it makes, once)."""
    if _neuron(asked.instance_type) and asked.sharding == "full":
        return False
    resolved = _resolve(shape, asked)
    return _need(shape, resolved) <= _usable(resolved.instance_type) and _batch_divides(resolved)


def _complete(shape: ModelShape, asked: Settings, changes: dict) -> dict | None:
    """``changes`` with the global_batch_size they need where per-device batch x devices no
    longer divides it (never for a change of per_device_batch_size itself: only those that
    divide are proposed); None where the run still could not start."""
    candidate = replace(asked, **changes)
    if not _batch_divides(candidate) and "per_device_batch_size" not in changes and "global_batch_size" not in changes:
        step = candidate.per_device_batch_size * _devices(candidate)
        changes = {**changes, "global_batch_size": -(-candidate.global_batch_size // step) * step}
        candidate = replace(candidate, global_batch_size=changes["global_batch_size"])
    return changes if _starts(shape, candidate) else None


def _first(shape: ModelShape, asked: Settings, candidates) -> dict | None:
    """The first of ``candidates`` that, completed, lets the run start."""
    return next((fix for changes in candidates if (fix := _complete(shape, asked, changes))), None)


def _describe(changes: dict) -> str:
    words = {"instance_type": "instance type {}", "method": "method {}", "sharding": "sharding {}", "instance_count": "{} instances",
             "gradient_checkpointing": "gradient_checkpointing true", "per_device_batch_size": "per_device_batch_size {}", "max_length": "max_length {}",
             "global_batch_size": "global_batch_size {}"}
    return " with ".join(words[name].format(changes[name]) for name in words if name in changes)


def _memory_changes(asked: Settings, max_instance_count: int) -> list[list[dict]]:
    """The changes that may make a run fit, by kind, each kind's in the order to try them
    (the smallest change first)."""
    kinds = [[{"method": "lora"}]] if asked.method == "full" else []
    if not _neuron(asked.instance_type):  # Neuron trains data parallel only: more devices do not shrink a replica
        if asked.sharding == "none" and asked.instance_count * lookup(asked.instance_type).training_processes > 1:
            kinds.append([{"sharding": "full"}])
        shard = {"sharding": "full"} if asked.sharding == "none" else {}
        kinds.append([{**shard, "instance_count": count} for count in range(asked.instance_count + 1, max_instance_count + 1)])
    if not asked.gradient_checkpointing:
        kinds.append([{"gradient_checkpointing": True}])
    kinds.append([{"per_device_batch_size": rows} for rows in range(asked.per_device_batch_size - 1, 0, -1)])
    lengths, length = [], asked.max_length // 2
    while length >= 256:
        lengths.append({"max_length": length})
        length //= 2
    return [kind for kind in kinds + [lengths] if kind]


def _memory_fixes(shape: ModelShape, asked: Settings, max_instance_count: int, gpu_types: tuple[str, ...]) -> list[dict]:
    """Complete fixes (``_complete``) for a run that does not fit: the first of each kind of
    change that lets it start; when no single change does, the first pair; when no pair, one
    combination (each kind's first sufficient change, else its largest, in order); on Neuron,
    or where nothing else fits, a GPU type (with the changes it needs)."""
    def search(base: Settings, prefix: dict) -> list[dict]:
        kinds = _memory_changes(base, max_instance_count)
        found = [fix for kind in ([[{}]] if prefix else []) + kinds if (fix := _first(shape, asked, ({**prefix, **changes} for changes in kind)))]
        if found:
            return found
        for index, first_kind in enumerate(kinds):
            for second_kind in kinds[index + 1:]:
                pair = _first(shape, asked, ({**prefix, **first, **second} for first in first_kind for second in second_kind
                                             if not set(first) & set(second)))
                if pair:
                    found.append(pair)
        if found:
            return found
        combined = dict(prefix)
        for kind in kinds:
            if any(combined.get(name, value) != value for name, value in kind[0].items()):  # contradicts a change already made
                continue
            fix = _first(shape, asked, ({**combined, **changes} for changes in kind))
            if fix:
                return [fix]
            combined.update(kind[-1])
        return []

    neuron_prefix = {"sharding": "none"} if _neuron(asked.instance_type) and asked.sharding == "full" else {}
    found = search(replace(asked, **neuron_prefix), neuron_prefix)
    if _neuron(asked.instance_type) or not found:
        for gpu_type in gpu_types:  # the first GPU type the environment allows on which the run can start
            gpu = {"instance_type": gpu_type}
            if gpu_found := search(replace(asked, **gpu), gpu)[:1]:
                found += gpu_found
                break
    return found


def _gpu_types(allowed: tuple[str, ...] | None) -> tuple[str, ...]:
    """The GPU types a fix may propose: the platform's default where the environment's limits
    are not known; else the GPU training types among those it allows, the default first."""
    if allowed is None:
        return (DEFAULT_GPU_TRAINING_TYPE,)
    gpus = [name for name in allowed if name in CATALOGUE and CATALOGUE[name].accelerator == NVIDIA
            and CATALOGUE[name].uses & {TRAINING_JOB, HYPERPOD_WORKER}]
    return tuple(sorted(gpus, key=lambda name: name != DEFAULT_GPU_TRAINING_TYPE))


def _batch_fixes(shape: ModelShape, asked: Settings) -> list[dict]:
    """Complete fixes for a global batch that per-device batch x devices does not divide: the
    next multiple, or the largest smaller per-device batch that divides it."""
    global_batch = _complete(shape, asked, {})
    smaller = _first(shape, asked, ({"per_device_batch_size": rows} for rows in range(asked.per_device_batch_size - 1, 0, -1)))
    return [fix for fix in (global_batch, smaller) if fix]


def _shown(fix: dict, shape: ModelShape, asked: Settings) -> str:
    settings = _resolve(shape, replace(asked, **fix))
    over = f" per device over {_devices(settings)} devices" if settings.sharding == "full" else ""
    return f"{_describe(fix)} (needs {_need(shape, settings) / GIB:.0f} GiB{over})"


def plan_training(config_json: dict, *, method: str = "lora", lora_rank: int = TRAINING["lora_rank"],
                  lora_target_modules=TRAINING["lora_target_modules"], lora_dropout: float = TRAINING["lora_dropout"],
                  max_length: int = TRAINING["max_length"], per_device_batch_size: int = TRAINING["per_device_batch_size"],
                  global_batch_size: int = TRAINING["global_batch_size"], gradient_checkpointing: bool = TRAINING["gradient_checkpointing"],
                  sharding: str = TRAINING["sharding"], precision: str = TRAINING["precision"], instance_type: str, instance_count: int = 1,
                  max_instance_count: int | None = None, training_instance_types: tuple[str, ...] | None = None,
                  tokens: int | None = None) -> TrainingPlan:
    """The plan for one training job. ``problems`` empty: the run can start; otherwise each
    sentence names what is wrong and the fixes that would work, first to try first; every fix
    (``fixes``), applied, gives a plan with no problems. ``max_instance_count``: the
    environment's limit, which no fix exceeds; ``training_instance_types``: the types it allows,
    of which a fix proposes only GPU types (the platform's default first). Raises InvalidModelConfig or UnsupportedModel
    for a config.json it cannot size, UnknownLoraTargets for targets naming no module LoRA adapts."""
    if sharding not in SHARDING:
        raise ValueError(f"sharding {sharding!r}: expected one of {', '.join(SHARDING)}")
    if precision not in ("auto", *PRECISION_BYTES):
        raise ValueError(f"precision {precision!r}: expected auto, bf16 or fp32")
    instance = lookup(instance_type)
    if instance.accelerator_count == 0:
        raise ValueError(f"instance type {instance_type} has no accelerator; train on a GPU or Trainium type such as {DEFAULT_GPU_TRAINING_TYPE}")
    shape, neuron = ModelShape.from_config(config_json), instance.accelerator == NEURON
    targets = LoraTargets.all_linear(shape) if method == "full" else resolve_lora_targets(shape, lora_target_modules)
    asked = Settings(method, lora_rank, targets, lora_dropout > 0, max_length, per_device_batch_size, global_batch_size, gradient_checkpointing,
                     sharding, "bf16" if precision == "auto" else precision, instance_type, instance_count)  # every type here has bf16
    most_instances = min(MAX_INSTANCES, max_instance_count or MAX_INSTANCES)
    settings = _resolve(shape, asked)
    need, devices, usable = _need(shape, settings), _devices(settings), _usable(instance_type)
    problems, fixes = [], []

    def use(proposed: list[dict], memory: bool = True) -> str:
        fixes.extend(fix for fix in proposed if fix not in fixes)
        return f"use {', or '.join(_shown(fix, shape, asked) if memory else _describe(fix) for fix in proposed)}"

    if neuron and sharding == "full":
        whole = _complete(shape, asked, {"sharding": "none"})
        problems.append(f"sharding full is not supported on {instance_type}: the Neuron path trains data parallel only (a whole replica in each "
                        f"NeuronCore's process), with no FSDP or tensor parallelism; "
                        + (use([whole]) if whole else "planned below with sharding none"))
    fits = need <= usable
    if not fits:
        what = "full-rank SFT" if method == "full" else f"LoRA r{lora_rank}"
        where = f"per device over {devices} devices" if settings.sharding == "full" else "per NeuronCore process" if neuron else "per device"
        found = _memory_fixes(shape, asked, most_instances, _gpu_types(training_instance_types))
        advice = use(found) if found else "no setting this plan knows fits, alone or combined: use a smaller model"
        problems.append(f"{what} of this {parameter_count(shape) / 1e9:.1f}B-parameter model needs {need / GIB:.0f} GiB {where} on "
                        f"{instance_type} ({usable / GIB:.0f} of {_device_memory(instance_type) / GIB:.0f} GiB usable): {advice}")
    if not _batch_divides(settings):
        per_step = per_device_batch_size * devices
        found = _batch_fixes(shape, asked)
        advice = use(found, memory=False) if found else "each fix above names a global_batch_size that is"
        problems.append(f"global_batch_size {global_batch_size} is not a multiple of per_device_batch_size x devices ({per_device_batch_size} x "
                        f"{devices} = {per_step}): {advice}")
    flops = training_flops_per_token(shape, method=method, lora_rank=lora_rank, lora_targets=targets, gradient_checkpointing=gradient_checkpointing)
    hours = cost = None
    if tokens is not None and instance.peak_bf16_tflops is not None:
        accelerators = instance.accelerator_count * instance_count
        hours = tokens * flops / (accelerators * instance.peak_bf16_tflops * 1e12 * ASSUMED_MFU) / 3600
        if instance.training_price_per_hour_usd is not None:
            cost = hours * instance_count * instance.training_price_per_hour_usd
    estimate = memory_per_device(shape, method=method, dtype_bytes=PRECISION_BYTES[settings.precision], rows=per_device_batch_size,
                                 max_length=max_length, gradient_checkpointing=gradient_checkpointing, lora_rank=lora_rank, lora_targets=targets,
                                 lora_dropout=settings.lora_dropout, sharded_over=devices if settings.sharding == "full" else 1,
                                 device="neuron" if neuron else "cuda")
    return TrainingPlan(
        model_parameters=parameter_count(shape), trained_parameters=parameter_count(shape) if method == "full" else lora_parameter_count(shape, lora_rank, targets),
        settings={**asdict(settings), "lora_targets": targets.names() if method == "lora" else []}, sharding_requested=sharding,
        devices=devices, memory=estimate.as_dict(), device_memory_bytes=_device_memory(instance_type), usable_memory_bytes=usable, fits=fits,
        problems=problems, fixes=fixes, tokens=tokens, flops_per_token=flops, hours=hours, cost_usd=cost,
        assumptions={"mfu": ASSUMED_MFU, "memory_headroom": MEMORY_HEADROOM,
                     "price": "on-demand SageMaker training, us-east-1" if instance.training_price_per_hour_usd is not None else "no verified price",
                     **({"neuron": "data parallel only; not yet run on Trainium hardware"} if neuron else {})},
    )


# The training settings the plan reads, named as the training container's hyperparameters
# (openforge_contract.hyperparameters.TRAINING; max_length is the container's MixArguments').
PLANNED_HYPERPARAMETERS = ("lora_rank", "lora_target_modules", "lora_dropout", "max_length", "per_device_batch_size", "global_batch_size",
                           "gradient_checkpointing", "sharding", "precision")


def plan_for_hyperparameters(config_json: dict, hyperparameters: Mapping, *, method: str, instance_type: str, instance_count: int,
                             **options) -> TrainingPlan:
    """``plan_training`` for a run's hyperparameters as the pipeline input and the container
    name them (ValidateInput and the container plan alike); ``options``: max_instance_count,
    training_instance_types, tokens."""
    return plan_training(config_json, method=method, instance_type=instance_type, instance_count=instance_count,
                         **{name: hyperparameters[name] for name in PLANNED_HYPERPARAMETERS}, **options)
