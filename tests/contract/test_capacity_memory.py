"""The capacity plan's memory estimate against real PyTorch training: the tensors autograd
saves for a decoder layer, counted exactly, and the peak resident memory of training steps
of a ~12M-parameter model on CPU (fp32), within 25 %."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from openforge_contract.capacity import LoraTargets, ModelShape, layer_activation_bytes_per_token, lora_outside_layers_bytes_per_token, memory_per_device

LAYER = {"model_type": "llama", "vocab_size": 500, "hidden_size": 128, "intermediate_size": 352, "num_attention_heads": 4, "num_key_value_heads": 2}
PROBE = {"model_type": "llama", "vocab_size": 8000, "hidden_size": 384, "intermediate_size": 1024, "num_hidden_layers": 4,
         "num_attention_heads": 6, "num_key_value_heads": 2}
LORA_RANK = 8


def saved_bytes(layers: int, method: str, dtype, lora_dropout: float, length: int, targets="all-linear", input_grads: bool = False) -> int:
    """Bytes of every distinct tensor autograd saves in one forward pass (parameters excluded).
    ``input_grads``: the first layer's input needs a gradient, as in every later layer."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoConfig, AutoModelForCausalLM

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(AutoConfig.for_model(**LAYER, num_hidden_layers=layers), dtype=dtype)
    model.config.use_cache = False
    if input_grads:
        model.enable_input_require_grads()
    if method == "lora":
        model = get_peft_model(model, LoraConfig(r=LORA_RANK, lora_dropout=lora_dropout, target_modules=targets, task_type="CAUSAL_LM"))
    parameters = {p.untyped_storage().data_ptr() for p in model.parameters()}
    storages = {}

    def keep(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in parameters:
            storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    ids = torch.randint(0, LAYER["vocab_size"], (1, length))
    positions = torch.cat([torch.arange(length // 2), torch.arange(length - length // 2)])[None]  # two packed records
    with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
        model.train()(input_ids=ids, labels=ids, position_ids=positions)
    return sum(storages.values())


@pytest.mark.parametrize("method, bf16, lora_dropout", [("full", False, 0.0), ("full", True, 0.0), ("lora", False, 0.05), ("lora", True, 0.05),
                                                          ("lora", False, 0.0), ("lora", True, 0.0)])
def test_a_layer_saves_what_the_estimate_counts(method, bf16, lora_dropout):
    import torch

    dtype, length = (torch.bfloat16 if bf16 else torch.float32), 64
    # A third layer's worth: the difference between 3 and 2 layers (the first layer of a LoRA model differs: its input needs no gradient).
    measured = saved_bytes(3, method, dtype, lora_dropout, length) - saved_bytes(2, method, dtype, lora_dropout, length)
    estimate = layer_activation_bytes_per_token(ModelShape.from_config({**LAYER, "num_hidden_layers": 3}), method=method, dtype_bytes=2 if bf16 else 4,
                                                length=length, lora_rank=LORA_RANK, lora_dropout=lora_dropout > 0, device="cpu")
    assert estimate * length == measured


@pytest.mark.parametrize("bf16, lora_dropout", [(False, 0.05), (True, 0.05), (False, 0.0), (True, 0.0)])
def test_an_adapted_head_and_embeddings_save_what_the_estimate_counts(bf16, lora_dropout):
    """Against all-linear with the first layer's input needing a gradient (as the estimate counts every layer, and as an
    adapted embedding makes it), what adapting lm_head or embed_tokens adds."""
    import torch

    dtype, length, layers = (torch.bfloat16 if bf16 else torch.float32), 64, 2
    shape = ModelShape.from_config({**LAYER, "num_hidden_layers": layers})
    base = saved_bytes(layers, "lora", dtype, lora_dropout, length, input_grads=True)
    for added, targets in (("lm_head", LoraTargets(LoraTargets.all_linear(shape).layers, head=True)),
                           ("embed_tokens", LoraTargets(LoraTargets.all_linear(shape).layers, embeddings=True))):
        measured = saved_bytes(layers, "lora", dtype, lora_dropout, length, targets=["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj",
                                                                                     "down_proj", added], input_grads=True) - base
        estimate = lora_outside_layers_bytes_per_token(shape, targets, lora_rank=LORA_RANK, lora_dropout=lora_dropout > 0, device="cpu")
        assert estimate * length == measured, added


def test_full_rank_sft_holds_16_bytes_a_parameter_at_either_precision_sharded_or_not():
    """fp32 master weights, fp32 gradients and AdamW's two fp32 states (the container loads full-rank SFT in fp32 and
    computes in bf16 under autocast); sharded, each device holds its share."""
    from openforge_contract.capacity import parameter_count

    shape = ModelShape.from_config(PROBE)
    for dtype_bytes in (2, 4):
        for devices in (1, 8):
            estimate = memory_per_device(shape, method="full", dtype_bytes=dtype_bytes, rows=1, max_length=64, gradient_checkpointing=True,
                                         sharded_over=devices)
            assert estimate.weights + estimate.gradients + estimate.optimiser == pytest.approx(16 * parameter_count(shape) / devices, abs=3)


def peak_rss(spec: dict) -> int:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "MALLOC_MMAP_THRESHOLD_": "65536"}  # freed tensors go back to the system at once
    done = subprocess.run([sys.executable, str(Path(__file__).with_name("training_peak.py")), json.dumps(spec)],
                          capture_output=True, text=True, env=environment, check=True)
    measured = json.loads(done.stdout.strip().splitlines()[-1])
    return measured["peak_bytes"] - measured["baseline_bytes"]


def test_the_estimate_is_within_a_quarter_of_the_measured_peak(tmp_path):
    cases = [(method, checkpointing) for method in ("full", "lora") for checkpointing in (False, True)]
    specs = [{"config": PROBE, "method": method, "lora_rank": LORA_RANK, "lora_dropout": 0.05, "rows": 2, "max_length": 512,
                                     "gradient_checkpointing": checkpointing, "output_dir": str(tmp_path / f"{method}-{checkpointing}")}
                                    for method, checkpointing in cases]
    with ThreadPoolExecutor(2) as pool:
        peaks = list(pool.map(peak_rss, specs))
    shape, report = ModelShape.from_config(PROBE), []
    for (method, checkpointing), peak in zip(cases, peaks):
        estimate = memory_per_device(shape, method=method, dtype_bytes=4, rows=2, max_length=512, gradient_checkpointing=checkpointing,
                                     lora_rank=LORA_RANK, device="cpu").total
        report.append((method, checkpointing, round(peak / 2**20), round(estimate / 2**20)))
    # Not vacuous: the model's training holds hundreds of MiB over the libraries' own.
    assert all(measured > 150 for _, _, measured, _ in report), report
    assert all(abs(estimate - measured) <= 0.25 * measured for _, _, measured, estimate in report), report
    print("method, checkpointing, measured MiB, estimated MiB:", report)
