"""Deploy a tuned model to a private SageMaker endpoint (its status: ``endpoint_status``; its
roll back: ``endpoint_rollback``).

Endpoints live in the environment's namespace: the name a run asks for is put under the
stack's prefix (``openforge-<env>-``), and every endpoint, endpoint config and model made
here carries the stack's ownership tags. IAM lets the pipeline change only resources with
that prefix and those tags; an existing endpoint without them is refused before anything
is made, so a job named like another team's endpoint cannot replace it.

One model and one endpoint config per (endpoint, execution), named from both with a short
hash, so a Step Functions retry finds what an earlier attempt made instead of failing on
"already exists". An existing endpoint is updated; the config it served before is written
on the new config as a tag, so a retry after the update still knows what to roll back to.
A deployment whose call fails removes its model and config again; the clean-up finds them
by their derived names when the failed state left no deployment record
(``endpoint_rollback.find_deployment``).

Private and encrypted is not optional: a request without subnets, security groups or a
KMS key is refused, naming the field. Plain boto3 (no sagemaker SDK in a Lambda).
"""
from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from hyperpod_jobs import sagemaker_limits

from openforge_contract.environment_variables import EndpointNamespace, ServingSettings
from openforge_contract.instance_catalogue import NVIDIA, UnknownInstanceType, lookup, volume_kms_key_allowed
from openforge_contract.naming import TAG_NAMESPACE
from openforge_lambda.sagemaker_calls import delete, describe, tag_value
from openforge_lambda.settings import FieldError

log = logging.getLogger(__name__)
# SageMaker's limit and pattern for endpoint, endpoint config and model names (botocore's model:
# EndpointName, EndpointConfigName max 63, [a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}; ModelName's pattern admits the same names).
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpoint.html
NAME_LIMIT = sagemaker_limits.NAME_MAX_LENGTH
NAME_PATTERN = re.compile(f"^{sagemaker_limits.NAME}$")
REQUESTED_NAME_PATTERN = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9])*")  # the same, before the prefix and the cut to 63
HASH_LENGTH = 8
VARIANT_NAME = "AllTraffic"
PREVIOUS_CONFIG_TAG = f"{TAG_NAMESPACE}previous-endpoint-config"
# UpdateEndpoint is refused in every other state.
UPDATABLE_STATES = ("InService",)
SETTLED_STATES = ("InService", "Failed", "OutOfService", "UpdateRollbackFailed")
# CheckEndpoint's status when the endpoint is InService on a config other than the one deployed:
# SageMaker rolled a failed update back (its FailureReason says why).
UPDATE_ROLLED_BACK = "UpdateRolledBack"


def gpu_count(instance_type: str) -> int | None:
    """GPUs of an instance, for the serving container's tensor parallelism (TGI's
    SM_NUM_GPUS); None for instances without GPUs (inf2, m5, c5)."""
    instance = lookup(instance_type)
    return instance.accelerator_count if instance.accelerator == NVIDIA else None


class DeploymentRefused(FieldError):
    """A request that would not give a private, encrypted endpoint; names the field."""


class DeploymentConflict(RuntimeError):
    """A resource with this deployment's derived name exists but was made from other inputs."""


@dataclass(frozen=True)
class Ownership:
    """What makes an endpoint, endpoint config or model this environment's: its name starts
    with ``name_prefix`` and it carries ``tags``. Both are the stack's (ENDPOINT_NAME_PREFIX,
    ENDPOINT_OWNER_TAGS), which writes the same values into the IAM conditions."""

    name_prefix: str
    tags: dict

    @classmethod
    def from_mapping(cls, settings: Mapping) -> Ownership:
        prefix, tags = settings.get("endpoint_name_prefix"), settings.get("owner_tags")
        # Lower case: SageMaker writes resource names in lower case in their ARNs, which IAM matches.
        if not isinstance(prefix, str) or not re.fullmatch(r"[a-z0-9]+(-+[a-z0-9]+)*-", prefix):
            raise DeploymentRefused("endpoint_name_prefix", f"required: lower-case letters, digits and hyphens ending in '-', got {prefix!r}")
        if not isinstance(tags, Mapping) or not tags or not all(isinstance(k, str) and isinstance(v, str) and k and v for k, v in tags.items()):
            raise DeploymentRefused("owner_tags", f"required: a non-empty object of tag keys to values, got {tags!r}")
        return cls(prefix, dict(tags))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Ownership:
        namespace = EndpointNamespace.from_environment(environ)
        return cls.from_mapping({"endpoint_name_prefix": namespace.name_prefix, "owner_tags": namespace.owner_tags})

    def endpoint_name(self, requested: str) -> str:
        """``requested`` (the run's job name) in this environment's namespace, in lower case
        (SageMaker's names are case-insensitive); past 63 characters, cut and a hash of the
        whole added, so two long names still differ."""
        full = f"{self.name_prefix}{requested}".lower()
        if len(full) <= NAME_LIMIT:
            return full
        digest = hashlib.sha256(full.encode()).hexdigest()[:HASH_LENGTH]
        return f"{full[:NAME_LIMIT - HASH_LENGTH - 1].rstrip('-')}-{digest}"

    def tag_list(self) -> list[dict]:
        return [{"Key": key, "Value": value} for key, value in sorted(self.tags.items())]

    def missing(self, tags: list[dict]) -> list[str]:
        """The ownership tags (key=value) that ``tags`` lacks."""
        present = {tag["Key"]: tag.get("Value") for tag in tags}
        return [f"{key}={value}" for key, value in sorted(self.tags.items()) if present.get(key) != value]


