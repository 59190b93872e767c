"""The fine-tuning pipeline's input: a JSON Schema (draft-07) with a default and a
description on every field, and ``parse_run``, which fills the defaults, validates, and
raises one ``PipelineInputError`` whose message starts with the field's path, e.g.
``mixing.customer_data_percent: 120 is greater than the maximum of 100``; what passes is the
typed ``run.Run`` (``normalise``: the same as the JSON the state machine carries).

Only ``job_name`` and ``customer_data_s3_uri`` have to be given. ``base_model_s3_uri``,
``curated_data_s3_uri`` and ``evaluation.data_s3_uri`` default to the environment's
(``EnvironmentPolicy``, set by the stack); the environment's limits (instance types,
instance count) are checked here too, so a run that could not be paid for fails before
anything is created.

Hyperparameter and evaluation names are the training container's
(``openforge_training.config`` / ``.evaluate``); a test keeps names and defaults in step.

``python -m openforge_lambda.pipeline_input`` prints the schema (schemas/pipeline-input.schema.json).
"""
from __future__ import annotations

import copy
import json
import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

from aws_lambda_powertools.utilities.validation import SchemaValidationError, validate

from hyperpod_jobs import sagemaker_limits

from openforge_contract import instance_catalogue as catalogue
from openforge_contract.environment_variables import RunDefaults, RunLimits
from openforge_contract.hyperparameters import GATE, GATE_HELP, METHOD, MIXING, SHARDING, TRAINING
from openforge_lambda.run import Run, mix_percents, needs_curated_data
from openforge_lambda.settings import FieldError

# Instance types the platform runs (the instance catalogue, which the CDK app reads too).
HYPERPOD_INSTANCE_TYPES = catalogue.HYPERPOD_WORKER_TYPES  # the cluster's worker groups
TRAINING_INSTANCE_TYPES = catalogue.TRAINING_JOB_TYPES
ENDPOINT_INSTANCE_TYPES = catalogue.ENDPOINT_TYPES
BENCHMARKS = ("mmlu", "ifeval", "byod")
LR_SCHEDULERS = ("linear", "cosine", "cosine_with_restarts", "polynomial", "constant", "constant_with_warmup", "inverse_sqrt")

# Room for the suffixes the pipeline appends (grid point, step) within SageMaker's 63 characters.
JOB_NAME_PATTERN = r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,40}$"
S3_URI_PATTERN = r"^s3://[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](/\S*)?$"
CATEGORY_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"
# SageMaker's HyperParameterValue pattern, '.*', is a Java regular expression: its '.' takes no
# line terminator, so a value with one is refused (botocore's sagemaker model; tests/aws_strict.py).
HYPERPARAMETER_TEXT_PATTERN = "^[^" + "".join(f"\\u{ord(char):04x}" for char in sagemaker_limits.LINE_TERMINATORS) + "]*$"
# What a value failing a pattern should have looked like, for the error message.
PATTERN_HINTS = {
    JOB_NAME_PATTERN: "1-41 letters, digits or hyphens, starting and ending with a letter or digit",
    S3_URI_PATTERN: "an S3 URI like s3://bucket/prefix",
    CATEGORY_PATTERN: "a category name of letters, digits, '_', '-' or '.'",
    HYPERPARAMETER_TEXT_PATTERN: "one line of text (SageMaker refuses a hyperparameter with a line break)",
}

# --- SageMaker's limits on what the input becomes (hyperpod_jobs.sagemaker_limits, from
# botocore's sagemaker service model; the HyperPod submitter checks the same).
SAGEMAKER_NAME_PATTERN = f"^{sagemaker_limits.NAME}$"
HYPERPARAMETER_VALUE_MAX_LENGTH = sagemaker_limits.MAX_HYPERPARAMETER_VALUE
HYPERPARAMETER_KEY_MAX_LENGTH = sagemaker_limits.MAX_HYPERPARAMETER_KEY
HYPERPARAMETERS_MAX_COUNT = sagemaker_limits.MAX_HYPERPARAMETERS
S3_URI_MAX_LENGTH = sagemaker_limits.MAX_S3_URI
# TagValue: ^([\p{L}\p{Z}\p{N}_.:/=+\-@]*)$, at most 256 (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Tag.html).
TAG_VALUE_MAX_LENGTH = 256
TAG_VALUE_SYMBOLS = "_.:/=+-@"


