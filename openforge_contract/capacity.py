"""What a training run will need, from the base model's ``config.json`` alone (no weights):
parameter counts, the LoRA adapter's size, the bytes each device holds at the peak of a
training step, and the FLOPs each trained token costs. ``capacity_plan`` turns these into a
run's plan (fits or not, the fixes, hours and dollars).

Counts follow the decoder-only architectures the platform fine-tunes (Llama, Mistral, Qwen2
and Qwen3 in transformers): token embeddings, per layer the attention projections (q, k, v,
o; grouped-query k/v; their biases where the model has them; Qwen3's per-head q/k norms) and the gated MLP
(gate, up, down), two RMSNorms a layer, a final norm, and an output head unless tied to the
embeddings. A test checks each count against transformers' own model built from the config.

LoRA's targets are resolved as peft resolves ``target_modules`` (``resolve_lora_targets``), on
the module names transformers gives these architectures (a test compares them with a real
model's), so every value peft accepts is sized, and one it would not adapt is refused.

Memory models what the training container does: full fine-tuning keeps fp32 weights (the
master copy) with fp32 gradients and AdamW's two fp32 states, 16 bytes a parameter, whatever
the compute precision (bf16 runs under autocast, or FSDP's bf16 compute copies of the units
it gathers). LoRA loads the frozen base in the compute dtype (bf16 where the device has it,
else fp32); peft keeps the adapter's weights in fp32 even on a bf16 base
(``autocast_adapter_dtype``) and casts each adapted input to fp32; the loss upcasts the
logits to fp32. Gradients are counted as held
through the forward pass, as they are whenever a step accumulates more than one micro-batch
(with exactly one, the Trainer frees them between steps and the real peak is lower by up to
the gradients' size): the estimate errs on the side of not fitting.
"""
from __future__ import annotations

import json
from collections import Counter
from collections.abc import Collection, Sequence
from dataclasses import dataclass

SUPPORTED = ("llama", "mistral", "qwen2", "qwen3")
ATTENTION, MLP = ("q_proj", "k_proj", "v_proj", "o_proj"), ("gate_proj", "up_proj", "down_proj")
PROJECTIONS = ATTENTION + MLP  # LoRA's all-linear, head excluded
HEAD, EMBEDDINGS = "lm_head", "embed_tokens"  # the other modules LoRA can adapt in these models
ALL_LINEAR = "all-linear"  # peft's shorthand, meaningful only as the whole target_modules value
# The most a size field of config.json may be: the largest published models stay far below
# (vocabularies ~256k, hidden sizes ~16k); more is a broken file, not a model.
MAX_CONFIG_SIZE = 2**31


class UnsupportedModel(ValueError):
    """A config this plan cannot size: its architecture, or a field it lacks."""


class InvalidModelConfig(ValueError):
    """A config.json field this plan reads holds a value no model can have."""


class UnknownLoraTargets(ValueError):
    """lora_target_modules naming no module LoRA can adapt in this model."""


def _size(config: dict, name: str, default: int | None = None) -> int:
    """A size field: a JSON integer (not a bool), at least 1 and below MAX_CONFIG_SIZE; an
    optional one (with a default) may be absent or null."""
    if name not in config and default is None:  # transformers would fill its own default, not this model's size
        raise InvalidModelConfig(f"config.json has no {name}, which every {config.get('model_type')} model's config.json names")
    value = config.get(name)
    if value is None and default is not None:
        return default
    if type(value) is not int or not 1 <= value < MAX_CONFIG_SIZE:
        raise InvalidModelConfig(f"{name} is {_shown(value)}: expected a whole number from 1 to {MAX_CONFIG_SIZE - 1}")
    return value


def _flag(config: dict, name: str) -> bool:
    value = config.get(name, False)
    if value is not None and type(value) is not bool:
        raise InvalidModelConfig(f"{name} is {_shown(value)}: expected true or false")
    return bool(value)


