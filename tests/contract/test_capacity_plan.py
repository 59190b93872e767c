"""The capacity plan: auto sharding, refusals that name fixes which do fit, Trainium's limits,
duration and cost, the docs' table, and a JSON-ready plan."""
from __future__ import annotations

import json

import pytest

from openforge_contract.capacity import ModelShape, lora_parameter_count, parameter_count, training_flops_per_token
from openforge_contract.capacity_plan import plan_training, tokens_for
from openforge_contract.capacity_table import markdown
from openforge_contract.reference_models import CONFIGS

P5, TRN1 = "ml.p5.48xlarge", "ml.trn1.32xlarge"
TINY = {"model_type": "llama", "vocab_size": 300, "hidden_size": 64, "intermediate_size": 96, "num_hidden_layers": 2, "num_attention_heads": 4}


def test_auto_shards_only_a_replica_that_does_not_fit_one_device():
    assert plan_training(TINY, method="full", instance_type=P5).settings["sharding"] == "none"
    # Full-rank Mistral-7B: 7.2e9 parameters x 8 bytes (bf16 weights, gradients, two AdamW states) alone is 54 GiB, activations on top.
    whole = plan_training(CONFIGS["Mistral-7B-v0.1"], method="full", sharding="none", instance_type=P5, gradient_checkpointing=False)
    assert not whole.fits
    sharded = plan_training(CONFIGS["Mistral-7B-v0.1"], method="full", instance_type=P5, gradient_checkpointing=False)
    assert sharded.settings["sharding"] == "full" and sharded.fits and sharded.sharding_requested == "auto"
    assert plan_training(CONFIGS["Mistral-7B-v0.1"], method="full", instance_type=TRN1).settings["sharding"] == "none"  # never on Neuron


# (what is asked, the fix the refusal must name, the same settings with that fix applied)
REFUSALS = {
    # Sharded, the trained weights are fp32 master copies (16 bytes a parameter with gradients and AdamW states).
    "full 8B, no sharding: more instances": ({"config": "Llama-3.1-8B", "method": "full", "sharding": "none"}, "sharding full with 4 instances with global_batch_size 128",
                                             {"sharding": "full", "instance_count": 4, "global_batch_size": 128}),
    "LoRA 7B: checkpointing": ({"config": "Mistral-7B-v0.1"}, "gradient_checkpointing true", {"gradient_checkpointing": True}),
    # 3 rows would not divide the 32 records a step over 8 devices: 2 is the largest that fits and divides.
    "LoRA 7B: smaller micro-batch": ({"config": "Mistral-7B-v0.1"}, "per_device_batch_size 2", {"per_device_batch_size": 2}),
    "LoRA 7B: shorter rows": ({"config": "Mistral-7B-v0.1"}, "max_length 1024", {"max_length": 1024}),
    "full 70B: LoRA with checkpointing": ({"config": "Llama-3.1-70B", "method": "full"}, "method lora with gradient_checkpointing true",
                                          {"method": "lora", "gradient_checkpointing": True}),
    "LoRA 8B on Trainium: a GPU type": ({"config": "Llama-3.1-8B", "instance_type": TRN1, "per_device_batch_size": 1}, "instance type ml.p5.48xlarge",
                                        {"instance_type": P5, "per_device_batch_size": 1, "global_batch_size": 32}),
}


def plan(config: str, **settings):
    """Without gradient checkpointing unless asked (the default turns it on), so its fix can be shown."""
    return plan_training(CONFIGS[config], **{"instance_type": P5, "method": "lora", "gradient_checkpointing": False, **settings})


@pytest.mark.parametrize("name", REFUSALS)
def test_a_refusal_names_a_fix_that_fits(name):
    asked, fix, fixed = REFUSALS[name]
    refused = plan(**asked)
    assert not refused.fits
    assert any(f"use {fix} (" in problem or f"or {fix} (" in problem for problem in refused.problems), refused.problems
    assert plan(**{**asked, **fixed}).fits


