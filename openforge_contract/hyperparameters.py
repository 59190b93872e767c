"""The training and evaluation settings a run may set, with their defaults, said once: the
pipeline input's published schema (openforge_lambda.pipeline_input) fills a missing field
with these, and the training container's argument dataclasses (openforge_training.config,
.evaluate) start from the same values, so a job started without a field and a run whose
input left it out train alike. The names are the container's hyperparameter names."""
from __future__ import annotations

# What every global batch is made of.
MIXING = {"customer_data_percent": 50}
METHOD = "lora"
# The training container's TuningArguments (and MixArguments.max_length).
TRAINING = {
    "lora_rank": 16,
    "lora_alpha": 32,
    "lora_dropout": 0.05,
    "lora_target_modules": "all-linear",
    "learning_rate": 1e-5,
    "lr_scheduler_type": "cosine",
    "warmup_ratio": 0.03,
    "weight_decay": 0.0,
    "num_epochs": 1.0,
    "max_steps": -1,
    "global_batch_size": 32,
    "per_device_batch_size": 4,
    "max_length": 2048,
    "seed": 42,
    "precision": "auto",
    # On: without it the activations of one 4 x 2048-token micro-batch of a 7-8B model take
    # ~86 GiB (LoRA r16, Llama-3.1-8B), and even LoRA does not fit an 80 GiB H100 (openforge_contract.capacity).
    "gradient_checkpointing": True,
    "sharding": "auto",
}
# How the model is spread over the job's devices (TuningArguments.sharding):
# none: a whole replica per device (data parallel); full: parameters, gradients and optimiser
# states sharded over every device of every host (FSDP); auto: full only where the capacity
# plan (openforge_contract.capacity) finds that a replica does not fit one device.
SHARDING = ("auto", "none", "full")
# The forgetting gate's limits (the evaluation container's GateArguments), and what each means,
# said once for the pipeline input's schema and the container's --help (argparse reads a
# percent sign as a format, so the texts have none).
GATE = {"min_general_retention": 0.97, "min_domain_gain": 0.02, "waive_general_check": False}
GATE_HELP = {
    "min_general_retention": "Every general benchmark the base model scores above chance on must keep at least this share of the "
                             "base's score above chance (MMLU's chance is 1/4); a drop within the benchmark's sampling noise "
                             "(0.95 confidence interval) never fails.",
    "min_domain_gain": "The held-out metric must rise by at least this much (its own units), beyond its sampling noise.",
    "waive_general_check": "true: pass a model with no informative general benchmark (none selected, or the base at chance on "
                           "all); otherwise such a run is refused, since nothing shows whether the model forgot.",
}