def is_tag_value(text: str) -> bool:
    """Whether SageMaker takes ``text`` as a tag value: letters, separators and numbers of
    any script (the pattern's \\p{L}, \\p{Z}, \\p{N}, which Python's re cannot say) or _.:/=+-@."""
    return len(text) <= TAG_VALUE_MAX_LENGTH and all(
        unicodedata.category(char)[0] in "LZN" or char in TAG_VALUE_SYMBOLS for char in text)


def percent_label(percent: float) -> str:
    """75 -> "75", 12.5 -> "12p5": a grid point as it appears in job names (six significant
    digits, so points closer than that share a label; normalise refuses those)."""
    text = f"{percent:g}"
    return text.replace(".", "p")


def curated_weights_hyperparameter(weights: Mapping[str, float]) -> str:
    """mixing.curated_weights as the training job's ``curated_weights`` hyperparameter."""
    return json.dumps(weights, sort_keys=True)


def _s3_uri(description: str, default=None, required: bool = False) -> dict:
    # One short of SageMaker's S3Uri limit: the pipeline sends each as a prefix, ending in '/'.
    field = {"type": "string", "pattern": S3_URI_PATTERN, "maxLength": S3_URI_MAX_LENGTH - 1, "description": description}
    if not required:
        field.update(type=["string", "null"], default=default)
    return field


def _number(description: str, default, minimum=None, maximum=None, integer: bool = False, **extra) -> dict:
    field = {"type": "integer" if integer else "number", "default": default, "description": description, **extra}
    if minimum is not None:
        field["minimum"] = minimum
    if maximum is not None:
        field["maximum"] = maximum
    return field


def _choice(description: str, default, choices) -> dict:
    return {"type": "string", "enum": list(choices), "default": default, "description": description}


def _block(description: str, properties: dict, required=(), **extra) -> dict:
    block = {"type": "object", "description": description, "additionalProperties": False, "properties": properties, **extra}
    if required:
        block["required"] = list(required)
    return block


HYPERPARAMETERS = _block("Training settings, named as the training container's hyperparameters.", {
    "lora_rank": _number("LoRA rank r (method lora).", TRAINING["lora_rank"], 1, 1024, integer=True),
    "lora_alpha": _number("LoRA scaling alpha (method lora).", TRAINING["lora_alpha"], 1, 4096, integer=True),
    "lora_dropout": _number("Dropout on the LoRA path (method lora).", TRAINING["lora_dropout"], 0, 0.9),
    "lora_target_modules": {"type": "string", "minLength": 1, "maxLength": HYPERPARAMETER_VALUE_MAX_LENGTH,
                            "pattern": HYPERPARAMETER_TEXT_PATTERN, "default": TRAINING["lora_target_modules"],
                            "description": "all-linear, or comma-separated module names (q_proj,v_proj)."},
    "learning_rate": _number("Peak learning rate.", TRAINING["learning_rate"], exclusiveMinimum=0, exclusiveMaximum=1),
    "lr_scheduler_type": _choice("Learning-rate schedule (a transformers scheduler).", TRAINING["lr_scheduler_type"], LR_SCHEDULERS),
    "warmup_ratio": _number("Share of steps spent warming up.", TRAINING["warmup_ratio"], 0, 1),
    "weight_decay": _number("AdamW weight decay.", TRAINING["weight_decay"], 0, 1),
    "num_epochs": _number("Passes over the customer data (curated pools cycle).", TRAINING["num_epochs"], 0, 100),
    "max_steps": _number("Stop after this many optimiser steps; -1: run num_epochs.", TRAINING["max_steps"], -1, integer=True),
    "global_batch_size": _number("Records per optimiser step across all devices; the mix is exact per global batch.", TRAINING["global_batch_size"], 1, 65536, integer=True),
    "per_device_batch_size": _number("Records per micro-batch on one device; must divide global_batch_size.", TRAINING["per_device_batch_size"], 1, 1024, integer=True),
    "max_length": _number("Tokens per packed row; longer records are truncated.", TRAINING["max_length"], 16, 131072, integer=True),
    "seed": _number("Seeds the data order, the mix and initialisation.", TRAINING["seed"], 0, integer=True),
    "precision": _choice("auto (bf16 where the device has it), bf16 or fp32.", TRAINING["precision"], ("auto", "bf16", "fp32")),
    "gradient_checkpointing": {"type": "boolean", "default": TRAINING["gradient_checkpointing"], "description": "Trade compute for activation memory."},
    "sharding": _choice("none: a whole model replica per device; full: weights, gradients and optimiser states sharded over every "
                        "device of every host (FSDP); auto: full only where a replica does not fit one device.", TRAINING["sharding"], SHARDING),
})