def test_a_fix_that_would_not_fit_is_not_proposed():
    refused = plan("Llama-3.1-8B", method="full", sharding="none")
    assert not plan("Llama-3.1-8B", method="lora", sharding="none").fits  # LoRA alone: activations of 4 x 2048 tokens exceed 72 GiB
    assert "method lora (" not in refused.problems[0] and "use sharding full (" not in refused.problems[0]


def test_trainium_refuses_sharding_and_what_does_not_fit_one_neuroncore():
    sharded = plan("Llama-3.1-8B", method="full", sharding="full", instance_type=TRN1, per_device_batch_size=1)
    assert "sharding full is not supported on ml.trn1.32xlarge" in sharded.problems[0] and "data parallel only" in sharded.problems[0]
    assert sharded.settings["sharding"] == "none" and not sharded.fits
    # 32 processes share 16 chips x 32 GiB: 16 GiB each, 14.4 usable; 8B bf16 weights alone are 15 GiB.
    assert plan("Llama-3.1-8B", instance_type=TRN1).device_memory_bytes == 16 * 2**30
    tiny = plan_training(TINY, method="full", instance_type=TRN1, per_device_batch_size=1)
    assert tiny.fits and tiny.devices == 32 and "not yet run on Trainium" in tiny.assumptions["neuron"]
    # Trainium2: 16 chips x 4 logical NeuronCores (the SDK's default), 96 GiB a chip: 64 processes of 24 GiB.
    trn2 = plan_training(TINY, method="full", instance_type="ml.trn2.48xlarge", per_device_batch_size=1)
    assert trn2.devices == 64 and trn2.device_memory_bytes == 24 * 2**30


def test_a_batch_the_container_would_refuse_is_named_with_its_fix():
    problems = plan_training(TINY, method="full", instance_type=P5, instance_count=4, global_batch_size=32).problems
    assert problems == [("global_batch_size 32 is not a multiple of per_device_batch_size x devices (4 x 32 = 128): use global_batch_size 128, "
                        "or per_device_batch_size 1")]


def test_duration_and_cost():
    shape, tokens = ModelShape.from_config(CONFIGS["Llama-3.1-8B"]), tokens_for(10_000, 512)
    full = plan("Llama-3.1-8B", method="full", instance_count=4, global_batch_size=128, tokens=tokens)
    # 6N per token over 32 H100s at 989 dense BF16 TFLOPS and 45 % MFU.
    assert full.hours == pytest.approx(5_120_000 * 6 * parameter_count(shape) / (32 * 989e12 * 0.45) / 3600)
    assert full.cost_usd is None and "no verified price" in str(full)
    lora = training_flops_per_token(shape, method="lora", lora_rank=16)
    assert lora == 4 * parameter_count(shape) + 6 * lora_parameter_count(shape, 16)
    assert training_flops_per_token(shape, method="lora", lora_rank=16, gradient_checkpointing=True) == lora + 2 * parameter_count(shape) + 2 * lora_parameter_count(shape, 16)
    assert plan_training(TINY, instance_type="ml.g5.2xlarge", tokens=1000).hours is None  # A10G: no published BF16 peak


def test_the_plan_is_json_ready():
    planned = plan("Llama-3.1-70B", method="full", tokens=1_000_000)
    assert json.loads(json.dumps(planned.to_dict())) == planned.to_dict()
    assert planned.to_dict()["memory"]["total"] == sum(planned.memory[part] for part in ("weights", "gradients", "optimiser", "activations",
                                                                                         "gathered_layers")) + max(planned.memory["logits_loss"], planned.memory["recomputed_layer"])


def test_bad_settings_are_named():
    with pytest.raises(ValueError, match="sharding 'zero3': expected one of auto, none, full"):
        plan_training(TINY, instance_type=P5, sharding="zero3")
    with pytest.raises(ValueError, match="ml.m5.xlarge has no accelerator"):
        plan_training(TINY, instance_type="ml.m5.xlarge")


def test_the_docs_table_covers_every_reference_model():
    table = markdown().splitlines()
    assert len(table) == 2 + len(CONFIGS) * 2 * 2
    assert all(any(name in line for line in table) for name in CONFIGS)


