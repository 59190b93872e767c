"""The environment variables the CDK app sets on each Lambda function, said once with how
each value is written and read back.

Each group below is a frozen dataclass whose fields name their variables. The constructs
(constructs/fine_tuning_pipeline/, constructs/sanitisation_workflow.py) build a group from
the stack's values and set ``as_environment()`` on the function; the handlers (lambda/*/handler.py,
through openforge_lambda) read it back once per cold start with ``from_environment(os.environ)``,
which raises ``MissingSetting`` naming the variable when the function was deployed without it.
The local runner (pipeline/local/) builds the same groups with local stand-ins.

    group             set on                                        read by
    PlatformBuckets   ValidateInput, StartTrainingJob               run_plan.PlatformLocations
    RunLimits         ValidateInput, StartTrainingJob               pipeline_input.EnvironmentPolicy
    RunDefaults       ValidateInput                                 PlatformLocations, EnvironmentPolicy
    TrainingEnvironment  StartTrainingJob, CheckTrainingJob, CleanUpRun   training_job, hyperpod
    HyperPodCluster   the same, where the environment has a cluster hyperpod, CleanUpRun
    ServingSettings   DeployEndpoint, CleanUpRun                    endpoint.ServingEnvironment
    EndpointNamespace DeployEndpoint, CleanUpRun, CleanUpEndedRun   endpoint.Ownership
    EndedRunSettings  CleanUpEndedRun                               its handler
    OutputKey         PickModel and the sanitisation functions      their handlers

Also here: the training container's own variables that the local runner sets too.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import MISSING, dataclass, field, fields

from openforge_contract import naming

VARIABLE = "environment_variable"  # the field metadata that names a field's variable
HYPERPOD_CLUSTER_NAME = "HYPERPOD_CLUSTER_NAME"  # in several groups: set only where the environment has a cluster
# The training container's instance type on HyperPod, exported by the Slurm batch script (a
# SageMaker training job's resourceconfig.json says it as current_instance_type).
TRAINING_INSTANCE_TYPE_VARIABLE = "OPENFORGE_INSTANCE_TYPE"
# The platform's defaults where cdk.json (platform_config/environments.py), a function's variables
# or the sanitiser's command line say nothing.
DEFAULT_POLL_SECONDS = 60
DEFAULT_MAX_QUARANTINE_PERCENT = 5.0


class MissingSetting(RuntimeError):
    """A variable the function needs is not set, or not as the stack writes it: a deployment
    fault, not the request's."""


@dataclass(frozen=True)
class _Kind:
    """How a value is written as a variable and read back."""

    write: Callable[[object, Callable[[Iterable[str]], str]], str]
    read: Callable[[str, str], object]  # (variable name, its text)


def _whole(what: str, minimum: int | None = None) -> _Kind:
    def read(name: str, text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or (minimum is not None and value < minimum):
            raise MissingSetting(f"environment variable {name} must be {what}, got {text!r}")
        return value

    return _Kind(lambda value, join: str(value), read)


def _number(name: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise MissingSetting(f"environment variable {name} must be a number, got {text!r}") from None


def _json(name: str, text: str):
    try:
        return json.loads(text)
    except ValueError:
        raise MissingSetting(f"environment variable {name} is not JSON: {text!r}") from None


TEXT = _Kind(lambda value, join: value, lambda name, text: text)
# Comma-separated, blanks dropped (subnet ids, security groups, instance types, buckets).
LIST = _Kind(lambda values, join: join(values), lambda name, text: tuple(item.strip() for item in text.split(",") if item.strip()))
WHOLE = _whole("a whole number")
SECONDS = _whole("a whole number of seconds", minimum=1)
NUMBER = _Kind(lambda value, join: str(value), _number)
JSON = _Kind(lambda value, join: json.dumps(value, sort_keys=True), _json)


def variable(name: str, kind: _Kind = TEXT, **default):
    """A field read from (and written to) the environment variable ``name``; with a
    ``default`` (or ``default_factory``), an unset or empty variable is that default."""
    return field(metadata={VARIABLE: (name, kind)}, **default)


class _Variables:
    """What every group of variables can do; its dataclass fields name the variables."""

    def as_environment(self, join: Callable[[Iterable[str]], str] = ",".join) -> dict[str, str]:
        """The variables to set on a function; a None field is left unset. ``join`` writes a
        list: the CDK app passes Fn.join, so a list of deploy-time tokens stays one Fn::Join."""
        environment = {}
        for item in fields(self):
            value = getattr(self, item.name)
            if value is not None:
                name, kind = item.metadata[VARIABLE]
                environment[name] = kind.write(value, join)
        return environment

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]):
        """The group as set on this function; MissingSetting names the first variable that is
        required and not set (or empty), or not as the stack writes it."""
        values = {}
        for item in fields(cls):
            name, kind = item.metadata[VARIABLE]
            required = item.default is MISSING and item.default_factory is MISSING
            text = environ.get(name)
            if not text:
                if required:
                    raise MissingSetting(f"environment variable {name} is not set on this function")
                continue
            value = kind.read(name, text)
            if required and value == ():
                raise MissingSetting(f"environment variable {name} lists nothing on this function")
            values[item.name] = value
        return cls(**values)

    @classmethod
    def variable_name(cls, field_name: str) -> str:
        """The environment variable that carries ``field_name`` (for readers that check a
        function's variables from outside, such as the security review)."""
        return next(item.metadata[VARIABLE][0] for item in fields(cls) if item.name == field_name)

    @classmethod
    def is_set(cls, environ: Mapping[str, str]) -> bool:
        """Whether any of the group's variables is set: a group a function has only in some
        environments (the cluster's, the endpoint namespace) is there whole or not at all."""
        return any(environ.get(item.metadata[VARIABLE][0]) for item in fields(cls))


