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
from dataclasses import asdict, dataclass, field, replace

from .capacity import PROJECTIONS, ModelShape, lora_parameter_count, memory_per_device, parameter_count, training_flops_per_token
from .hyperparameters import SHARDING, TRAINING
from .instance_catalogue import DEFAULT_GPU_TRAINING_TYPE, NEURON, lookup

GIB = 2**30
# Share of a device's memory the plan leaves to the CUDA context, NCCL buffers and the
# allocator's fragmentation (PyTorch's caching allocator typically reserves 5-10 % over its peak).
MEMORY_HEADROOM = 0.10
# Model FLOPs utilisation assumed for the duration estimate: issue 17's figure for an H100,
# taken for every accelerator as no other has a documented one here. An assumption, not a measurement.
ASSUMED_MFU = 0.45
MAX_INSTANCES = 16  # the most instances a "more instances" fix proposes
PRECISION_BYTES = {"bf16": 2, "fp32": 4}


@dataclass(frozen=True)
class Settings:
    """What the plan is asked about: the training settings that decide memory and time."""
    method: str
    lora_rank: int
    lora_targets: tuple[str, ...]
    lora_dropout: bool
    max_length: int
    per_device_batch_size: int
    global_batch_size: int
    gradient_checkpointing: bool
    sharding: str  # none | full (auto resolved)
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


def tokens_for(records: int, mean_tokens_per_record: float, epochs: float = 1.0) -> int:
    """The tokens a run trains on, from the sanitised data's counts."""
    return round(records * mean_tokens_per_record * epochs)


BYTES_PER_TOKEN = 4.0  # assumed: about 4 characters (bytes) of English text per token for BPE vocabularies of 32k-150k


def tokens_from_bytes(text_bytes: int) -> int:
    """An estimate of the tokens in ``text_bytes`` of English text, where no tokenizer has counted them."""
    return round(text_bytes / BYTES_PER_TOKEN)


def _targets(lora_target_modules) -> tuple[str, ...]:
    if lora_target_modules in (None, "all-linear"):
        return PROJECTIONS
    names = lora_target_modules.split(",") if isinstance(lora_target_modules, str) else lora_target_modules
    return tuple(name.strip() for name in names if name.strip())


def _devices(settings: Settings) -> int:
    return lookup(settings.instance_type).training_processes * settings.instance_count


def _device_memory(instance_type: str) -> int:
    """Bytes one training process may use: a GPU's, or a NeuronCore's share of its chip's."""
    return int(lookup(instance_type).memory_per_training_process_gib * GIB)


def _need(shape: ModelShape, settings: Settings) -> int:
    """Bytes per device of these settings."""
    neuron = lookup(settings.instance_type).accelerator == NEURON
    return memory_per_device(shape, method=settings.method, dtype_bytes=PRECISION_BYTES[settings.precision], rows=settings.per_device_batch_size,
                             max_length=settings.max_length, gradient_checkpointing=settings.gradient_checkpointing, lora_rank=settings.lora_rank,
                             lora_targets=settings.lora_targets, lora_dropout=settings.lora_dropout,
                             sharded_over=_devices(settings) if settings.sharding == "full" else 1, device="neuron" if neuron else "cuda").total


def _usable(instance_type: str) -> int:
    return int(_device_memory(instance_type) * (1 - MEMORY_HEADROOM))


def _resolve(shape: ModelShape, settings: Settings, asked: str) -> Settings:
    """``auto``: a replica per device where it fits one device, else FSDP full shard (never on Neuron)."""
    if asked != "auto":
        return replace(settings, sharding=asked)
    whole = replace(settings, sharding="none")
    if _need(shape, whole) <= _usable(settings.instance_type) or lookup(settings.instance_type).accelerator == NEURON or _devices(settings) == 1:
        return whole
    return replace(settings, sharding="full")


def _describe(changes: dict) -> str:
    words = {"instance_type": "instance type {}", "method": "method {}", "sharding": "sharding {}", "instance_count": "{} instances", "gradient_checkpointing": "gradient_checkpointing true",
             "per_device_batch_size": "per_device_batch_size {}", "max_length": "max_length {}"}
    return " with ".join(words[name].format(changes[name]) for name in words if name in changes)


