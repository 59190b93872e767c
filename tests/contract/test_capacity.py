"""The capacity plan's parameter counts: the published sizes of the reference models from their
published config.json values, and transformers' and peft's own counts for models built here."""
from __future__ import annotations

import pytest

from openforge_contract.capacity import (
    InvalidModelConfig,
    ModelShape,
    UnknownLoraTargets,
    UnsupportedModel,
    lora_parameter_count,
    module_names,
    parameter_count,
    resolve_lora_targets,
)
from openforge_contract.reference_models import BENCHMARK_CONFIGS, PUBLISHED_PARAMETERS


@pytest.mark.parametrize("name", BENCHMARK_CONFIGS)
def test_the_reference_models_count_their_published_size(name):
    assert parameter_count(ModelShape.from_config(BENCHMARK_CONFIGS[name])) == pytest.approx(PUBLISHED_PARAMETERS[name], rel=0.01)


def tiny(model_type: str, **extra) -> dict:
    return {"model_type": model_type, "vocab_size": 300, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
            "num_attention_heads": 4, "num_key_value_heads": 2, **extra}


@pytest.mark.parametrize("name", ["llama", "llama-tied-bias", "mistral", "qwen2", "qwen3"])
def test_the_count_is_transformers_own(name):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    hf_config = AutoConfig.for_model(**TINY_CONFIGS[name])
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    assert parameter_count(ModelShape.from_config(hf_config.to_dict())) == sum(p.numel() for p in model.parameters())


TINY_CONFIGS = {"llama": tiny("llama"), "llama-tied-bias": tiny("llama", tie_word_embeddings=True, attention_bias=True), "mistral": tiny("mistral"),
                "qwen2": tiny("qwen2"), "qwen3": tiny("qwen3", head_dim=32)}


def meta_model(config: dict):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        return AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))


@pytest.mark.parametrize("name", TINY_CONFIGS)
def test_the_module_names_are_transformers_own(name):
    assert set(module_names(ModelShape.from_config(TINY_CONFIGS[name]))) == {module for module, _ in meta_model(TINY_CONFIGS[name]).named_modules()}


# lora_target_modules as the container passes them to peft: all-linear whole, else the comma-separated names.
TARGETS = ["all-linear", "q_proj,v_proj", "self_attn.q_proj,self_attn.v_proj", "mlp.down_proj", "q_proj, q_proj ,lm_head", "embed_tokens,o_proj",
           "layers.1.self_attn.q_proj", "model.layers.0.mlp.up_proj,lm_head,model.embed_tokens"]


@pytest.mark.parametrize("config_name", ["qwen2", "llama-tied-bias"])
@pytest.mark.parametrize("targets", TARGETS)
def test_the_lora_count_is_peft_own(config_name, targets):
    from peft import LoraConfig, get_peft_model

    config = TINY_CONFIGS[config_name]
    peft_targets = targets if targets == "all-linear" else [name.strip() for name in targets.split(",") if name.strip()]
    trainable, _ = get_peft_model(meta_model(config), LoraConfig(r=8, target_modules=peft_targets)).get_nb_trainable_parameters()
    shape = ModelShape.from_config(config)
    assert lora_parameter_count(shape, rank=8, targets=resolve_lora_targets(shape, targets)) == trainable


@pytest.mark.parametrize("targets, problem", [
    (",", "',' names no module: give all-linear or comma-separated module names: q_proj, k_proj"),
    (" , ", "' , ' names no module"),
    ("q_proj,qproj", ("'qproj' matches no module of this llama model: give all-linear or comma-separated module names: q_proj, k_proj, "
                      "v_proj, o_proj, gate_proj, up_proj, down_proj, lm_head, embed_tokens")),
    ("all-linear,lm_head", "'all-linear' matches no module of this llama model (all-linear only as the whole value)"),
    (" all-linear", "'all-linear' matches no module"),
    ("mlp", "'mlp' matches model.layers.0.mlp, which LoRA cannot adapt"),
    ("q_proj,input_layernorm", "'input_layernorm' matches model.layers.0.input_layernorm, which LoRA cannot adapt"),
])
def test_lora_targets_that_adapt_nothing_are_named(targets, problem):
    with pytest.raises(UnknownLoraTargets) as refused:
        resolve_lora_targets(ModelShape.from_config(tiny("llama")), targets)
    assert problem in str(refused.value)


def test_what_the_plan_cannot_size_is_named():
    with pytest.raises(UnsupportedModel, match='model_type "gpt2": the plan sizes llama, mistral, qwen2, qwen3'):
        ModelShape.from_config({"model_type": "gpt2"})
    # A missing size is refused, not left unchecked: transformers would build its own default size.
    with pytest.raises(InvalidModelConfig, match="config.json has no intermediate_size, which every llama model's config.json names"):
        ModelShape.from_config({k: v for k, v in tiny("llama").items() if k != "intermediate_size"})


@pytest.mark.parametrize("change, problem", [
    ({"hidden_size": "big"}, 'hidden_size is "big": expected a whole number from 1 to 2147483647'),
    ({"hidden_size": None}, "hidden_size is null: expected a whole number"),
    ({"hidden_size": 64.0}, "hidden_size is 64.0: expected a whole number"),
    ({"hidden_size": float("nan")}, "hidden_size is NaN"),
    ({"vocab_size": float("inf")}, "vocab_size is Infinity"),
    ({"vocab_size": 10**400}, "vocab_size is 1000000000000000000000000000000000000..."),
    ({"vocab_size": -300}, "vocab_size is -300"),
    ({"num_hidden_layers": True}, "num_hidden_layers is true"),
    ({"num_attention_heads": 0}, "num_attention_heads is 0"),
    ({"num_key_value_heads": 3}, "num_key_value_heads 3 does not divide num_attention_heads 4"),
    ({"num_attention_heads": 3, "num_key_value_heads": 1}, "hidden_size 64 is not a multiple of num_attention_heads 3, and no head_dim is given"),
    ({"head_dim": 0}, "head_dim is 0"),
    ({"tie_word_embeddings": "false"}, 'tie_word_embeddings is "false": expected true or false'),
    ({"attention_bias": 1}, "attention_bias is 1: expected true or false"),
])
def test_a_value_no_model_can_have_is_named(change, problem):
    with pytest.raises(InvalidModelConfig) as refused:
        ModelShape.from_config({**tiny("llama"), **change})
    assert problem in str(refused.value)


def test_optional_fields_may_be_null():
    """transformers' configs write null for an unset num_key_value_heads or head_dim: the defaults apply."""
    shape = ModelShape.from_config({**tiny("llama", num_attention_heads=4), "num_key_value_heads": None, "head_dim": None})
    assert (shape.kv_heads, shape.head_dim) == (4, 16)
