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
    "gradient_checkpointing": False,
}
# The forgetting gate's limits (the evaluation container's GateArguments).
GATE = {"min_general_retention": 0.97, "min_domain_gain": 0.02}