def test_the_docs_page_shows_the_table_as_the_plan_makes_it():
    """docs/training-at-scale.md: regenerate with `python -m openforge_contract.capacity_table`."""
    from pathlib import Path

    page = (Path(__file__).resolve().parents[2] / "docs" / "training-at-scale.md").read_text()
    shown = page.split("<!-- capacity table -->\n", 1)[1].split("\n<!-- end capacity table -->", 1)[0]
    assert shown == markdown()


def random_settings(rng) -> dict:
    """One run as a user might ask for it: any reference model, method, batch shape, sharding and instances."""
    per_device = rng.choice([1, 2, 3, 4, 6, 8, 16])
    return {"config": rng.choice([*CONFIGS, "tiny"]), "method": rng.choice(["lora", "full"]), "lora_rank": rng.choice([8, 16, 64]),
            "lora_target_modules": rng.choice(["all-linear", "q_proj,v_proj", "self_attn.o_proj,mlp.down_proj,lm_head"]),
            "lora_dropout": rng.choice([0.0, 0.05]), "max_length": rng.choice([512, 2048, 4096, 8192]), "per_device_batch_size": per_device,
            "global_batch_size": per_device * rng.choice([1, 3, 4, 8, 16, 32]) + rng.choice([0, 0, 1]), "gradient_checkpointing": rng.random() < 0.5,
            "sharding": rng.choice(["auto", "none", "full"]), "precision": rng.choice(["auto", "fp32"]),
            "instance_type": rng.choice([P5, TRN1, "ml.p4d.24xlarge", "ml.g5.12xlarge", "ml.g5.2xlarge"]), "instance_count": rng.choice([1, 1, 2, 3]),
            "max_instance_count": rng.choice([None, 3, 8])}


def test_every_proposed_fix_applied_gives_a_run_that_can_start():
    import random

    rng, refused, fixes = random.Random(17), 0, 0
    for _ in range(300):
        asked = random_settings(rng)
        config = TINY if asked["config"] == "tiny" else CONFIGS[asked["config"]]
        kwargs = {name: value for name, value in asked.items() if name != "config"}
        planned = plan_training(config, **kwargs)
        if not planned.problems:
            assert planned.fixes == []
            continue
        refused += 1
        assert planned.fixes or "use a smaller model" in planned.refusal(), (asked, planned.problems)
        for fix in planned.fixes:
            fixes += 1
            assert fix.get("instance_count", 1) <= (asked["max_instance_count"] or 16), (asked, fix)
            applied = plan_training(config, **{**kwargs, **fix})
            assert applied.problems == [], (asked, fix, applied.problems)
    assert refused > 100 and fixes > 200, (refused, fixes)  # not vacuous: many refusals, many fixes tried


def test_where_no_single_change_or_pair_fits_a_combination_is_proposed():
    asked = {"method": "full", "max_length": 8192, "per_device_batch_size": 4, "global_batch_size": 128, "gradient_checkpointing": False,
             "sharding": "none", "instance_type": P5, "max_instance_count": 4}
    refused = plan_training(CONFIGS["Llama-3.1-70B"], **asked)
    assert "smaller model" not in refused.refusal() and len(refused.fixes) == 1, refused.problems
    (fix,) = refused.fixes
    assert len(set(fix) - {"global_batch_size"}) >= 3, fix  # 70B at 8192 tokens a row: LoRA, sharding and checkpointing at least
    assert plan_training(CONFIGS["Llama-3.1-70B"], **{**asked, **fix}).problems == []


def test_a_gpu_type_fix_is_one_the_environment_allows():
    """On Trainium the fix is a GPU type: the platform's default where the environment allows it,
    else the first allowed GPU type the run starts on, else none at all."""
    trn1 = {"config": "Llama-3.1-8B", "instance_type": TRN1, "per_device_batch_size": 1}
    assert any("instance type ml.p5.48xlarge" in problem for problem in plan(**trn1).problems)
    only_g6e = plan(**trn1, training_instance_types=(TRN1, "ml.g6e.12xlarge")).problems
    assert any("instance type ml.g6e.12xlarge" in problem for problem in only_g6e) and "p5" not in " ".join(only_g6e)
    assert "instance type" not in " ".join(plan(**trn1, training_instance_types=(TRN1,)).problems)