@dataclass(frozen=True)
class ServingEnvironment:
    """What the stack sets on the deploy function: where and as whom the endpoint runs."""

    image_uri: str
    role_arn: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    kms_key_id: str
    endpoint_name_prefix: str
    owner_tags: dict
    container_environment: dict | None = None  # the serving image's settings (SERVING_CONTAINER_ENVIRONMENT, JSON)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> ServingEnvironment:
        serving, ownership = ServingSettings.from_environment(environ), Ownership.from_environment(environ)
        return cls(
            image_uri=serving.image_uri,
            role_arn=serving.role_arn,
            subnet_ids=serving.subnet_ids,
            security_group_ids=serving.security_group_ids,
            kms_key_id=serving.kms_key_id,
            endpoint_name_prefix=ownership.name_prefix,
            owner_tags=ownership.tags,
            container_environment=serving.container_environment,
        )


# What DeployEndpoint's event says (the state machine's parameters); the rest is the function's environment.
DEPLOY_EVENT_FIELDS = ("endpoint_name", "execution_name", "model_data_s3_uri", "instance_type", "instance_count")


@dataclass(frozen=True)
class DeployRequest:
    endpoint_name: str  # in the environment's namespace (Ownership.endpoint_name of the name asked for)
    ownership: Ownership
    execution_name: str
    model_data_s3_uri: str
    image_uri: str
    role_arn: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    kms_key_id: str
    instance_type: str
    instance_count: int = 1
    container_environment: dict | None = None

    @classmethod
    def from_event(cls, event: Mapping, serving: ServingEnvironment) -> DeployRequest:
        """DeployEndpoint's event on the function's environment."""
        return cls.from_mapping({**asdict(serving), **{field: event[field] for field in DEPLOY_EVENT_FIELDS if field in event}})

    @classmethod
    def from_mapping(cls, request: Mapping) -> DeployRequest:
        """Checked field by field; DeploymentRefused names the first one missing or wrong."""
        def text(field: str) -> str:
            value = request.get(field)
            if not isinstance(value, str) or not value.strip():
                raise DeploymentRefused(field, "required" if value in (None, "") else f"must be a non-empty string, got {value!r}")
            return value.strip()

        def ids(field: str) -> tuple[str, ...]:
            value = request.get(field)
            if isinstance(value, str):
                value = value.split(",")
            items = tuple(item.strip() for item in value or () if isinstance(item, str) and item.strip())
            if not items:
                raise DeploymentRefused(field, "required: the endpoint runs only inside the VPC")
            return items

        requested = text("endpoint_name")
        ownership = Ownership.from_mapping(request)
        endpoint_name = ownership.endpoint_name(requested)
        if not REQUESTED_NAME_PATTERN.fullmatch(requested) or not NAME_PATTERN.match(endpoint_name):
            raise DeploymentRefused("endpoint_name", f"must be letters, digits or hyphens, starting and ending with a letter or digit, "
                                                     f"got {requested!r}")
        model_data = text("model_data_s3_uri")
        if not model_data.startswith("s3://"):
            raise DeploymentRefused("model_data_s3_uri", f"must be an S3 URI, got {model_data!r}")
        count = request.get("instance_count", 1)
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            raise DeploymentRefused("instance_count", f"must be a whole number of at least 1, got {count!r}")
        if not request.get("kms_key_id"):
            raise DeploymentRefused("kms_key_id", "required: the endpoint's volume is encrypted with the customer's key")
        instance_type = text("instance_type")
        try:
            lookup(instance_type)
        except UnknownInstanceType as error:
            raise DeploymentRefused("instance_type", str(error)) from None
        settings = request.get("container_environment") or {}
        if not isinstance(settings, Mapping) or not all(isinstance(v, str) for v in settings.values()):
            raise DeploymentRefused("container_environment", f"must be an object of strings, got {settings!r}")
        return cls(
            endpoint_name=endpoint_name, ownership=ownership, execution_name=text("execution_name"), model_data_s3_uri=model_data,
            image_uri=text("image_uri"), role_arn=text("role_arn"), subnet_ids=ids("subnet_ids"),
            security_group_ids=ids("security_group_ids"), kms_key_id=text("kms_key_id"),
            instance_type=instance_type, instance_count=count, container_environment=dict(settings),
        )