_TOP_LEVEL = {
    "job_name": {"type": "string", "pattern": JOB_NAME_PATTERN,
                 "description": "Names the run's jobs, model and endpoint: 1-41 letters, digits or hyphens."},
    "base_model_s3_uri": _s3_uri("S3 prefix of the base model in Hugging Face format (config.json, safetensors, tokenizer). "
                                 "null: the environment's default base model."),
    "customer_data_s3_uri": _s3_uri("S3 prefix of your training data: JSONL files (bedrock-conversation-2024, "
                                    "OpenAI messages, or input/output records).", required=True),
    "curated_data_s3_uri": _s3_uri("S3 prefix of the curated data mixed in against forgetting, one subfolder or file "
                                   "prefix per category. null: the environment's default curated data."),
    "mixing": _block("How every global batch is made up.", {
        "customer_data_percent": _number("Share of every global batch from your data, 0-100; the rest is curated data.", MIXING["customer_data_percent"], 0, 100),
        "curated_weights": {
            "type": ["object", "null"], "default": None, "propertyNames": {"pattern": CATEGORY_PATTERN},
            "additionalProperties": {"type": "number", "minimum": 0, "maximum": 100},
            "description": 'Weights of the curated categories inside the curated share, summing to 100, e.g. '
                           '{"reasoning": 40, "instruction_following": 60}. null: every category found, equally.'},
    }),
    "method": _choice("lora (parameter-efficient) or full (every weight).", METHOD, ("lora", "full")),
    "hyperparameters": HYPERPARAMETERS,
    "compute": _block("Where training runs.", {
        "target": _choice("training-job (a SageMaker training job per run) or hyperpod (the environment's cluster).",
                          "training-job", ("training-job", "hyperpod")),
        "instance_type": _choice("Training instance type; hyperpod runs on its p4d/p5 or trn worker groups.",
                                 catalogue.DEFAULT_GPU_TRAINING_TYPE, TRAINING_INSTANCE_TYPES),
        "instance_count": _number("Training instances; the environment's limits.max_instance_count caps it.", 1, 1, 512, integer=True),
    }),
    "evaluation": _block("The forgetting gate: base and tuned model scored on the same benchmarks.", {
        "benchmarks": {"type": "array", "items": {"type": "string", "enum": list(BENCHMARKS)}, "minItems": 1,
                       "uniqueItems": True, "default": list(BENCHMARKS),
                       "description": "General benchmarks (mmlu, ifeval) and your held-out data (byod)."},
        "limits": _block("What the tuned model must reach to pass.", {
            "min_general_retention": _number(GATE_HELP["min_general_retention"], GATE["min_general_retention"], None, 1, exclusiveMinimum=0),
            "min_domain_gain": _number(GATE_HELP["min_domain_gain"], GATE["min_domain_gain"], -1, 1),
            "waive_general_check": {"type": "boolean", "default": GATE["waive_general_check"], "description": GATE_HELP["waive_general_check"]},
        }),
        "data_s3_uri": _s3_uri("S3 prefix of the benchmark files: mmlu/, ifeval/ and byod/ (your held-out set, same formats as "
                               "the training data). null: the environment's default evaluation data."),
    }),
    "deploy": _block("A private SageMaker endpoint for a model that passes the gate.", {
        "enabled": {"type": "boolean", "default": False,
                    "description": "true: deploy after the gate passes (the endpoint is billed while it runs)."},
        "instance_type": _choice("Endpoint instance type; the environment's serving.endpoint_instance_types must list it.",
                                 catalogue.DEFAULT_ENDPOINT_TYPE, ENDPOINT_INSTANCE_TYPES),
    }),
    "grid": {
        "type": ["object", "null"], "default": None, "additionalProperties": False, "required": ["customer_data_percent"],
        "description": "A mixing grid: one training and evaluation per value, each replacing mixing.customer_data_percent. "
                       "null: a single run.",
        "properties": {"customer_data_percent": {
            "type": "array", "items": {"type": "number", "minimum": 0, "maximum": 100}, "minItems": 1, "maxItems": 16,
            "uniqueItems": True, "description": "Customer shares to try, each 0-100, distinct."}},
    },
}


