"""A SageMaker for the endpoint tests: moto, with what moto 5.2.5 lacks filled in.

moto 5.2.5 lacks UpdateEndpoint, does not keep EnableNetworkIsolation, does not return
an endpoint config's KmsKeyId, and checks instance types against an old list (no ml.g5, p5
or inf2): the fixture adds a minimal UpdateEndpoint on moto's own backend, has moto accept
the instance types of botocore's current model, the requests sent are recorded for what moto
drops, and state is read from moto.
"""
from __future__ import annotations

import json

import boto3
import botocore.session
import pytest
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpointConfig, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from openforge_lambda.endpoint import VARIANT_NAME  # isort: skip

ENDPOINT = "support-tickets"  # the name a run asks for (its job name)
PREFIX = "openforge-test-"
OWNER_TAGS = {"openforge:managed-by": "openforge", "openforge:environment": "test"}
SERVED = PREFIX + ENDPOINT  # the endpoint's name in the environment's namespace
ROLE = "arn:aws:iam::123456789012:role/openforge-serving"
IMAGE = "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:0.33.0-lmi15.0.0-cu128"
MODEL_TAR = "s3://openforge-test-artifacts/runs/run-1/output/model.tar.gz"
MODEL_PREFIX = "s3://openforge-test-artifacts/runs/run-2/merged"
INSTANCE = "ml.m5.xlarge"  # EBS only: its endpoint volume is under the customer's key
# What CreateEndpointConfig accepts today (botocore's model), in place of moto's older list.
ENDPOINT_INSTANCE_TYPES = botocore.session.get_session().get_service_model("sagemaker").shape_for("ProductionVariantInstanceType").enum


def _validate_instance_type(self, instance_type: str) -> None:
    if instance_type not in ENDPOINT_INSTANCE_TYPES:
        raise ValidationError(message=f"Value '{instance_type}' at 'instanceType' failed to satisfy constraint: Member must satisfy enum value set")


def _update_endpoint(self):
    """UpdateEndpoint as moto would have it: the endpoint serves the named config."""
    backend = self.sagemaker_backend
    endpoint_name, config_name = self._get_param("EndpointName"), self._get_param("EndpointConfigName")
    if endpoint_name not in backend.endpoints:
        raise ValidationError(message=f"Could not find endpoint '{endpoint_name}'.")
    if config_name not in backend.endpoint_configs:
        raise ValidationError(message=f"Could not find endpoint configuration '{config_name}'.")
    endpoint = backend.endpoints[endpoint_name]
    endpoint.endpoint_config_name = config_name
    endpoint.endpoint_status, endpoint.failure_reason = "InService", None
    return '{"EndpointArn": "%s"}' % endpoint.arn


class SageMaker:
    """The client under test, what it sent, and moto's state."""

    def __init__(self, kms_key_arn: str):
        self.client = boto3.client("sagemaker")
        self.kms_key_arn = kms_key_arn
        self.sent: list[tuple[str, dict]] = []
        self.client.meta.events.register("provide-client-params.sagemaker.*", self._record)

    def _record(self, params, model, **_):
        self.sent.append((model.name, dict(params)))

    def sent_to(self, operation: str) -> list[dict]:
        return [params for name, params in self.sent if name == operation]

    @property
    def backend(self):
        return sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def set_endpoint(self, name: str, state: str, reason: str | None = None, config: str | None = None) -> None:
        """What SageMaker does on its own (a failed create or update), which moto never does."""
        endpoint = self.backend.endpoints[name]
        endpoint.endpoint_status, endpoint.failure_reason = state, reason
        if config:
            endpoint.endpoint_config_name = config

    def request(self, execution: str, **change) -> dict:
        return {"endpoint_name": ENDPOINT, "endpoint_name_prefix": PREFIX, "owner_tags": OWNER_TAGS, "execution_name": execution,
                "model_data_s3_uri": MODEL_TAR,
                "image_uri": IMAGE, "role_arn": ROLE, "subnet_ids": ["subnet-a", "subnet-b"],
                "security_group_ids": ["sg-endpoint"], "kms_key_id": self.kms_key_arn, "instance_type": INSTANCE,
                "instance_count": 1, **change}

    def exists(self, kind: str, name: str) -> bool:
        return name in {"model": self.backend._models, "config": self.backend.endpoint_configs,
                        "endpoint": self.backend.endpoints}[kind]


@pytest.fixture
def sagemaker(aws, monkeypatch) -> SageMaker:
    monkeypatch.setattr(SageMakerResponse, "update_endpoint", _update_endpoint, raising=False)
    monkeypatch.setattr(FakeEndpointConfig, "validate_instance_type", _validate_instance_type)
    key_arn = boto3.client("kms").create_key(Description="endpoint volumes")["KeyMetadata"]["Arn"]
    return SageMaker(key_arn)


SERVING_ENVIRONMENT = {"SERVING_IMAGE_URI": IMAGE, "SERVING_ROLE_ARN": ROLE, "ENDPOINT_SUBNET_IDS": "subnet-a,subnet-b",
                       "ENDPOINT_SECURITY_GROUP_IDS": "sg-endpoint", "ENDPOINT_NAME_PREFIX": PREFIX,
                       "ENDPOINT_OWNER_TAGS": json.dumps(OWNER_TAGS)}


@pytest.fixture
def serving_environment(sagemaker, monkeypatch):
    for name, value in {**SERVING_ENVIRONMENT, "ENDPOINT_KMS_KEY_ARN": sagemaker.kms_key_arn}.items():
        monkeypatch.setenv(name, value)


def another_teams_endpoint(sagemaker, name: str, config: str, tags: list[dict] | None = None) -> None:
    sagemaker.client.create_model(ModelName=config, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sagemaker.client.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": VARIANT_NAME, "ModelName": config, "InstanceType": INSTANCE, "InitialInstanceCount": 1}])
    sagemaker.client.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=tags or [])
