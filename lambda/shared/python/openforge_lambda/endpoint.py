"""Deploy a tuned model to a private SageMaker endpoint, report its status, roll it back.

One model and one endpoint config per (endpoint, execution), named from both with a short
hash, so a Step Functions retry finds what an earlier attempt made instead of failing on
"already exists". An existing endpoint is updated; the config it served before is written
on the new config as a tag, so a retry after the update still knows what to roll back to.

Private and encrypted is not optional: a request without subnets, security groups or a
KMS key is refused, naming the field. Plain boto3 (no sagemaker SDK in a Lambda).
"""
from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from openforge_lambda.instance_catalogue import NVIDIA, UnknownInstanceType, lookup, volume_kms_key_allowed
from openforge_lambda.settings import FieldError, required, required_list

NAME_LIMIT = 63  # SageMaker's limit on model, endpoint config and endpoint names
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
HASH_LENGTH = 8
VARIANT_NAME = "AllTraffic"
PREVIOUS_CONFIG_TAG = "openforge:previous-endpoint-config"
# UpdateEndpoint is refused in every other state.
UPDATABLE_STATES = ("InService",)
SETTLED_STATES = ("InService", "Failed", "OutOfService", "UpdateRollbackFailed")


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
class ServingEnvironment:
    """What the stack sets on the deploy function: where and as whom the endpoint runs."""

    image_uri: str
    role_arn: str
    subnet_ids: tuple[str, ...]
    security_group_ids: tuple[str, ...]
    kms_key_id: str
    container_environment: dict | None = None  # the serving image's settings (SERVING_CONTAINER_ENVIRONMENT, JSON)

    @classmethod
    def from_environment(cls) -> ServingEnvironment:
        import os

        settings = os.environ.get("SERVING_CONTAINER_ENVIRONMENT") or "{}"
        return cls(
            image_uri=required("SERVING_IMAGE_URI"),
            role_arn=required("SERVING_ROLE_ARN"),
            subnet_ids=required_list("ENDPOINT_SUBNET_IDS"),
            security_group_ids=required_list("ENDPOINT_SECURITY_GROUP_IDS"),
            kms_key_id=required("ENDPOINT_KMS_KEY_ARN"),
            container_environment=json.loads(settings),
        )


@dataclass(frozen=True)
class DeployRequest:
    endpoint_name: str
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

        endpoint_name = text("endpoint_name")
        if not NAME_PATTERN.match(endpoint_name):
            raise DeploymentRefused("endpoint_name", f"must be 1-63 letters, digits or hyphens, got {endpoint_name!r}")
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
            endpoint_name=endpoint_name, execution_name=text("execution_name"), model_data_s3_uri=model_data,
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

    Returns the record roll_back needs: the names made, the config served before (None
    for a new endpoint) and whether this deployment created the endpoint."""
    if not isinstance(request, DeployRequest):
        request = DeployRequest.from_mapping(request)
    name = deployment_name(request.endpoint_name, request.execution_name)
    endpoint = _describe(client.describe_endpoint, EndpointName=request.endpoint_name)
    serving_now = _configs_in_use(endpoint)
    _ensure_model(client, name, request)
    # What the endpoint serves now is what a failure rolls back to; once switched, only the tag knows.
    serving_before = endpoint["EndpointConfigName"] if endpoint and name not in serving_now else None
    existing_config = _describe(client.describe_endpoint_config, EndpointConfigName=name)
    if existing_config:
        _check_same_variant(existing_config, name, request)
        previous = _tag(client, existing_config["EndpointConfigArn"], PREVIOUS_CONFIG_TAG) or serving_before
    else:
        previous = serving_before
        _create_endpoint_config(client, name, request, previous)

    if endpoint is None:
        client.create_endpoint(EndpointName=request.endpoint_name, EndpointConfigName=name)
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


def status(client, endpoint_name: str) -> dict:
    """For a Wait and Choice loop: the endpoint's status, and whether it has settled."""
    endpoint = _describe(client.describe_endpoint, EndpointName=endpoint_name)
    if endpoint is None:
        return {"endpoint_name": endpoint_name, "status": "NotFound", "failure_reason": f"endpoint {endpoint_name} does not exist",
                "endpoint_config_name": None, "in_service": False, "settled": True}
    state = endpoint["EndpointStatus"]
    return {"endpoint_name": endpoint_name, "status": state, "failure_reason": endpoint.get("FailureReason"),
            "endpoint_config_name": endpoint["EndpointConfigName"], "in_service": state == "InService",
            "settled": state in SETTLED_STATES}


def roll_back(client, deployed: Mapping) -> dict:
    """Undo a deployment that failed: a new endpoint is deleted; an updated one is pointed
    back at its previous config. The new config and model are deleted once nothing uses
    them; ``done`` is False while that has to wait (call again after the endpoint settles)."""
    endpoint_name, config_name = deployed["endpoint_name"], deployed["endpoint_config_name"]
    previous = deployed.get("previous_endpoint_config_name")
    endpoint = _describe(client.describe_endpoint, EndpointName=endpoint_name)
    result = {"endpoint_name": endpoint_name, "actions": [], "deleted": [], "problem": None}

    if endpoint is not None and config_name in _configs_in_use(endpoint):
        state = endpoint["EndpointStatus"]
        if previous is None:
            client.delete_endpoint(EndpointName=endpoint_name)
            result["actions"].append(f"deleted endpoint {endpoint_name} (created by this deployment, {state})")
            endpoint = None
        elif state in UPDATABLE_STATES:
            client.update_endpoint(EndpointName=endpoint_name, EndpointConfigName=previous)
            result["actions"].append(f"updated endpoint {endpoint_name} back to {previous}")
            endpoint = _describe(client.describe_endpoint, EndpointName=endpoint_name)
        else:
            result["problem"] = (f"endpoint {endpoint_name} is {state} and cannot be updated back to {previous} now"
                                 + (f": {endpoint['FailureReason']}" if endpoint.get("FailureReason") else ""))

    if endpoint is None or config_name not in _configs_in_use(endpoint):
        for deleted in (_delete(client.delete_endpoint_config, EndpointConfigName=config_name),
                        _delete(client.delete_model, ModelName=deployed["model_name"])):
            if deleted:
                result["deleted"].append(deleted)
    result["done"] = result["problem"] is None and (endpoint is None or config_name not in _configs_in_use(endpoint))
    return result


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
    existing = _describe(client.describe_model, ModelName=name)
    if existing is None:
        client.create_model(**wanted, EnableNetworkIsolation=True)
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
        "Tags": [{"Key": PREVIOUS_CONFIG_TAG, "Value": previous}] if previous else [],
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


def _configs_in_use(endpoint: dict | None) -> set[str]:
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


def _tag(client, arn: str, key: str) -> str | None:
    return next((tag["Value"] for tag in client.list_tags(ResourceArn=arn).get("Tags", []) if tag["Key"] == key), None)


def _describe(call, **name) -> dict | None:
    """The resource, or None when it does not exist (SageMaker says so as a ValidationException)."""
    try:
        return call(**name)
    except ClientError as error:
        if _is_missing(error):
            return None
        raise


def _delete(call, **name) -> str | None:
    """What was deleted, or None when it was already gone (a retried roll back)."""
    try:
        call(**name)
    except ClientError as error:
        if _is_missing(error):
            return None
        raise
    return next(iter(name.values()))


def _is_missing(error: ClientError) -> bool:
    message = error.response.get("Error", {}).get("Message", "")
    return error.response.get("Error", {}).get("Code") == "ValidationException" and (
        "Could not find" in message or "does not exist" in message)