def _fill_block_defaults(schema: dict) -> dict:
    """Give each block the default of its fields' defaults: the validator fills a missing
    property with its default as is, without looking inside it."""
    for field in schema.get("properties", {}).values():
        _fill_block_defaults(field)
        if field.get("type") == "object" and "default" not in field:
            field["default"] = {name: copy.deepcopy(sub["default"]) for name, sub in field["properties"].items()}
    return schema


SCHEMA = _fill_block_defaults({
    "$schema": "http://json-schema.org/draft-07/schema#",
    "title": "OpenForge fine-tuning pipeline input",
    "description": "Start an execution of the pipeline state machine with this. Only job_name and customer_data_s3_uri "
                   "are required; everything else has a default.",
    "type": "object",
    "additionalProperties": False,
    "required": ["job_name", "customer_data_s3_uri"],
    "properties": _TOP_LEVEL,
})


class PipelineInputError(FieldError):
    """A bad pipeline input; the message starts with the field's path."""


@dataclass(frozen=True)
class EnvironmentPolicy:
    """What the deployed environment adds: defaults for the data the platform provides, and
    the limits (cdk.json ``limits`` / ``serving``) every run must keep. None: no limit
    (``hyperpod_cluster`` None: not known here, as in the CLI's check)."""

    base_model_s3_uri: str | None = None
    curated_data_s3_uri: str | None = None
    evaluation_data_s3_uri: str | None = None
    training_instance_types: tuple[str, ...] | None = None
    max_instance_count: int | None = None
    endpoint_instance_types: tuple[str, ...] | None = None
    hyperpod_cluster: bool | None = None  # whether the environment has a HyperPod cluster

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> EnvironmentPolicy:
        """From the function's environment variables (set by the stack); unset or empty: none.
        The stack names a cluster only where it made one."""
        defaults, limits = RunDefaults.from_environment(environ), RunLimits.from_environment(environ)
        return cls(
            base_model_s3_uri=defaults.base_model_s3_uri,
            curated_data_s3_uri=defaults.curated_data_s3_uri,
            evaluation_data_s3_uri=defaults.evaluation_data_s3_uri,
            training_instance_types=limits.training_instance_types,
            max_instance_count=limits.max_instance_count,
            endpoint_instance_types=defaults.endpoint_instance_types,
            hyperpod_cluster=limits.hyperpod_cluster_name is not None,
        )


def normalise(pipeline_input: Mapping, policy: EnvironmentPolicy = EnvironmentPolicy()) -> dict:
    """The input with every default filled (the ``run`` the state machine carries), or
    PipelineInputError naming the first bad field."""
    return parse_run(pipeline_input, policy).to_dict()


def parse_run(pipeline_input: Mapping, policy: EnvironmentPolicy = EnvironmentPolicy()) -> Run:
    """``normalise`` as the typed run."""
    if not isinstance(pipeline_input, Mapping):
        raise PipelineInputError("", f"must be a JSON object, got {_json(pipeline_input)}")
    try:
        result = validate(event=copy.deepcopy(dict(pipeline_input)), schema=SCHEMA)
    except SchemaValidationError as error:
        raise _readable(error) from None
    for field in ("base_model_s3_uri", "curated_data_s3_uri"):
        if result[field] is None:
            result[field] = getattr(policy, field)
    if result["evaluation"]["data_s3_uri"] is None:
        result["evaluation"]["data_s3_uri"] = policy.evaluation_data_s3_uri
    _check_defaults_found(result)
    run = Run.from_dict(result, path="")
    _check_across_fields(run)
    _check_policy(run, policy)
    return run