def _single_fixes(shape: ModelShape, settings: Settings) -> list[dict]:
    """Each change that may help, in the order a user should try them."""
    neuron = lookup(settings.instance_type).accelerator == NEURON
    fixes = [{"method": "lora"}] if settings.method == "full" else []
    if not neuron:
        if settings.sharding == "none" and _devices(settings) > 1:
            fixes.append({"sharding": "full"})
        fixes += [{"sharding": "full", "instance_count": count} for count in range(settings.instance_count + 1, MAX_INSTANCES + 1)]
    if not settings.gradient_checkpointing:
        fixes.append({"gradient_checkpointing": True})
    fixes += [{"per_device_batch_size": rows} for rows in range(settings.per_device_batch_size - 1, 0, -1)]
    lengths, length = [], settings.max_length // 2
    while length >= 256:
        lengths.append(length)
        length //= 2
    return fixes + [{"max_length": length} for length in lengths]


def _fixes(shape: ModelShape, settings: Settings, asked: str) -> list[str]:
    """The first fitting change of each kind; when no single change fits, the first fitting
    pair; on Neuron, or where nothing else fits, a GPU type (with a change if it needs one)."""
    def fitting(candidates: list[dict], base: Settings) -> list[str]:
        found, kinds = [], set()
        for changes in candidates:
            kind = tuple(sorted(set(changes) - {"instance_type"}))
            if kind in kinds:
                continue
            # A changed sharding stays as changed; otherwise the user's own (auto re-resolved).
            candidate = replace(base, **changes)
            candidate = candidate if "sharding" in changes else _resolve(shape, candidate, asked)
            need = _need(shape, candidate)
            if need <= _usable(candidate.instance_type):
                kinds.add(kind)
                over = f" per device over {_devices(candidate)} devices" if candidate.sharding == "full" else ""
                shown = {name: value for name, value in changes.items() if not (name == "sharding" and base.sharding == value)}
                found.append(f"{_describe(shown)} (needs {need / GIB:.0f} GiB{over})")
        return found

    def single_then_pair(base: Settings, prefix: dict) -> list[str]:
        singles = _single_fixes(shape, base)
        return (fitting([{**prefix, **changes} for changes in ([{}] if prefix else []) + singles], base)
                or fitting([{**prefix, **first, **second} for index, first in enumerate(singles) for second in singles[index + 1:]
                            if not set(first) & set(second)], base))

    found = single_then_pair(settings, {})
    if lookup(settings.instance_type).accelerator == NEURON or not found:
        gpu = replace(settings, instance_type=DEFAULT_GPU_TRAINING_TYPE, instance_count=1, sharding="none")
        found += single_then_pair(gpu, {"instance_type": DEFAULT_GPU_TRAINING_TYPE})[:1]
    return found