def deployment_name(endpoint_name: str, execution_name: str) -> str:
    """The model's and endpoint config's name: the endpoint's, cut to fit, plus a hash of
    both names, so every execution gets its own and a retry gets the same one."""
    digest = hashlib.sha256(f"{endpoint_name}\n{execution_name}".encode()).hexdigest()[:HASH_LENGTH]
    stem = endpoint_name[:NAME_LIMIT - HASH_LENGTH - 1].rstrip("-")
    return f"{stem}-{digest}"


def model_data_source(s3_uri: str) -> dict:
    """A model.tar.gz is unpacked by SageMaker; a prefix of files is copied as it is."""
    if s3_uri.endswith(".tar.gz"):
        return {"S3DataSource": {"S3Uri": s3_uri, "S3DataType": "S3Object", "CompressionType": "Gzip"}}
    return {"S3DataSource": {"S3Uri": s3_uri.rstrip("/") + "/", "S3DataType": "S3Prefix", "CompressionType": "None"}}


def deploy(client, request: Mapping | DeployRequest) -> dict:
    """Create the model and endpoint config, then create or update the endpoint.

    An existing endpoint without this environment's ownership tags is refused before
    anything is made. When a later call fails (CreateEndpoint, UpdateEndpoint), this
    deployment's model and config are removed again unless an endpoint already uses them.

    Returns the record roll_back needs: the names made, the config served before (None
    for a new endpoint) and whether this deployment created the endpoint."""
    if not isinstance(request, DeployRequest):
        request = DeployRequest.from_mapping(request)
    name = deployment_name(request.endpoint_name, request.execution_name)
    endpoint = describe(client.describe_endpoint, EndpointName=request.endpoint_name)
    if endpoint is not None:
        _require_owned(client, endpoint, request)
    try:
        return _deploy(client, request, name, endpoint)
    except Exception:
        _remove_unused(client, request.endpoint_name, name)
        raise


def _deploy(client, request: DeployRequest, name: str, endpoint: dict | None) -> dict:
    serving_now = configs_in_use(endpoint)
    _ensure_model(client, name, request)
    # What the endpoint serves now is what a failure rolls back to; once switched, only the tag knows.
    serving_before = endpoint["EndpointConfigName"] if endpoint and name not in serving_now else None
    existing_config = describe(client.describe_endpoint_config, EndpointConfigName=name)
    if existing_config:
        _check_same_variant(existing_config, name, request)
        previous = tag_value(client, existing_config["EndpointConfigArn"], PREVIOUS_CONFIG_TAG) or serving_before
    else:
        previous = serving_before
        _create_endpoint_config(client, name, request, previous)

    if endpoint is None:
        client.create_endpoint(EndpointName=request.endpoint_name, EndpointConfigName=name, Tags=request.ownership.tag_list())
        action = "created"
    elif name in serving_now:
        action = "unchanged"  # an earlier attempt already created or switched it
    else:
        if endpoint["EndpointStatus"] not in UPDATABLE_STATES:
            raise DeploymentConflict(f"endpoint {request.endpoint_name} is {endpoint['EndpointStatus']}; it can be updated "
                                     f"only when {' or '.join(UPDATABLE_STATES)}")
        client.update_endpoint(EndpointName=request.endpoint_name, EndpointConfigName=name)
        action = "updated"
    return {"endpoint_name": request.endpoint_name, "model_name": name, "endpoint_config_name": name,
            "previous_endpoint_config_name": previous, "created_endpoint": previous is None, "action": action}