def _check_defaults_found(run: dict) -> None:
    """The data the environment would give, where the input gave none."""
    if run["base_model_s3_uri"] is None:
        raise PipelineInputError("base_model_s3_uri", "not given, and this environment has no default base model")
    percents = mix_percents(run["mixing"]["customer_data_percent"], (run["grid"] or {}).get("customer_data_percent"))
    if run["curated_data_s3_uri"] is None and any(needs_curated_data(percent) for percent in percents):
        field = "grid.customer_data_percent" if run["grid"] else "mixing.customer_data_percent"
        raise PipelineInputError("curated_data_s3_uri", f"not given, and this environment has no default curated data ({field} leaves a curated share)")
    if run["evaluation"]["data_s3_uri"] is None:
        raise PipelineInputError("evaluation.data_s3_uri", "not given, and this environment has no default evaluation data")


def _check_across_fields(run: Run) -> None:
    _check_grid_labels(run)
    weights = run.mixing.curated_weights
    if weights is not None:
        total = sum(weights.values())
        if not math.isclose(total, 100, abs_tol=1e-6):
            terms = " + ".join(f"{name} {_json(weight)}" for name, weight in weights.items()) or "no categories"
            raise PipelineInputError("mixing.curated_weights", f"weights must sum to 100, got {_json(total)} ({terms})")
        sent = curated_weights_hyperparameter(weights)
        if len(sent) > HYPERPARAMETER_VALUE_MAX_LENGTH:
            raise PipelineInputError("mixing.curated_weights", f"{len(weights)} categories make a {len(sent)}-character hyperparameter; "
                                                               f"SageMaker takes at most {HYPERPARAMETER_VALUE_MAX_LENGTH}: use fewer or shorter categories")
    tuning = run.hyperparameters
    if tuning["global_batch_size"] % tuning["per_device_batch_size"]:
        raise PipelineInputError("hyperparameters.per_device_batch_size",
                                 f"{tuning['per_device_batch_size']} does not divide hyperparameters.global_batch_size {tuning['global_batch_size']}")
    if tuning["max_steps"] < 1 and tuning["num_epochs"] <= 0:
        raise PipelineInputError("hyperparameters.num_epochs", "must be greater than 0 unless hyperparameters.max_steps is set")
    _check_gate_can_pass(run)
    compute = run.compute
    if compute.target == "hyperpod" and compute.instance_type not in HYPERPOD_INSTANCE_TYPES:
        raise PipelineInputError("compute.instance_type", f"{compute.instance_type} is not a HyperPod worker type; "
                                                          f"hyperpod runs on one of {', '.join(HYPERPOD_INSTANCE_TYPES)}")


def _check_gate_can_pass(run: Run) -> None:
    """What the gate would refuse whatever the model does, refused before anything trains:
    no held-out set, or no general benchmark without the waiver (evaluation/gate.py)."""
    benchmarks = run.evaluation.benchmarks
    if "byod" not in benchmarks:
        raise PipelineInputError("evaluation.benchmarks", "must include byod (your held-out set): without it the forgetting gate cannot "
                                                          "tell whether the model learned your task, and refuses every model")
    if set(benchmarks) <= {"byod"} and not run.evaluation.limits.waive_general_check:
        raise PipelineInputError("evaluation.benchmarks", "has no general benchmark (mmlu, ifeval): nothing would show whether the model "
                                                          "forgot, so the gate refuses every model; add one, or set "
                                                          "evaluation.limits.waive_general_check to true")


