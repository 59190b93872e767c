"""What a training run will need, from the base model's ``config.json`` alone (no weights):
parameter counts, the LoRA adapter's size, the bytes each device holds at the peak of a
training step, and the FLOPs each trained token costs. ``capacity_plan`` turns these into a
run's plan (fits or not, the fixes, hours and dollars).

Counts follow the decoder-only architectures the platform fine-tunes (Llama, Mistral, Qwen2
and Qwen3 in transformers): token embeddings, per layer the attention projections (q, k, v,
o; grouped-query k/v; their biases where the model has them; Qwen3's per-head q/k norms) and the gated MLP
(gate, up, down), two RMSNorms a layer, a final norm, and an output head unless tied to the
embeddings. A test checks each count against transformers' own model built from the config.

Memory models what the training container does, not a textbook mixed-precision recipe: the
model is loaded in the compute dtype (bf16 where the device has it, else fp32) with no fp32
master copy; torch's AdamW keeps two states in each parameter's dtype; peft keeps LoRA's
adapter weights in fp32 even on a bf16 base (``autocast_adapter_dtype``) and casts each
adapted input to fp32; the loss upcasts the logits to fp32. Gradients are counted as held
through the forward pass, as they are whenever a step accumulates more than one micro-batch
(with exactly one, the Trainer frees them between steps and the real peak is lower by up to
the gradients' size): the estimate errs on the side of not fitting.
"""
from __future__ import annotations

from dataclasses import dataclass

SUPPORTED = ("llama", "mistral", "qwen2", "qwen3")
PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")  # LoRA's all-linear, head excluded


class UnsupportedModel(ValueError):
    """A config this plan cannot size: its architecture, or a field it lacks."""


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
        model_type = config.get("model_type")
        if model_type not in SUPPORTED:
            raise UnsupportedModel(f"config.json model_type {model_type!r}: the plan sizes {', '.join(SUPPORTED)}")
        try:
            hidden, heads = int(config["hidden_size"]), int(config["num_attention_heads"])
            return cls(
                model_type=model_type, vocab_size=int(config["vocab_size"]), hidden_size=hidden,
                intermediate_size=int(config["intermediate_size"]), layers=int(config["num_hidden_layers"]), heads=heads,
                kv_heads=int(config.get("num_key_value_heads") or heads), head_dim=int(config.get("head_dim") or hidden // heads),
                tied_embeddings=bool(config.get("tie_word_embeddings", False)),
                biased=("q_proj", "k_proj", "v_proj") if model_type == "qwen2"
                else ("q_proj", "k_proj", "v_proj", "o_proj") if config.get("attention_bias") else (),
                qk_norm=model_type == "qwen3",
            )
        except KeyError as missing:
            raise UnsupportedModel(f"config.json has no {missing.args[0]}") from None

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


def lora_parameter_count(shape: ModelShape, rank: int, targets: tuple[str, ...] = PROJECTIONS) -> int:
    """LoRA's trainable parameters: r x (in + out) for each targeted projection of every layer."""
    linears = shape.linear_shapes()
    unknown = sorted(set(targets) - set(linears))
    if unknown:
        raise UnsupportedModel(f"LoRA targets {', '.join(unknown)} are not projections of a {shape.model_type} layer")
    return shape.layers * sum(rank * sum(linears[name]) for name in targets)


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


def layer_activation_bytes_per_token(shape: ModelShape, *, method: str, dtype_bytes: int, length: int, lora_targets: tuple[str, ...] = PROJECTIONS,
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
    - LoRA, per adapted projection: the fp32 input of its A matrix (dropout's output and its
      mask; without dropout the fp32 cast, shared by projections reading the same tensor when
      the base is already fp32) and A's output (rank values).
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


def memory_per_device(shape: ModelShape, *, method: str, dtype_bytes: int, rows: int, max_length: int, gradient_checkpointing: bool,
                      lora_rank: int = 0, lora_targets: tuple[str, ...] = PROJECTIONS, lora_dropout: bool = True,
                      sharded_over: int = 1, device: str = "cuda") -> MemoryEstimate:
    """The peak bytes on one device for a micro-batch of ``rows`` x ``max_length`` tokens
    (packing fills rows to max_length). ``sharded_over`` > 1: FSDP full shard of weights,
    gradients and optimiser states over that many devices."""
    if method not in ("full", "lora"):
        raise ValueError(f"method {method!r}: expected full or lora")
    b, tokens, parameters = dtype_bytes, rows * max_length, parameter_count(shape)
    adapter = lora_parameter_count(shape, lora_rank, lora_targets) if method == "lora" else 0
    # Under FSDP with bf16, accelerate upcasts every trainable parameter to an fp32 master copy
    # (accelerate.utils.fsdp_utils.fsdp2_prepare_model) and computes with bf16 copies of the
    # gathered units; unsharded, the model trains in its loaded dtype.
    held = FP32 if sharded_over > 1 and method == "full" else b
    trained, trained_bytes = (parameters, held) if method == "full" else (adapter, FP32)  # optimiser states take the parameter's dtype
    weights, gradients, optimiser = parameters * held + adapter * FP32, trained * trained_bytes, 2 * trained * trained_bytes
    layer = layer_activation_bytes_per_token(shape, method=method, dtype_bytes=b, length=max_length, lora_targets=lora_targets,
                                             lora_rank=lora_rank, lora_dropout=lora_dropout, device=device)
    # Checkpointing keeps each layer's input and recomputes one layer at a time in the backward pass.
    per_token = shape.layers * (b * shape.hidden_size if gradient_checkpointing else layer)
    per_token += FP32 * shape.hidden_size + FP32 + (2 * b * shape.hidden_size if method == "full" else 0)  # the final norm
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


def training_flops_per_token(shape: ModelShape, *, method: str, lora_rank: int = 0, lora_targets: tuple[str, ...] = PROJECTIONS,
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
