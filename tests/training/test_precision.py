"""Full-rank training keeps fp32 master weights (bf16 is only the compute dtype); the export
is written in the base model's own dtype, whatever the run trained in."""
import json

import pytest
import torch
from openforge_training import train
from openforge_training.config import load
from openforge_training.device import weights_dtype
from safetensors.torch import load_file

from tests.training.conftest import Job


def test_full_rank_keeps_fp32_master_weights_and_lora_a_bf16_base():
    assert weights_dtype("full", bf16=True) == torch.float32, "AdamW's small updates would round away in bf16 weights"
    assert weights_dtype("lora", bf16=True) == torch.bfloat16, "the frozen base is never updated"
    assert weights_dtype("full", bf16=False) == weights_dtype("lora", bf16=False) == torch.float32


def bf16_base(tiny_model, root):
    """The tiny model as a bf16 checkpoint, as the 7-70B models are published."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder = root / "bf16-model"
    AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.bfloat16).save_pretrained(folder)
    AutoTokenizer.from_pretrained(tiny_model).save_pretrained(folder)
    assert json.loads((folder / "config.json").read_text()).get("dtype") == "bfloat16"
    return folder


@pytest.mark.parametrize("method", ["full", "lora"])
def test_the_export_is_in_the_base_models_dtype(tmp_path, tiny_model, method):
    job = Job(tmp_path / method, bf16_base(tiny_model, tmp_path)).write_data(customer=16, per_category=8)
    train.run(train.prepare(load(job.argv(max_steps=2, global_batch_size=4, per_device_batch_size=4, max_length=64, method=method,
                                          learning_rate=1e-3, customer_data_percent=100))))
    exported = load_file(job.output / "model.safetensors")
    assert {tensor.dtype for tensor in exported.values()} == {torch.bfloat16}
    base = load_file(job.data / "model" / "model.safetensors")
    name = "model.layers.0.mlp.down_proj.weight"
    assert not torch.equal(exported[name], base[name]), "trained, and the change survives the cast back to bf16"
