"""The capacity plan's parameter counts: the published sizes of the reference models from their
published config.json values, and transformers' and peft's own counts for models built here."""
from __future__ import annotations

import pytest

from openforge_contract.capacity import ModelShape, UnsupportedModel, lora_parameter_count, parameter_count
from openforge_contract.reference_models import BENCHMARK_CONFIGS, CONFIGS, PUBLISHED_PARAMETERS


@pytest.mark.parametrize("name", BENCHMARK_CONFIGS)
def test_the_reference_models_count_their_published_size(name):
    assert parameter_count(ModelShape.from_config(BENCHMARK_CONFIGS[name])) == pytest.approx(PUBLISHED_PARAMETERS[name], rel=0.01)


def tiny(model_type: str, **extra) -> dict:
    return {"model_type": model_type, "vocab_size": 300, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 3,
            "num_attention_heads": 4, "num_key_value_heads": 2, **extra}


@pytest.mark.parametrize("config", [tiny("llama"), tiny("llama", tie_word_embeddings=True, attention_bias=True), tiny("mistral"),
                                    tiny("qwen2"), tiny("qwen3", head_dim=32)], ids=["llama", "llama-tied-bias", "mistral", "qwen2", "qwen3"])
def test_the_count_is_transformers_own(config):
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    hf_config = AutoConfig.for_model(**config)
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(hf_config)
    assert parameter_count(ModelShape.from_config(hf_config.to_dict())) == sum(p.numel() for p in model.parameters())


def test_the_lora_count_is_peft_own():
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    config = tiny("qwen2")
    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    trainable, _ = get_peft_model(model, LoraConfig(r=8, target_modules="all-linear")).get_nb_trainable_parameters()
    assert lora_parameter_count(ModelShape.from_config(config), rank=8) == trainable


def test_what_the_plan_cannot_size_is_named():
    with pytest.raises(UnsupportedModel, match="model_type 'gpt2': the plan sizes llama, mistral, qwen2, qwen3"):
        ModelShape.from_config({"model_type": "gpt2"})
    with pytest.raises(UnsupportedModel, match="config.json has no intermediate_size"):
        ModelShape.from_config({k: v for k, v in tiny("llama").items() if k != "intermediate_size"})
    with pytest.raises(UnsupportedModel, match="LoRA targets lm_head are not projections of a llama layer"):
        lora_parameter_count(ModelShape.from_config(tiny("llama")), rank=4, targets=("q_proj", "lm_head"))