def _require_owned(client, endpoint: dict, request: DeployRequest) -> None:
    """IAM refuses to update an endpoint without our tags; this says so before anything is made."""
    missing = request.ownership.missing(client.list_tags(ResourceArn=endpoint["EndpointArn"]).get("Tags", []))
    if missing:
        raise DeploymentRefused("endpoint_name", f"endpoint {request.endpoint_name} exists but is not this environment's OpenForge "
                                                 f"endpoint: it lacks the tag {', '.join(missing)}; OpenForge updates only endpoints "
                                                 "it created, so choose another job_name")


def _remove_unused(client, endpoint_name: str, name: str) -> None:
    """After a failed call: this deployment's config and model, unless the endpoint uses them.
    Best effort: what is left, the clean-up finds again by name."""
    try:
        if name in configs_in_use(describe(client.describe_endpoint, EndpointName=endpoint_name)):
            return
        for deleted in (delete(client.delete_endpoint_config, EndpointConfigName=name), delete(client.delete_model, ModelName=name)):
            if deleted:
                log.warning("deployment failed: deleted %s it had made", deleted)
    except Exception:  # noqa: BLE001 - the deployment's own error is the one to raise
        log.exception("deployment failed, and removing its model and endpoint config %s failed too", name)


def _ensure_model(client, name: str, request: DeployRequest) -> None:
    container = {"Image": request.image_uri, "ModelDataSource": model_data_source(request.model_data_s3_uri)}
    if request.container_environment:
        gpus = gpu_count(request.instance_type)
        container["Environment"] = {**request.container_environment, **({"SM_NUM_GPUS": str(gpus)} if gpus else {})}
    wanted = {
        "ModelName": name,
        "ExecutionRoleArn": request.role_arn,
        "PrimaryContainer": container,
        "VpcConfig": {"Subnets": list(request.subnet_ids), "SecurityGroupIds": list(request.security_group_ids)},
    }
    existing = describe(client.describe_model, ModelName=name)
    if existing is None:
        client.create_model(**wanted, EnableNetworkIsolation=True, Tags=request.ownership.tag_list())
        return
    made_from = {field: existing.get(field) for field in ("ExecutionRoleArn", "VpcConfig")}
    made_from["PrimaryContainer"] = {key: existing["PrimaryContainer"][key] for key in ("Image", "ModelDataSource", "Environment")
                                     if existing["PrimaryContainer"].get(key)}
    if _normalised(made_from) != _normalised({key: wanted[key] for key in made_from}):
        raise DeploymentConflict(f"model {name} exists but was made from other inputs: {made_from}")


def _create_endpoint_config(client, name: str, request: DeployRequest, previous: str | None) -> None:
    config = {
        "EndpointConfigName": name,
        "ProductionVariants": [{"VariantName": VARIANT_NAME, "ModelName": name, "InstanceType": request.instance_type,
                                "InitialInstanceCount": request.instance_count}],
        "Tags": request.ownership.tag_list() + ([{"Key": PREVIOUS_CONFIG_TAG, "Value": previous}] if previous else []),
    }
    # The volume key only where the instance has an EBS volume: AWS refuses KmsKeyId on types
    # with local NVMe, whose storage is hardware-encrypted (instance_catalogue.volume_kms_key_allowed).
    if volume_kms_key_allowed(request.instance_type):
        config["KmsKeyId"] = request.kms_key_id
    client.create_endpoint_config(**config)


def _check_same_variant(config: dict, name: str, request: DeployRequest) -> None:
    variants = [(v.get("ModelName"), v.get("InstanceType"), v.get("InitialInstanceCount")) for v in config["ProductionVariants"]]
    if variants != [(name, request.instance_type, request.instance_count)]:
        raise DeploymentConflict(f"endpoint config {name} exists with other variants: {variants}")


def configs_in_use(endpoint: dict | None) -> set[str]:
    """The config an endpoint serves, and the one an update in progress moves it to."""
    if endpoint is None:
        return set()
    pending = (endpoint.get("PendingDeploymentSummary") or {}).get("EndpointConfigName")
    return {name for name in (endpoint.get("EndpointConfigName"), pending) if name}


def _normalised(value):
    """Compare VPC ids as sets: SageMaker may list them in another order."""
    if isinstance(value, dict):
        return {key: _normalised(item) for key, item in value.items()}
    if isinstance(value, list):
        return sorted(_normalised(item) for item in value)
    return value
