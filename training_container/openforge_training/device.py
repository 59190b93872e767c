"""The only place device kinds differ: precision and whether shapes must be static."""
from __future__ import annotations

import importlib.util
import os
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Device:
    kind: str  # cuda | neuron | cpu
    bf16: bool
    static_shapes: bool  # XLA (Neuron) recompiles for every new tensor shape


def detect() -> Device:
    if os.environ.get("OPENFORGE_DEVICE") == "neuron" or importlib.util.find_spec("torch_neuronx") is not None:
        return Device("neuron", bf16=True, static_shapes=True)
    if torch.cuda.is_available():
        return Device("cuda", bf16=torch.cuda.is_bf16_supported(), static_shapes=False)
    return Device("cpu", bf16=False, static_shapes=False)


def use_bf16(device: Device, precision: str) -> bool:
    if precision == "bf16" and not device.bf16:
        raise ValueError(f"precision=bf16 but this {device.kind} device has no bf16 support; use auto or fp32")
    return device.bf16 if precision == "auto" else precision == "bf16"


def weights_dtype(method: str, bf16: bool):
    """The dtype the model is loaded (and its trained weights kept) in. Full-rank: fp32 master
    weights and AdamW states, bf16 only as the compute dtype (the Trainer's autocast): in pure
    bf16 an update of lr 1e-5 on a weight of 0.02 is below bf16's resolution there (about
    1e-4) and rounds away. LoRA: the frozen base in the compute dtype (it is never updated;
    peft keeps the adapter in fp32)."""
    return torch.bfloat16 if bf16 and method == "lora" else torch.float32