def _shown(value) -> str:
    """A config.json value as its JSON, shortened."""
    text = json.dumps(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


@dataclass(frozen=True)
class ModelShape:
    model_type: str
    vocab_size: int
    hidden_size: int
    intermediate_size: int
    layers: int
    heads: int
    kv_heads: int
    head_dim: int
    tied_embeddings: bool
    biased: tuple[str, ...]  # projections with a bias: Qwen2's q, k, v; all four with attention_bias (Llama, Mistral, Qwen3)
    qk_norm: bool  # a per-head RMSNorm on q and k (Qwen3)

    @classmethod
    def from_config(cls, config: dict) -> ModelShape:
        """The shape, each field checked: UnsupportedModel for an architecture the plan does not
        size, InvalidModelConfig for a required field missing or a value no model can have."""
        model_type = config.get("model_type")
        if not isinstance(model_type, str) or model_type not in SUPPORTED:
            raise UnsupportedModel(f"config.json model_type {_shown(model_type)}: the plan sizes {', '.join(SUPPORTED)}")
        hidden, heads = _size(config, "hidden_size"), _size(config, "num_attention_heads")
        kv_heads = _size(config, "num_key_value_heads", heads)
        if heads % kv_heads:
            raise InvalidModelConfig(f"num_key_value_heads {kv_heads} does not divide num_attention_heads {heads}")
        if config.get("head_dim") is None and hidden % heads:
            raise InvalidModelConfig(f"hidden_size {hidden} is not a multiple of num_attention_heads {heads}, and no head_dim is given")
        return cls(
            model_type=model_type, vocab_size=_size(config, "vocab_size"), hidden_size=hidden,
            intermediate_size=_size(config, "intermediate_size"), layers=_size(config, "num_hidden_layers"), heads=heads,
            kv_heads=kv_heads, head_dim=_size(config, "head_dim", hidden // heads), tied_embeddings=_flag(config, "tie_word_embeddings"),
            biased=("q_proj", "k_proj", "v_proj") if model_type == "qwen2"
            else ("q_proj", "k_proj", "v_proj", "o_proj") if _flag(config, "attention_bias") else (),
            qk_norm=model_type == "qwen3",
        )

    def linear_shapes(self) -> dict[str, tuple[int, int]]:
        """(in, out) features of each projection in one layer."""
        q, kv = self.heads * self.head_dim, self.kv_heads * self.head_dim
        return {"q_proj": (self.hidden_size, q), "k_proj": (self.hidden_size, kv), "v_proj": (self.hidden_size, kv),
                "o_proj": (q, self.hidden_size), "gate_proj": (self.hidden_size, self.intermediate_size),
                "up_proj": (self.hidden_size, self.intermediate_size), "down_proj": (self.intermediate_size, self.hidden_size)}


def parameter_count(shape: ModelShape) -> int:
    """Every parameter of the model, the output head included (once, when tied)."""
    linears = shape.linear_shapes()
    per_layer = sum(inputs * outputs for inputs, outputs in linears.values()) + 2 * shape.hidden_size  # + input and post-attention norms
    per_layer += sum(linears[name][1] for name in shape.biased)
    if shape.qk_norm:
        per_layer += 2 * shape.head_dim
    embeddings = shape.vocab_size * shape.hidden_size
    return shape.layers * per_layer + embeddings * (1 if shape.tied_embeddings else 2) + shape.hidden_size  # + the final norm


@dataclass(frozen=True)
class LoraTargets:
    """The modules LoRA adapts: per decoder layer, its adapted projections; and whether the
    output head and the token embeddings are adapted."""
    layers: tuple[frozenset[str], ...]
    head: bool = False
    embeddings: bool = False

    @classmethod
    def all_linear(cls, shape: ModelShape) -> LoraTargets:
        return cls((frozenset(PROJECTIONS),) * shape.layers)

    def names(self) -> list[str]:
        """What is adapted, by module name, for the plan's settings."""
        projections = [name for name in PROJECTIONS if any(name in layer for layer in self.layers)]
        partial = [name for name in projections if not all(name in layer for layer in self.layers)]
        shown = [f"{name} (in {sum(name in layer for layer in self.layers)} of {len(self.layers)} layers)" if name in partial else name
                 for name in projections]
        return shown + [HEAD] * self.head + [EMBEDDINGS] * self.embeddings


def module_names(shape: ModelShape) -> dict[str, str]:
    """Every module of the model as transformers names it (``named_modules()``), each mapped to
    what LoRA can adapt there (a projection's name, lm_head or embed_tokens), or to "" where
    peft refuses to (a container, norm, activation or rotary embedding)."""
    names = {"": "", "model": "", f"model.{EMBEDDINGS}": EMBEDDINGS, "model.layers": "", "model.norm": "", "model.rotary_emb": "", HEAD: HEAD}
    for index in range(shape.layers):
        layer = f"model.layers.{index}"
        names.update({layer: "", f"{layer}.self_attn": "", f"{layer}.mlp": "", f"{layer}.mlp.act_fn": "", f"{layer}.input_layernorm": "",
                      f"{layer}.post_attention_layernorm": ""})
        names.update({f"{layer}.self_attn.{name}": name for name in ATTENTION} | {f"{layer}.mlp.{name}": name for name in MLP})
        if shape.qk_norm:
            names.update({f"{layer}.self_attn.q_norm": "", f"{layer}.self_attn.k_norm": ""})
    return names


def resolve_lora_targets(shape: ModelShape, target_modules: str | Sequence[str]) -> LoraTargets:
    """The modules peft adapts for ``target_modules`` as the training container passes it:
    all-linear as the whole value, else the comma-separated names, each matching every module
    whose full name equals it or ends with "." + it (peft's check_target_module_exists).
    UnknownLoraTargets where no name is given, a name matches nothing (peft would skip it
    silently when another matches: a typo trains less than asked), or a name matches a module
    LoRA cannot adapt (peft refuses it)."""
    if target_modules == ALL_LINEAR:
        return LoraTargets.all_linear(shape)
    given = target_modules.split(",") if isinstance(target_modules, str) else target_modules
    names = list(dict.fromkeys(name.strip() for name in given if name.strip()))
    choices = f"give {ALL_LINEAR} or comma-separated module names: {', '.join(PROJECTIONS + (HEAD, EMBEDDINGS))}"
    if not names:
        raise UnknownLoraTargets(f"{target_modules!r} names no module: {choices}")
    modules, adapted = module_names(shape), set()
    for name in names:
        matched = [module for module in modules if module == name or module.endswith(f".{name}")]
        if not matched:
            whole = f" ({ALL_LINEAR} only as the whole value)" if name == ALL_LINEAR else ""
            raise UnknownLoraTargets(f"{name!r} matches no module of this {shape.model_type} model{whole}: {choices}")
        refused = [module for module in matched if not modules[module]]
        if refused:
            raise UnknownLoraTargets(f"{name!r} matches {refused[0] or 'the model itself'}, which LoRA cannot adapt (not a linear or "
                                     f"embedding layer): {choices}")
        adapted.update(matched)
    return LoraTargets(tuple(frozenset(modules[module] for module in adapted if module.startswith(f"model.layers.{index}."))
                             for index in range(shape.layers)),
                       head=HEAD in adapted, embeddings=f"model.{EMBEDDINGS}" in adapted)


def lora_parameter_count(shape: ModelShape, rank: int, targets: LoraTargets | None = None) -> int:
    """LoRA's trainable parameters: r x (in + out) for each adapted projection, and for the
    head (hidden in, vocabulary out) and the embeddings (A: vocabulary x r, B: r x hidden)."""
    targets = targets or LoraTargets.all_linear(shape)
    linears = shape.linear_shapes()
    layers = sum(rank * sum(sum(linears[name]) for name in layer) for layer in targets.layers)
    return layers + (targets.head + targets.embeddings) * rank * (shape.hidden_size + shape.vocab_size)


FP32 = 4  # bytes
# Bytes per element of what dropout saves for its backward besides its output: CUDA's fused
# kernel keeps a bool mask; the CPU kernel multiplies by a float noise tensor of the input's
# dtype (fp32 here, as peft casts to the adapter's dtype first). Neuron's is not known: taken as CPU's.
DROPOUT_MASK_BYTES = {"cuda": 1, "neuron": FP32, "cpu": FP32}


@dataclass(frozen=True)
class MemoryEstimate:
    """Bytes one device holds at the peak of a training step. The loss's backward and, with
    gradient checkpointing, the recomputation of a layer come one after the other, so the
    peak holds the larger of the two on top of the rest."""
    weights: int
    gradients: int
    optimiser: int
    activations: int  # kept for the backward pass (with checkpointing: each layer's input)
    logits_loss: int
    recomputed_layer: int = 0  # gradient checkpointing: one layer's activations, rebuilt in the backward pass
    gathered_layers: int = 0  # FSDP: parameters gathered whole for the layers being computed

    @property
    def total(self) -> int:
        return (self.weights + self.gradients + self.optimiser + self.activations + max(self.logits_loss, self.recomputed_layer)
                + self.gathered_layers)

    def as_dict(self) -> dict[str, int]:
        return {"weights": self.weights, "gradients": self.gradients, "optimiser": self.optimiser, "activations": self.activations,
                "logits_loss": self.logits_loss, "recomputed_layer": self.recomputed_layer, "gathered_layers": self.gathered_layers,
                "total": self.total}


def layer_activation_bytes_per_token(shape: ModelShape, *, method: str, dtype_bytes: int, length: int, lora_targets: Collection[str] = PROJECTIONS,
                                     lora_rank: int = 0, lora_dropout: bool = True, device: str = "cuda") -> int:
    """What autograd saves for one decoder layer's backward, per token, read from the layer's
    ops in transformers' Llama/Qwen code (a test counts the saved tensors of real layers):

    - each RMSNorm upcasts to fp32 and keeps that input and a per-token rsqrt; in full
      fine-tuning also its normalised value (for the norm weight's gradient) and its output
      (the next projections' input, for their weights' gradients);
    - attention (SDPA; packing always passes a block-diagonal mask, so k and v are repeated
      to every query head first): q, k, v and the output (which is o_proj's input), a fp32
      logsumexp per head, and the additive mask SDPA converts from the boolean one in every
      layer (``length`` entries per token);
    - the gated MLP: gate's output, silu's output and up's output; in full fine-tuning also
      down_proj's input. A frozen projection (LoRA) saves no input;
    - LoRA, per adapted projection (``lora_targets``: this layer's): the fp32 input of its A
      matrix (dropout's output and its mask; without dropout the fp32 cast, shared by
      projections reading the same tensor when the base is already fp32) and A's output (rank values).
    """
    h, i, q = shape.hidden_size, shape.intermediate_size, shape.heads * shape.head_dim
    b = dtype_bytes
    saved = 2 * (FP32 * h + FP32)  # two norms' fp32 input and rsqrt
    saved += 4 * b * q + FP32 * shape.heads + length * b  # attention
    saved += 3 * b * i  # MLP
    if method == "full":
        return saved + 2 * 2 * b * h + b * i
    inputs = {name: inputs for name, (inputs, _) in shape.linear_shapes().items()}
    if lora_dropout:
        saved += sum((FP32 + DROPOUT_MASK_BYTES[device]) * inputs[name] for name in lora_targets)
    elif b == FP32:  # the adapters read the base's own tensors: the norms' outputs and down_proj's input (o_proj's is SDPA's output, counted)
        saved += FP32 * (h * bool({"q_proj", "k_proj", "v_proj"} & set(lora_targets)) + h * bool({"gate_proj", "up_proj"} & set(lora_targets))
                         + i * ("down_proj" in lora_targets))
    else:
        saved += sum(FP32 * inputs[name] for name in lora_targets)
    return saved + len(lora_targets) * FP32 * lora_rank


TOKEN_ID_BYTES = 8  # int64 token ids, which an adapted embedding's lookup keeps for its backward


def lora_outside_layers_bytes_per_token(shape: ModelShape, targets: LoraTargets, *, lora_rank: int, lora_dropout: bool, device: str) -> int:
    """What an adapted head and adapted embeddings save per token (a test counts them on real
    models). The head's A reads the final norm's output: its fp32 copy (with dropout also
    dropout's mask; in LoRA nothing else keeps that output) and A's output. The embeddings'
    adapter keeps the token ids and its A lookup (rank values); peft applies no dropout there."""
    head = (FP32 + (DROPOUT_MASK_BYTES[device] if lora_dropout else 0)) * shape.hidden_size + FP32 * lora_rank
    return targets.head * head + targets.embeddings * (TOKEN_ID_BYTES + FP32 * lora_rank)


def memory_per_device(shape: ModelShape, *, method: str, dtype_bytes: int, rows: int, max_length: int, gradient_checkpointing: bool,
                      lora_rank: int = 0, lora_targets: LoraTargets | None = None, lora_dropout: bool = True,
                      sharded_over: int = 1, device: str = "cuda") -> MemoryEstimate:
    """The peak bytes on one device for a micro-batch of ``rows`` x ``max_length`` tokens
    (packing fills rows to max_length). ``sharded_over`` > 1: FSDP full shard of weights,
    gradients and optimiser states over that many devices. ``lora_targets``: all-linear when None."""
    if method not in ("full", "lora"):
        raise ValueError(f"method {method!r}: expected full or lora")
    b, tokens, parameters = dtype_bytes, rows * max_length, parameter_count(shape)
    targets = lora_targets or LoraTargets.all_linear(shape)
    adapter = lora_parameter_count(shape, lora_rank, targets) if method == "lora" else 0
    # Full: fp32 master weights (loaded in fp32; under FSDP accelerate upcasts every trainable
    # parameter, accelerate.utils.fsdp_utils.fsdp2_prepare_model), so fp32 gradients and AdamW
    # states. LoRA: the frozen base in the compute dtype, the adapter in fp32.
    held = FP32 if method == "full" else b
    trained = parameters if method == "full" else adapter  # optimiser states take the parameter's dtype, fp32 either way
    weights, gradients, optimiser = parameters * held + adapter * FP32, trained * FP32, 2 * trained * FP32
    # Per distinct set of adapted projections, what one such layer saves (full: every layer alike).
    kinds = Counter(targets.layers) if method == "lora" else Counter({frozenset(PROJECTIONS): shape.layers})
    saved = {kind: layer_activation_bytes_per_token(shape, method=method, dtype_bytes=b, length=max_length, lora_targets=kind,
                                                    lora_rank=lora_rank, lora_dropout=lora_dropout, device=device) for kind in kinds}
    layer = max(saved.values())  # the largest layer, recomputed under checkpointing
    # Checkpointing keeps each layer's input and recomputes one layer at a time in the backward pass.
    per_token = shape.layers * b * shape.hidden_size if gradient_checkpointing else sum(count * saved[kind] for kind, count in kinds.items())
    per_token += FP32 * shape.hidden_size + FP32 + (2 * b * shape.hidden_size if method == "full" else 0)  # the final norm
    if method == "lora":
        per_token += lora_outside_layers_bytes_per_token(shape, targets, lora_rank=lora_rank, lora_dropout=lora_dropout, device=device)
    # The loss keeps log_softmax's fp32 output; its backward adds the incoming gradient and its own.
    logits_loss = 3 * FP32 * shape.vocab_size * tokens
    gathered = 0
    if sharded_over > 1:
        weights, gradients, optimiser = (-(-part // sharded_over) for part in (weights, gradients, optimiser))
        embeddings = shape.vocab_size * shape.hidden_size * (1 if shape.tied_embeddings else 2)
        layer_parameters = (parameters - embeddings) // shape.layers
        # Gathered whole: the root unit (embeddings, head), the layer computed and the one prefetched,
        # and in full fine-tuning one layer's gradients before they are reduce-scattered.
        gathered = (embeddings + 2 * layer_parameters + (layer_parameters if method == "full" else 0)) * b
    return MemoryEstimate(weights, gradients, optimiser, per_token * tokens, logits_loss, layer * tokens if gradient_checkpointing else 0, gathered)


def training_flops_per_token(shape: ModelShape, *, method: str, lora_rank: int = 0, lora_targets: LoraTargets | None = None,
                             gradient_checkpointing: bool = False) -> float:
    """Matmul FLOPs per trained token (attention's own length-squared term left out, as in
    the 6N rule). Full: forward 2N, backward 4N (activations and weights). LoRA: forward 2N,
    backward through the frozen base's activations 2N, and the adapter's own 6 N_lora.
    Gradient checkpointing recomputes the forward once more in the backward pass."""
    parameters = parameter_count(shape)
    adapter = lora_parameter_count(shape, lora_rank, lora_targets) if method == "lora" else 0
    forward = 2 * parameters + 2 * adapter
    flops = 6 * parameters if method == "full" else 4 * parameters + 6 * adapter
    return float(flops + (forward if gradient_checkpointing else 0))