@dataclass(frozen=True)
class PlatformBuckets(_Variables):
    """The platform's two buckets, where every run reads and writes (s3_layout)."""

    datasets: str = variable("DATASETS_BUCKET")
    artifacts: str = variable("ARTIFACTS_BUCKET")


@dataclass(frozen=True)
class RunLimits(_Variables):
    """What the environment allows a run (cdk.json ``limits``), checked by ValidateInput and
    again by StartTrainingJob. Unset: no limit; no cluster name: no hyperpod runs."""

    training_instance_types: tuple[str, ...] | None = variable("TRAINING_INSTANCE_TYPES", LIST, default=None)
    max_instance_count: int | None = variable("MAX_INSTANCE_COUNT", WHOLE, default=None)
    hyperpod_cluster_name: str | None = variable(HYPERPOD_CLUSTER_NAME, default=None)


@dataclass(frozen=True)
class RunDefaults(_Variables):
    """ValidateInput's: how often a run's loops poll, the quarantine limit, what a run reads
    unless its input says otherwise, and the endpoint types it may deploy on (unset: any)."""

    poll_seconds: int = variable("POLL_SECONDS", WHOLE, default=DEFAULT_POLL_SECONDS)
    max_quarantine_percent: float = variable("MAX_QUARANTINE_PERCENT", NUMBER, default=DEFAULT_MAX_QUARANTINE_PERCENT)
    base_model_s3_uri: str | None = variable("DEFAULT_BASE_MODEL_S3_URI", default=None)
    curated_data_s3_uri: str | None = variable("DEFAULT_CURATED_DATA_S3_URI", default=None)
    evaluation_data_s3_uri: str | None = variable("DEFAULT_EVALUATION_DATA_S3_URI", default=None)
    endpoint_instance_types: tuple[str, ...] | None = variable("ENDPOINT_INSTANCE_TYPES", LIST, default=None)


@dataclass(frozen=True)
class TrainingEnvironment(_Variables):
    """What a step's jobs run with: the images, the role, the network, the key, tracking and
    the longest a job may run."""

    gpu_image_uri: str = variable("TRAINING_IMAGE_URI_GPU")
    neuron_image_uri: str = variable("TRAINING_IMAGE_URI_NEURON")
    role_arn: str = variable("TRAINING_ROLE_ARN")
    subnet_ids: tuple[str, ...] = variable("TRAINING_SUBNET_IDS", LIST)
    security_group_ids: tuple[str, ...] = variable("TRAINING_SECURITY_GROUP_IDS", LIST)
    kms_key_id: str = variable("TRAINING_KMS_KEY_ARN")
    mlflow_tracking_server_arn: str = variable("MLFLOW_TRACKING_SERVER_ARN")
    max_runtime_seconds: int = variable("MAX_RUNTIME_SECONDS", SECONDS)


@dataclass(frozen=True)
class HyperPodCluster(_Variables):
    """The environment's HyperPod cluster: its name, the bucket its job specs go to
    (hyperpod/<cluster>/ in the artifacts bucket), and the buckets a job may use."""

    cluster_name: str = variable(HYPERPOD_CLUSTER_NAME)
    jobs_bucket: str = variable("HYPERPOD_JOBS_BUCKET")
    buckets: tuple[str, ...] = variable("HYPERPOD_BUCKETS", LIST)


@dataclass(frozen=True)
class ServingSettings(_Variables):
    """Where and as whom a private endpoint runs, and its serving container's settings."""

    image_uri: str = variable("SERVING_IMAGE_URI")
    role_arn: str = variable("SERVING_ROLE_ARN")
    subnet_ids: tuple[str, ...] = variable("ENDPOINT_SUBNET_IDS", LIST)
    security_group_ids: tuple[str, ...] = variable("ENDPOINT_SECURITY_GROUP_IDS", LIST)
    kms_key_id: str = variable("ENDPOINT_KMS_KEY_ARN")
    container_environment: dict = variable("SERVING_CONTAINER_ENVIRONMENT", JSON, default_factory=dict)


@dataclass(frozen=True)
class EndpointNamespace(_Variables):
    """The environment's endpoints: named under ``name_prefix`` and tagged ``owner_tags``; IAM
    lets the pipeline change only those (naming.endpoint_name_prefix, naming.owner_tags)."""

    name_prefix: str = variable("ENDPOINT_NAME_PREFIX")
    owner_tags: dict = variable("ENDPOINT_OWNER_TAGS", JSON)

    @classmethod
    def of(cls, environment: str) -> EndpointNamespace:
        return cls(naming.endpoint_name_prefix(environment), naming.owner_tags(environment))


@dataclass(frozen=True)
class EndedRunSettings(_Variables):
    """CleanUpEndedRun's: the topic it notifies, and the cluster where runs may use one."""

    topic_arn: str = variable("TOPIC_ARN")
    hyperpod_cluster_name: str | None = variable(HYPERPOD_CLUSTER_NAME, default=None)


@dataclass(frozen=True)
class OutputKey(_Variables):
    """The key a function's S3 outputs are encrypted under (the bucket's own)."""

    kms_key_id: str = variable("OUTPUT_KMS_KEY_ID")


# The training container's own variables, which the local runner (pipeline/local/jobs.py) sets
# for the container it runs: SageMaker sets the job's name in a training job's container, and
# the image bakes the commit in (training_container/Dockerfile*: a build argument of the image).
TRAINING_JOB_NAME = "TRAINING_JOB_NAME"
OPENFORGE_COMMIT = "OPENFORGE_COMMIT"
