"""What a training run will need, from the base model's ``config.json`` alone (no weights):
parameter counts, the LoRA adapter's size, and the bytes every device holds for weights,
gradients and optimiser states. The first part of issue 17's capacity plan; activations,
tokens, duration and cost come next.

Counts follow the decoder-only architectures the platform fine-tunes (Llama, Mistral, Qwen2
and Qwen3 in transformers): token embeddings, per layer the attention projections (q, k, v,
o; grouped-query k/v; their biases where the model has them; Qwen3's per-head q/k norms) and the gated MLP
(gate, up, down), two RMSNorms a layer, a final norm, and an output head unless tied to the
embeddings. A test checks each count against transformers' own model built from the config.
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
