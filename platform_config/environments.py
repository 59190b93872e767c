"""Per-environment settings from cdk.json context, parsed into one typed, frozen object.

Every check lives here so a bad value stops `cdk synth` with a single message that names
the key (``environments.prod.compute.gpu_workers.count: ...``), before any construct is
built. Nothing here calls AWS: accounts, regions and zones are plain configuration.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from openforge_contract import instance_catalogue as catalogue
from openforge_contract.environment_variables import DEFAULT_MAX_QUARANTINE_PERCENT, DEFAULT_POLL_SECONDS

# Instance types the platform knows how to run, from the instance catalogue the Lambdas read
# too. A typo (ml.p5.48xlarg) or a type from the wrong family fails synth instead of failing a
# deploy an hour later.
GPU_TRAINING_TYPES = frozenset(catalogue.GPU_TRAINING_TYPES)
TRAINIUM_TRAINING_TYPES = frozenset(catalogue.TRAINIUM_TRAINING_TYPES)
CONTROLLER_TYPES = frozenset(catalogue.CONTROLLER_TYPES)
ENDPOINT_TYPES = frozenset(catalogue.ENDPOINT_TYPES)
TRAINING_JOB_TYPES = frozenset(catalogue.TRAINING_JOB_TYPES)

# Values CloudWatch Logs accepts for RetentionInDays.
LOG_RETENTION_DAYS = (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653)

_ACCOUNT = re.compile(r"^\d{12}$")
_REGION = re.compile(r"^[a-z]{2}(-gov|-iso[a-z]*)?-[a-z]+-\d$")
_TRAINING_PLAN_ARN = re.compile(r"^arn:aws[a-z-]*:sagemaker:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):training-plan/[A-Za-z0-9][A-Za-z0-9-]{0,62}$")
_ENV_NAME = re.compile(r"^[a-z][a-z0-9-]{0,11}$")  # bucket names must stay under 63 characters


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True)


def _one_of(allowed: frozenset[str], what: str):
    def check(value: str) -> str:
        if value not in allowed:
            raise ValueError(f"unknown {what} {value!r}; expected one of: {', '.join(sorted(allowed))}")
        return value

    return check


class WorkerGroup(_Strict):
    """One HyperPod worker group. A count of 0 keeps the group declared so it can be scaled."""

    instance_type: str
    count: Annotated[int, Field(ge=0, le=512)] = 0
    training_plan_arn: str | None = Field(default=None, description="SageMaker Training Plan that reserves the capacity")


class GpuWorkers(WorkerGroup):
    instance_type: str = catalogue.DEFAULT_GPU_TRAINING_TYPE
    _check_type = field_validator("instance_type")(_one_of(GPU_TRAINING_TYPES, "GPU instance type"))


class TrainiumWorkers(WorkerGroup):
    instance_type: str = catalogue.DEFAULT_TRAINIUM_TRAINING_TYPE
    _check_type = field_validator("instance_type")(_one_of(TRAINIUM_TRAINING_TYPES, "Trainium instance type"))


class Controller(_Strict):
    instance_type: str = "ml.m5.2xlarge"
    _check_type = field_validator("instance_type")(_one_of(CONTROLLER_TYPES, "controller instance type"))


class Compute(_Strict):
    hyperpod_enabled: bool = Field(default=True, description="false: this environment creates no cluster")
    controller: Controller = Controller()
    gpu_workers: GpuWorkers = GpuWorkers()
    trainium_workers: TrainiumWorkers = TrainiumWorkers()
    node_volume_size_gb: Annotated[int, Field(ge=100, le=16384)] = 500


class Network(_Strict):
    vpc_cidr: str = "10.40.0.0/16"
    az_count: Annotated[int, Field(ge=2, le=6)] = 2
    availability_zones: tuple[str, ...] | None = Field(default=None, description="explicit zone names; default <region>a, <region>b, ...")
    s3_prefix_list_id: str = Field(description="the region's com.amazonaws.<region>.s3 managed prefix list, for security-group egress to the gateway endpoint")

    @field_validator("vpc_cidr")
    @classmethod
    def _cidr(cls, value: str) -> str:
        match = re.fullmatch(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})/(\d{1,2})", value)
        if not match or any(int(octet) > 255 for octet in match.groups()[:4]) or not 16 <= int(match.group(5)) <= 20:
            raise ValueError(f"{value!r} is not an IPv4 CIDR with a /16 to /20 mask")
        return value

    @field_validator("s3_prefix_list_id")
    @classmethod
    def _prefix_list(cls, value: str) -> str:
        if not re.fullmatch(r"pl-[0-9a-f]{8,17}", value):
            raise ValueError(f"{value!r} is not a prefix list id (pl-...)")
        return value

    @model_validator(mode="after")
    def _zones_match_count(self) -> Network:
        if self.availability_zones is not None and len(self.availability_zones) != self.az_count:
            raise ValueError(f"availability_zones lists {len(self.availability_zones)} zones but az_count is {self.az_count}")
        return self


# Hugging Face TGI (AWS Deep Learning Container): serves the merged weights the training
# job writes, from /opt/ml/model; pulled through the VPC's ECR endpoints.
DEFAULT_SERVING_IMAGE = "763104351884.dkr.ecr.{region}.amazonaws.com/huggingface-pytorch-tgi-inference:2.6.0-tgi3.2.3-gpu-py311-cu124-ubuntu22.04"
_ECR_IMAGE = re.compile(r"^(?P<account>\d{12})\.dkr\.ecr\.(?P<region>[a-z0-9-]+)\.amazonaws\.com/(?P<repository>[a-z0-9._/-]+)[:@][\w.:-]+$")


class Serving(_Strict):
    endpoint_instance_types: tuple[str, ...] = (catalogue.DEFAULT_ENDPOINT_TYPE,)
    image_uri: str = Field(default=DEFAULT_SERVING_IMAGE, description="ECR image serving the tuned model; {region} is filled in")
    # TGI loads the merged weights SageMaker copies to /opt/ml/model; SM_NUM_GPUS is set per instance type at deploy.
    container_environment: dict[str, str] = Field(default_factory=lambda: {"HF_MODEL_ID": "/opt/ml/model", "MAX_INPUT_TOKENS": "4096",
                                                                           "MAX_TOTAL_TOKENS": "8192"})

    @field_validator("image_uri")
    @classmethod
    def _image(cls, value: str) -> str:
        if not _ECR_IMAGE.fullmatch(value.replace("{region}", "us-east-1")):
            raise ValueError(f"{value!r} is not an ECR image URI (<account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag>); "
                             "the VPC reaches ECR only")
        return value

    @field_validator("endpoint_instance_types")
    @classmethod
    def _types(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        if not values:
            raise ValueError("list at least one endpoint instance type")
        for value in values:
            _one_of(ENDPOINT_TYPES, "endpoint instance type")(value)
        return values


class Limits(_Strict):
    max_training_hours: Annotated[int, Field(ge=1, le=672)] = 24  # SageMaker's MaxRuntimeInSeconds cap is 28 days
    max_instance_count: Annotated[int, Field(ge=1, le=512)] = 4
    training_instance_types: tuple[str, ...] = (catalogue.DEFAULT_GPU_TRAINING_TYPE, catalogue.DEFAULT_TRAINIUM_TRAINING_TYPE)

    @field_validator("training_instance_types")
    @classmethod
    def _types(cls, values: tuple[str, ...]) -> tuple[str, ...]:
        for value in values:
            _one_of(TRAINING_JOB_TYPES, "training instance type")(value)
        return values


class Retention(_Strict):
    log_retention_days: int = 365
    noncurrent_version_days: Annotated[int, Field(ge=1, le=3650)] = 90
    keep_data_on_stack_delete: bool = Field(default=True, description="RETAIN buckets and keys when the stack is deleted")

    @field_validator("log_retention_days")
    @classmethod
    def _log_days(cls, value: int) -> int:
        if value not in LOG_RETENTION_DAYS:
            raise ValueError(f"{value} is not a CloudWatch Logs retention; choose one of {LOG_RETENTION_DAYS}")
        return value


class Tracking(_Strict):
    server_size: Literal["Small", "Medium", "Large"] = "Small"
    mlflow_version: str | None = None
    weekly_maintenance_window_start: str = "Sun:02:00"


class Pipeline(_Strict):
    poll_seconds: Annotated[int, Field(ge=5, le=3600)] = DEFAULT_POLL_SECONDS
    max_parallel_runs: Annotated[int, Field(ge=1, le=16)] = 4  # trainings of one mixing grid at once


class Sanitisation(_Strict):
    max_concurrency: Annotated[int, Field(ge=1, le=1000)] = 40
    shard_memory_mb: Annotated[int, Field(ge=1024, le=10240)] = 3008
    max_quarantine_percent: Annotated[float, Field(ge=0, le=100)] = DEFAULT_MAX_QUARANTINE_PERCENT


class EnvironmentConfig(_Strict):
    name: str
    account: str
    region: str
    network: Network
    compute: Compute = Compute()
    serving: Serving = Serving()
    limits: Limits = Limits()
    retention: Retention = Retention()
    tracking: Tracking = Tracking()
    sanitisation: Sanitisation = Sanitisation()
    pipeline: Pipeline = Pipeline()

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        if not _ACCOUNT.fullmatch(value):
            raise ValueError(f"{value!r} is not a 12-digit AWS account id")
        return value

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        if not _REGION.fullmatch(value):
            raise ValueError(f"{value!r} is not an AWS region name like us-east-1")
        return value

    @model_validator(mode="after")
    def _cross_checks(self) -> EnvironmentConfig:
        for group_key in ("gpu_workers", "trainium_workers"):
            arn = getattr(self.compute, group_key).training_plan_arn
            if arn is None:
                continue
            match = _TRAINING_PLAN_ARN.fullmatch(arn)
            where = f"compute.{group_key}.training_plan_arn"
            if not match:
                raise _KeyedError(where, f"{arn!r} is not a training plan ARN (arn:aws:sagemaker:<region>:<account>:training-plan/<name>)")
            if match["region"] != self.region or match["account"] != self.account:
                raise _KeyedError(where, f"{arn!r} belongs to {match['account']}/{match['region']}, not this environment's {self.account}/{self.region}")
        for zone in self.availability_zones:
            if not zone.startswith(self.region):
                raise _KeyedError("network.availability_zones", f"zone {zone!r} is not in region {self.region}")
        return self

    @property
    def availability_zones(self) -> tuple[str, ...]:
        if self.network.availability_zones is not None:
            return self.network.availability_zones
        return tuple(f"{self.region}{letter}" for letter in "abcdef"[: self.network.az_count])

    @property
    def serving_image_uri(self) -> str:
        return self.serving.image_uri.replace("{region}", self.region)

    @property
    def has_cluster(self) -> bool:
        return self.compute.hyperpod_enabled


class ConfigError(ValueError):
    """A bad value in cdk.json; the message names the key."""


class _KeyedError(ValueError):
    """Raised inside a model validator to point at a nested key instead of the model."""

    def __init__(self, key: str, message: str):
        super().__init__(message)
        self.key = key


def load_environment(context: dict[str, Any], env_name: str | None) -> EnvironmentConfig:
    """Pick `env_name` out of the `environments` context block and validate it."""
    environments = context.get("environments")
    if not isinstance(environments, dict) or not environments:
        raise ConfigError("environments: cdk.json context must define at least one environment")
    if not env_name:
        raise ConfigError(f"env: no environment chosen; pass -c env=<{'|'.join(environments)}>")
    if env_name not in environments:
        raise ConfigError(f"env: unknown environment {env_name!r}; cdk.json defines {', '.join(environments)}")
    if not _ENV_NAME.fullmatch(env_name):
        raise ConfigError(f"environments.{env_name}: name must be lower-case letters, digits and '-', at most 12 characters")
    raw = environments[env_name]
    if not isinstance(raw, dict):
        raise ConfigError(f"environments.{env_name}: expected an object, got {type(raw).__name__}")
    try:
        # JSON mode: strict types as written in cdk.json ("2" is not a count), arrays as tuples.
        return EnvironmentConfig.model_validate_json(json.dumps({"name": env_name, **raw}))
    except ValidationError as error:
        raise ConfigError(_first_error(env_name, error)) from None


def _first_error(env_name: str, error: ValidationError) -> str:
    detail = error.errors(include_url=False)[0]
    location = [str(part) for part in detail["loc"]]
    message = detail["msg"].removeprefix("Value error, ")
    cause = detail.get("ctx", {}).get("error")
    if isinstance(cause, _KeyedError):
        location, message = cause.key.split("."), str(cause)
    elif detail["type"] == "extra_forbidden":
        message = "unknown key (check the spelling against docs/configuration.md)"
    elif detail["type"] == "missing":
        message = "missing required key"
    elif "input" in detail and detail["type"] not in ("value_error",):
        message = f"{message} (got {detail['input']!r})"
    return f"environments.{env_name}.{'.'.join(location)}: {message}"
