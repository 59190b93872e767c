"""ValidateInput's capacity check: read the base model's ``config.json`` (a few KB; no
weights) and plan what the run needs per device on the instances it asks for
(openforge_contract.capacity). A run that cannot fit is refused here, naming the fix,
before any instance is paid for; a run that fits carries the plan in its run plan, so the
summary can show planned against actual.

A model whose architecture the plan cannot size (not Llama, Mistral, Qwen2 or Qwen3) is not
refused: the container trains any causal LM; the plan then says it was not checked, and why.
A config.json that cannot be read, or holds values no model can have, and LoRA targets that
name no module LoRA can adapt, are refused with the field to fix.
"""
from __future__ import annotations

import json

from openforge_contract.capacity import InvalidModelConfig, UnknownLoraTargets, UnsupportedModel
from openforge_contract.capacity_plan import TrainingPlan, plan_for_hyperparameters
from openforge_contract.s3_layout import MODEL_CONFIG
from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError
from openforge_lambda.run import Run
from openforge_lambda.s3_streams import split_s3_uri

MAX_MODEL_CONFIG_BYTES = 1024 * 1024  # real ones are a few KB; more is not a model configuration
CAPACITY_FIELD = "capacity"  # the verdict's field for a run that does not fit: the fix may be in method, hyperparameters or compute


def model_config_key(base_model_s3_uri: str) -> tuple[str, str]:
    bucket, key = split_s3_uri(base_model_s3_uri)
    return bucket, f"{key.rstrip('/')}/{MODEL_CONFIG}" if key.strip("/") else MODEL_CONFIG


def read_model_config(s3, base_model_s3_uri: str) -> dict:
    """The base model's config.json as a dict; a missing or unreadable one is the input's fault
    (the base model must be a Hugging Face model folder), named with its location."""
    from botocore.exceptions import ClientError

    bucket, key = model_config_key(base_model_s3_uri)
    where = f"s3://{bucket}/{key}"
    empty = f"{where} is empty: the base model's config.json must describe the model (the file saved with it)"
    try:
        body = s3.get_object(Bucket=bucket, Key=key, Range=f"bytes=0-{MAX_MODEL_CONFIG_BYTES}")["Body"].read()
    except ClientError as error:
        code = error.response["Error"]["Code"]
        if code == "InvalidRange":  # S3's answer to a ranged GET of a 0-byte object
            raise PipelineInputError("base_model_s3_uri", empty) from None
        if code in ("NoSuchKey", "404"):
            raise PipelineInputError("base_model_s3_uri", f"no {MODEL_CONFIG} at {where}: the base model must be a Hugging Face model "
                                                          "folder (config.json, *.safetensors, tokenizer files)") from None
        if code == "AccessDenied":  # the function may read only base-models/<folder>/config.json (s3_layout.BASE_MODEL_CONFIGS)
            raise PipelineInputError("base_model_s3_uri", f"cannot read {where} ({code}): give the model's own folder under "
                                                          "the base models prefix, e.g. s3://<artifacts bucket>/base-models/<model>/") from None
        raise
    if len(body) > MAX_MODEL_CONFIG_BYTES:
        raise PipelineInputError("base_model_s3_uri", f"{where} is larger than {MAX_MODEL_CONFIG_BYTES} bytes: not a model configuration")
    if not body:
        raise PipelineInputError("base_model_s3_uri", empty)
    try:
        config = json.loads(body)
    except (ValueError, RecursionError) as error:  # not UTF-8 or not JSON; an integer too long to convert; nesting too deep
        reason = "nested too deeply" if isinstance(error, RecursionError) else str(error)
        raise PipelineInputError("base_model_s3_uri", f"{where} is not valid JSON ({reason})") from None
    if not isinstance(config, dict):
        raise PipelineInputError("base_model_s3_uri", f"{where} must be a JSON object, got {type(config).__name__}")
    return config


def plan_for(run: Run, model_config: dict, policy: EnvironmentPolicy | None = None) -> TrainingPlan:
    """The capacity plan of this run on the instances it asks for (fixes within the
    environment's ``max_instance_count`` and ``training_instance_types``); UnsupportedModel for an architecture the plan does
    not size; PipelineInputError for a config.json value no model has (base_model_s3_uri) or
    LoRA targets naming no module LoRA adapts (hyperparameters.lora_target_modules)."""
    try:
        return plan_for_hyperparameters(
            model_config, run.hyperparameters, method=run.method, instance_type=run.compute.instance_type, instance_count=run.compute.instance_count,
            max_instance_count=policy.max_instance_count if policy else None,
            training_instance_types=policy.training_instance_types if policy else None,
        )
    except InvalidModelConfig as error:
        raise PipelineInputError("base_model_s3_uri", f"{MODEL_CONFIG}: {error}") from None
    except UnknownLoraTargets as error:
        raise PipelineInputError("hyperparameters.lora_target_modules", str(error)) from None


def capacity_plan(run: Run, model_config: dict, policy: EnvironmentPolicy | None = None) -> dict:
    """The run plan's ``capacity``: the plan (``TrainingPlan.to_dict()``) with "checked": true,
    or {"checked": false, "reason"} for an architecture the plan does not size. Raises
    PipelineInputError, naming the fixes (within the environment's limits), when the run
    cannot start."""
    try:
        plan = plan_for(run, model_config, policy)
    except UnsupportedModel as error:
        return {"checked": False, "reason": f"capacity not checked: {error}"}
    if plan.problems:
        raise PipelineInputError(CAPACITY_FIELD, plan.refusal())
    return {"checked": True, **plan.to_dict()}