def _check_grid_labels(run: Run) -> None:
    """Each grid point names its own jobs: two that share a label would share a job name
    (SageMaker refuses the second, or a retry takes the other mix's job for its own)."""
    labelled: dict[str, float] = {}
    for percent in run.grid or ():
        label = percent_label(percent)
        if label in labelled:
            raise PipelineInputError("grid.customer_data_percent", f"{_json(labelled[label])} and {_json(percent)} would give their jobs the "
                                                                   f"same name (...-t{label}-...): grid points must differ in their first six "
                                                                   "significant digits")
        labelled[label] = percent


def _check_policy(run: Run, policy: EnvironmentPolicy) -> None:
    compute, deploy = run.compute, run.deploy
    if compute.target == "hyperpod" and policy.hyperpod_cluster is False:
        raise PipelineInputError("compute.target", "hyperpod: this environment has no HyperPod cluster (cdk.json compute.hyperpod_enabled "
                                                   "is false); use training-job")
    if policy.training_instance_types is not None and compute.instance_type not in policy.training_instance_types:
        raise PipelineInputError("compute.instance_type", f"{compute.instance_type} is not allowed in this environment "
                                                          f"(allowed: {', '.join(policy.training_instance_types)})")
    if policy.max_instance_count is not None and compute.instance_count > policy.max_instance_count:
        raise PipelineInputError("compute.instance_count", f"{compute.instance_count} is more than this environment's limit of {policy.max_instance_count}")
    if deploy.enabled and policy.endpoint_instance_types is not None and deploy.instance_type not in policy.endpoint_instance_types:
        raise PipelineInputError("deploy.instance_type", f"{deploy.instance_type} is not allowed in this environment "
                                                         f"(allowed: {', '.join(policy.endpoint_instance_types)})")


TYPE_NAMES = {"number": "a number", "integer": "a whole number", "string": "a string", "boolean": "true or false",
              "object": "an object", "array": "a list", "null": "null"}


def _readable(error: SchemaValidationError) -> PipelineInputError:
    """The validator's error, said the way a person fixing the input needs it."""
    field = re.sub(r"^data\.?", "", error.name)
    value, rule, limit = error.value, error.rule, error.rule_definition
    child = (field + ".") if field else ""
    if rule == "additionalProperties":
        known = list(error.definition["properties"])
        unknown = sorted(set(value) - set(known))
        return PipelineInputError(child + unknown[0], f"unknown field; expected one of: {', '.join(known)}")
    if rule == "required":
        missing = [name for name in limit if name not in value]
        return PipelineInputError(child + missing[0], "required")
    if rule == "propertyNames":
        pattern = error.definition["propertyNames"]["pattern"]
        bad = next(name for name in value if not re.search(pattern, name))
        return PipelineInputError(field, f"{_json(bad)} is not {PATTERN_HINTS[pattern]}")
    problems = {
        "type": lambda: f"must be {' or '.join(TYPE_NAMES[name] for name in ([limit] if isinstance(limit, str) else limit))}, got {_json(value)}",
        "enum": lambda: f"must be one of {', '.join(limit)}, got {_json(value)}",
        "maximum": lambda: f"{_json(value)} is greater than the maximum of {_json(limit)}",
        "minimum": lambda: f"{_json(value)} is less than the minimum of {_json(limit)}",
        "exclusiveMaximum": lambda: f"{_json(value)} must be less than {_json(limit)}",
        "exclusiveMinimum": lambda: f"{_json(value)} must be greater than {_json(limit)}",
        "pattern": lambda: f"must be {PATTERN_HINTS[limit]}, got {_json(value)}",
        "uniqueItems": lambda: f"values must be distinct, got {_json(value)}",
        "minItems": lambda: f"must list at least {limit}, got {len(value)}",
        "maxItems": lambda: f"must list at most {limit}, got {len(value)}",
        "minLength": lambda: f"must not be empty, got {_json(value)}" if limit == 1 else f"needs at least {limit} characters",
        "maxLength": lambda: f"is {len(value)} characters long; at most {limit} are allowed",
    }
    problem = problems.get(rule)
    return PipelineInputError(field, problem() if problem else re.sub(r"^data\.?\S*\s", "", error.validation_message))


def _json(value) -> str:
    return json.dumps(value, sort_keys=False)


if __name__ == "__main__":
    print(json.dumps(SCHEMA, indent=2))
