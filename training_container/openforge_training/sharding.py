"""How the model is spread over the job's processes: which sharding a run uses, and the
Trainer's FSDP settings for ``full`` (accelerate's FSDP2, through TrainingArguments)."""
from __future__ import annotations

import logging

from .errors import InputError

log = logging.getLogger("openforge.sharding")

# FSDP's sharded state dict: each process writes its own shard of weights and optimiser
# states with torch.distributed.checkpoint, which reshards on load, so a checkpoint can
# resume on another number of processes.
SHARDED_STATE_DICT = "SHARDED_STATE_DICT"


def resolve_sharding(setting: str, replica_fits: bool) -> str:
    """``none`` or ``full`` for a ``TuningArguments.sharding`` setting: ``auto`` shards only
    where a whole replica does not fit one device."""
    if setting == "auto":
        return "none" if replica_fits else "full"
    return setting


def effective_sharding(sharding: str, world_size: int) -> str:
    """FSDP over one process shards nothing: such a run trains as ``none`` (and says so)."""
    if sharding == "full" and world_size == 1:
        log.info("sharding=full on a single process is the same as none: training one whole replica")
        return "none"
    return sharding


def decoder_layer_classes(model) -> list[str]:
    """The class names FSDP wraps one unit each: the model's decoder layers, which
    transformers lists as the modules never to split (``_no_split_modules``)."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    names = list(getattr(base, "_no_split_modules", None) or [])
    if not names:
        raise InputError(f"the base model ({type(base).__name__}) names no decoder layer class (_no_split_modules) for FSDP to wrap: use sharding=none")
    return names


def fsdp_arguments(model, activation_checkpointing: bool) -> dict:
    """TrainingArguments for fully sharded training: FSDP2 (per-parameter sharding, so LoRA's
    frozen and trainable parameters share a unit), full shard (parameters re-sharded after
    forward), one unit per decoder layer, sharded checkpoints.

    Activation checkpointing is transformers' own (the model's gradient checkpointing inside
    each layer), not FSDP's: FSDP's wraps every decoder layer in a module whose name
    (``_checkpoint_wrapped_module``) its state dict leaves out, and peft 0.21 picks a LoRA
    checkpoint's entries by module name, so a sharded LoRA checkpoint came out empty and a
    resumed run silently restarted from the base weights."""
    return {
        "fsdp": True,
        "fsdp_config": {
            "version": 2,
            "reshard_after_forward": True,
            "auto_wrap_policy": "TRANSFORMER_BASED_WRAP",
            "transformer_layer_cls_to_wrap": decoder_layer_classes(model),
            "state_dict_type": SHARDED_STATE_DICT,
        },
        "activation_checkpointing": activation_checkpointing,
    }


def enable_fsdp_on_cpu(accelerator, plugin_args: dict) -> bool:
    """accelerate 1.15 applies an FSDP plugin only to accelerators (its state picks FSDP for
    MULTI_GPU, MULTI_NEURON, ... but not MULTI_CPU) and silently trains data-parallel on CPU,
    although torch's FSDP2 runs there with gloo. Mark the state FSDP as accelerate itself
    does on a GPU, so a CPU run (the tests, ``use_cpu``) takes the same FSDP2 path. Returns
    whether it had to."""
    from accelerate import PartialState
    from accelerate.utils import DistributedType, FullyShardedDataParallelPlugin

    state = accelerator.state
    if state.distributed_type != DistributedType.MULTI_CPU:
        return False
    # Both shared states: every later AcceleratorState() copies the PartialState's type.
    PartialState().distributed_type = state.distributed_type = DistributedType.FSDP
    state.fsdp_plugin = FullyShardedDataParallelPlugin(**plugin_args)
    return True