def plan_training(config_json: dict, *, method: str = "lora", lora_rank: int = TRAINING["lora_rank"],
                  lora_target_modules=TRAINING["lora_target_modules"], lora_dropout: float = TRAINING["lora_dropout"],
                  max_length: int = TRAINING["max_length"], per_device_batch_size: int = TRAINING["per_device_batch_size"],
                  global_batch_size: int = TRAINING["global_batch_size"], gradient_checkpointing: bool = TRAINING["gradient_checkpointing"],
                  sharding: str = TRAINING["sharding"], precision: str = TRAINING["precision"], instance_type: str, instance_count: int = 1,
                  tokens: int | None = None) -> TrainingPlan:
    """The plan for one training job. ``problems`` empty: the run can start; otherwise each
    sentence names what is wrong and the fixes that would work, first to try first."""
    if sharding not in SHARDING:
        raise ValueError(f"sharding {sharding!r}: expected one of {', '.join(SHARDING)}")
    if precision not in ("auto", *PRECISION_BYTES):
        raise ValueError(f"precision {precision!r}: expected auto, bf16 or fp32")
    instance = lookup(instance_type)
    if instance.accelerator_count == 0:
        raise ValueError(f"instance type {instance_type} has no accelerator; train on a GPU or Trainium type such as {DEFAULT_GPU_TRAINING_TYPE}")
    shape, neuron, asked_sharding = ModelShape.from_config(config_json), instance.accelerator == NEURON, sharding
    targets = PROJECTIONS if method == "full" else _targets(lora_target_modules)
    settings = Settings(method, lora_rank, targets, lora_dropout > 0, max_length, per_device_batch_size, global_batch_size, gradient_checkpointing,
                        "none", "bf16" if precision == "auto" else precision, instance_type, instance_count)  # every type here has bf16
    problems = []
    if neuron and sharding == "full":
        whole_need = _need(shape, settings)  # sharding none
        use = (f"use sharding none (needs {whole_need / GIB:.0f} GiB per process)" if whole_need <= _usable(instance_type)
               else f"for sharding, use a GPU type such as {DEFAULT_GPU_TRAINING_TYPE}")
        problems.append(f"sharding full is not supported on {instance_type}: the Neuron path trains data parallel only (a whole replica in each "
                        f"NeuronCore's process), with no FSDP or tensor parallelism; {use}")
        sharding = "none"
    settings = _resolve(shape, settings, sharding)
    estimate = memory_per_device(shape, method=method, dtype_bytes=PRECISION_BYTES[settings.precision], rows=per_device_batch_size,
                                 max_length=max_length, gradient_checkpointing=gradient_checkpointing, lora_rank=lora_rank, lora_targets=targets,
                                 lora_dropout=settings.lora_dropout, sharded_over=_devices(settings) if settings.sharding == "full" else 1,
                                 device="neuron" if neuron else "cuda")
    devices, usable = _devices(settings), _usable(instance_type)
    fits = estimate.total <= usable
    if not fits:
        what = "full-rank SFT" if method == "full" else f"LoRA r{lora_rank}"
        where = f"per device over {devices} devices" if settings.sharding == "full" else "per NeuronCore process" if neuron else "per device"
        fixes = _fixes(shape, settings, sharding)
        advice = f"use {', or '.join(fixes)}" if fixes else "no setting this plan knows fits: use a smaller model"
        problems.append(f"{what} of this {parameter_count(shape) / 1e9:.1f}B-parameter model needs {estimate.total / GIB:.0f} GiB {where} on "
                        f"{instance_type} ({usable / GIB:.0f} of {_device_memory(instance_type) / GIB:.0f} GiB usable): {advice}")
    per_step = per_device_batch_size * devices
    if global_batch_size % per_step:
        smaller = [rows for rows in range(per_device_batch_size - 1, 0, -1) if global_batch_size % (rows * devices) == 0]
        problems.append(f"global_batch_size {global_batch_size} is not a multiple of per_device_batch_size x devices ({per_device_batch_size} x {devices} "
                        f"= {per_step}): use global_batch_size {-(-global_batch_size // per_step) * per_step}"
                        + (f", or per_device_batch_size {smaller[0]}" if smaller else ""))
    flops = training_flops_per_token(shape, method=method, lora_rank=lora_rank, lora_targets=targets, gradient_checkpointing=gradient_checkpointing)
    hours = cost = None
    if tokens is not None and instance.peak_bf16_tflops is not None:
        accelerators = instance.accelerator_count * instance_count
        hours = tokens * flops / (accelerators * instance.peak_bf16_tflops * 1e12 * ASSUMED_MFU) / 3600
        if instance.training_price_per_hour_usd is not None:
            cost = hours * instance_count * instance.training_price_per_hour_usd
    return TrainingPlan(
        model_parameters=parameter_count(shape), trained_parameters=parameter_count(shape) if method == "full" else lora_parameter_count(shape, lora_rank, targets),
        settings={**asdict(settings), "lora_targets": list(targets)}, sharding_requested=asked_sharding,
        devices=devices, memory=estimate.as_dict(), device_memory_bytes=_device_memory(instance_type), usable_memory_bytes=usable, fits=fits,
        problems=problems, tokens=tokens, flops_per_token=flops, hours=hours, cost_usd=cost,
        assumptions={"mfu": ASSUMED_MFU, "memory_headroom": MEMORY_HEADROOM,
                     "price": "on-demand SageMaker training, us-east-1" if instance.training_price_per_hour_usd is not None else "no verified price",
                     **({"neuron": "data parallel only; not yet run on Trainium hardware"} if neuron else {})},
    )
