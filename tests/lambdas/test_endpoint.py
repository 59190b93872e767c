"""Given a tuned model, when the pipeline deploys it, then the endpoint is private (VPC,
network isolation) and encrypted (KMS), a retry changes nothing, a second execution updates
the endpoint and remembers what it served, and a failure is rolled back.

moto 5.2.5 lacks UpdateEndpoint, does not keep EnableNetworkIsolation, does not return
an endpoint config's KmsKeyId, and checks instance types against an old list (no ml.g5, p5
or inf2): the fixture adds a minimal UpdateEndpoint on moto's own backend, has moto accept
the instance types of botocore's current model, the requests sent are recorded for what moto
drops, and state is read from moto.
"""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.exceptions import ValidationError
from moto.sagemaker.models import FakeEndpointConfig, sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse

from tests.lambdas.conftest import LambdaContext, load_handler, pipeline_execution

from openforge_lambda.endpoint import (  # isort: skip
    NAME_LIMIT, VARIANT_NAME, DeployRequest, DeploymentConflict, DeploymentRefused, deploy, deployment_name, roll_back, status)

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


def test_a_fresh_deploy_makes_a_private_encrypted_endpoint(sagemaker):
    deployed = deploy(sagemaker.client, sagemaker.request("exec-1"))
    name = deployment_name(SERVED, "exec-1")
    assert deployed == {"endpoint_name": SERVED, "model_name": name, "endpoint_config_name": name,
                        "previous_endpoint_config_name": None, "created_endpoint": True, "action": "created"}

    model = sagemaker.client.describe_model(ModelName=name)
    assert model["VpcConfig"] == {"Subnets": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-endpoint"]}
    assert model["ExecutionRoleArn"] == ROLE and model["PrimaryContainer"]["Image"] == IMAGE
    assert model["PrimaryContainer"]["ModelDataSource"] == {
        "S3DataSource": {"S3Uri": MODEL_TAR, "S3DataType": "S3Object", "CompressionType": "Gzip"}}
    assert sagemaker.sent_to("CreateModel")[0]["EnableNetworkIsolation"] is True  # moto does not keep it

    config = sagemaker.client.describe_endpoint_config(EndpointConfigName=name)
    assert [(v["ModelName"], v["InstanceType"], v["InitialInstanceCount"]) for v in config["ProductionVariants"]] == [
        (name, INSTANCE, 1)]
    assert sagemaker.backend.endpoint_configs[name].kms_key_id == sagemaker.kms_key_arn  # describe leaves it out

    endpoint = sagemaker.client.describe_endpoint(EndpointName=SERVED)
    assert endpoint["EndpointConfigName"] == name


def test_an_s3_prefix_of_files_is_deployed_uncompressed(sagemaker):
    name = deploy(sagemaker.client, sagemaker.request("exec-1", model_data_s3_uri=MODEL_PREFIX))["model_name"]
    assert sagemaker.client.describe_model(ModelName=name)["PrimaryContainer"]["ModelDataSource"] == {
        "S3DataSource": {"S3Uri": MODEL_PREFIX + "/", "S3DataType": "S3Prefix", "CompressionType": "None"}}


def test_names_are_per_execution_and_fit_sagemakers_limit():
    assert deployment_name(SERVED, "exec-1") == deployment_name(SERVED, "exec-1")
    assert deployment_name(SERVED, "exec-1") != deployment_name(SERVED, "exec-2")
    long_name = deployment_name("a" * 53 + "-" + "b" * 9, "exec-1")
    assert len(long_name) <= NAME_LIMIT and "--" not in long_name, long_name


def test_a_retry_of_the_same_execution_changes_nothing(sagemaker):
    first = deploy(sagemaker.client, sagemaker.request("exec-1"))
    created = len(sagemaker.sent_to("CreateModel")), len(sagemaker.sent_to("CreateEndpointConfig"))
    again = deploy(sagemaker.client, sagemaker.request("exec-1"))
    assert again == {**first, "action": "unchanged"}
    assert (len(sagemaker.sent_to("CreateModel")), len(sagemaker.sent_to("CreateEndpointConfig"))) == created
    assert len(sagemaker.backend.endpoints) == 1 and len(sagemaker.backend._models) == 1


def test_a_retry_after_a_partial_deploy_finishes_it(sagemaker):
    """The first attempt made the model and config, then stopped before the endpoint."""
    name = deployment_name(SERVED, "exec-1")
    deployed = deploy(sagemaker.client, sagemaker.request("exec-1"))
    sagemaker.client.delete_endpoint(EndpointName=SERVED)
    assert deploy(sagemaker.client, sagemaker.request("exec-1")) == deployed
    assert sagemaker.client.describe_endpoint(EndpointName=SERVED)["EndpointConfigName"] == name


def test_a_retry_with_other_inputs_under_the_same_name_is_a_conflict(sagemaker):
    deploy(sagemaker.client, sagemaker.request("exec-1"))
    with pytest.raises(DeploymentConflict, match="model .* exists but was made from other inputs"):
        deploy(sagemaker.client, sagemaker.request("exec-1", model_data_s3_uri=MODEL_PREFIX))
    with pytest.raises(DeploymentConflict, match="endpoint config .* exists with other variants"):
        deploy(sagemaker.client, sagemaker.request("exec-1", instance_count=2))


def test_a_second_execution_updates_the_endpoint_and_remembers_the_previous_config(sagemaker):
    first = deploy(sagemaker.client, sagemaker.request("exec-1"))
    second = deploy(sagemaker.client, sagemaker.request("exec-2", model_data_s3_uri=MODEL_PREFIX))
    assert second["action"] == "updated" and not second["created_endpoint"]
    assert second["previous_endpoint_config_name"] == first["endpoint_config_name"]
    assert sagemaker.client.describe_endpoint(EndpointName=SERVED)["EndpointConfigName"] == second["endpoint_config_name"]
    assert sagemaker.exists("config", first["endpoint_config_name"]) and sagemaker.exists("model", first["model_name"])
    # A retry after the switch still knows what was served before (the new config's tag).
    assert deploy(sagemaker.client, sagemaker.request("exec-2", model_data_s3_uri=MODEL_PREFIX)) == {**second, "action": "unchanged"}


def test_an_endpoint_that_is_busy_is_not_updated(sagemaker):
    deploy(sagemaker.client, sagemaker.request("exec-1"))
    sagemaker.set_endpoint(SERVED, "Updating")
    with pytest.raises(DeploymentConflict, match=f"endpoint {SERVED} is Updating; it can be updated only when InService"):
        deploy(sagemaker.client, sagemaker.request("exec-2"))
    assert sagemaker.sent_to("UpdateEndpoint") == []


def test_status_reports_in_service_failed_and_not_found(sagemaker):
    deployed = deploy(sagemaker.client, sagemaker.request("exec-1"))
    assert status(sagemaker.client, SERVED) == {
        "endpoint_name": SERVED, "status": "InService", "failure_reason": None,
        "endpoint_config_name": deployed["endpoint_config_name"], "in_service": True, "settled": True}
    sagemaker.set_endpoint(SERVED, "Creating")
    assert status(sagemaker.client, SERVED)["settled"] is False
    sagemaker.set_endpoint(SERVED, "Failed", "CUDA out of memory")
    failed = status(sagemaker.client, SERVED)
    assert (failed["status"], failed["failure_reason"], failed["in_service"], failed["settled"]) == (
        "Failed", "CUDA out of memory", False, True)
    assert status(sagemaker.client, "no-such-endpoint")["status"] == "NotFound"


def test_roll_back_of_a_failed_update_restores_the_previous_config(sagemaker):
    first = deploy(sagemaker.client, sagemaker.request("exec-1"))
    second = deploy(sagemaker.client, sagemaker.request("exec-2"))
    result = roll_back(sagemaker.client, second)
    assert result["done"] and result["problem"] is None
    assert sagemaker.client.describe_endpoint(EndpointName=SERVED)["EndpointConfigName"] == first["endpoint_config_name"]
    assert not sagemaker.exists("config", second["endpoint_config_name"]) and not sagemaker.exists("model", second["model_name"])
    assert sagemaker.exists("config", first["endpoint_config_name"]) and sagemaker.exists("model", first["model_name"])
    assert roll_back(sagemaker.client, second)["deleted"] == [], "a retried roll back finds nothing left to do"


def test_roll_back_after_sagemaker_rolled_back_itself_only_cleans_up(sagemaker):
    first = deploy(sagemaker.client, sagemaker.request("exec-1"))
    second = deploy(sagemaker.client, sagemaker.request("exec-2"))
    sagemaker.set_endpoint(SERVED, "InService", "new variant failed health checks", config=first["endpoint_config_name"])
    result = roll_back(sagemaker.client, second)
    assert result["done"] and result["actions"] == [] and len(sagemaker.sent_to("UpdateEndpoint")) == 1
    assert result["deleted"] == [second["endpoint_config_name"], second["model_name"]]
    assert not sagemaker.exists("config", second["endpoint_config_name"])


def test_roll_back_of_an_endpoint_that_cannot_be_updated_reports_it_and_keeps_what_it_uses(sagemaker):
    deploy(sagemaker.client, sagemaker.request("exec-1"))
    second = deploy(sagemaker.client, sagemaker.request("exec-2"))
    sagemaker.set_endpoint(SERVED, "Failed", "capacity")
    result = roll_back(sagemaker.client, second)
    assert not result["done"] and "is Failed and cannot be updated back" in result["problem"] and "capacity" in result["problem"]
    assert sagemaker.exists("endpoint", SERVED) and sagemaker.exists("config", second["endpoint_config_name"])


def test_roll_back_of_a_failed_fresh_create_deletes_everything(sagemaker):
    deployed = deploy(sagemaker.client, sagemaker.request("exec-1"))
    sagemaker.set_endpoint(SERVED, "Failed", "image not found")
    result = roll_back(sagemaker.client, deployed)
    assert result["done"] and result["deleted"] == [deployed["endpoint_config_name"], deployed["model_name"]]
    assert not sagemaker.exists("endpoint", SERVED)
    assert not sagemaker.exists("config", deployed["endpoint_config_name"]) and not sagemaker.exists("model", deployed["model_name"])


REFUSED = {
    "no KMS key": ({"kms_key_id": None}, "kms_key_id: required"),
    "empty KMS key": ({"kms_key_id": ""}, "kms_key_id: required"),
    "no subnets": ({"subnet_ids": []}, "subnet_ids: required: the endpoint runs only inside the VPC"),
    "blank subnets": ({"subnet_ids": " , "}, "subnet_ids: required"),
    "no security groups": ({"security_group_ids": None}, "security_group_ids: required"),
    "bad endpoint name": ({"endpoint_name": "support_tickets"}, "endpoint_name: must be letters, digits or hyphens"),
    "no namespace": ({"endpoint_name_prefix": None}, "endpoint_name_prefix: required"),
    "an upper-case namespace": ({"endpoint_name_prefix": "OpenForge-test-"}, "endpoint_name_prefix: required: lower-case"),
    "no ownership tags": ({"owner_tags": {}}, "owner_tags: required"),
    "not an S3 URI": ({"model_data_s3_uri": "/tmp/model"}, "model_data_s3_uri: must be an S3 URI"),
    "no instances": ({"instance_count": 0}, "instance_count: must be a whole number of at least 1"),
}


@pytest.mark.parametrize("change, message", REFUSED.values(), ids=REFUSED.keys())
def test_a_request_that_is_not_private_and_encrypted_is_refused_naming_the_field(sagemaker, change, message):
    with pytest.raises(DeploymentRefused) as refused:
        deploy(sagemaker.client, sagemaker.request("exec-1", **change))
    assert str(refused.value).startswith(message), str(refused.value)
    assert sagemaker.sent == [], "nothing is created, or even looked up"


def test_comma_separated_ids_are_split(sagemaker):
    request = DeployRequest.from_mapping(sagemaker.request("exec-1", subnet_ids="subnet-a, subnet-b"))
    assert request.subnet_ids == ("subnet-a", "subnet-b")


SERVING_ENVIRONMENT = {"SERVING_IMAGE_URI": IMAGE, "SERVING_ROLE_ARN": ROLE, "ENDPOINT_SUBNET_IDS": "subnet-a,subnet-b",
                       "ENDPOINT_SECURITY_GROUP_IDS": "sg-endpoint", "ENDPOINT_NAME_PREFIX": PREFIX,
                       "ENDPOINT_OWNER_TAGS": json.dumps(OWNER_TAGS)}


@pytest.fixture
def serving_environment(sagemaker, monkeypatch):
    for name, value in {**SERVING_ENVIRONMENT, "ENDPOINT_KMS_KEY_ARN": sagemaker.kms_key_arn}.items():
        monkeypatch.setenv(name, value)


def test_the_handlers_deploy_check_and_roll_back(sagemaker, serving_environment):
    event = {"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_TAR, "instance_type": INSTANCE}
    deployed = load_handler("deploy_endpoint")(event, LambdaContext())
    model = sagemaker.client.describe_model(ModelName=deployed["model_name"])
    assert model["VpcConfig"]["Subnets"] == ["subnet-a", "subnet-b"] and model["ExecutionRoleArn"] == ROLE
    assert load_handler("check_endpoint")(deployed, LambdaContext())["status"] == "InService"
    assert load_handler("roll_back_endpoint")(deployed, LambdaContext())["done"]
    assert not sagemaker.exists("endpoint", SERVED) and not sagemaker.exists("model", deployed["model_name"])


def test_the_deploy_handler_refuses_without_the_serving_environment(sagemaker, serving_environment, monkeypatch):
    event = {"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_TAR, "instance_type": INSTANCE}
    monkeypatch.delenv("ENDPOINT_KMS_KEY_ARN")
    with pytest.raises(Exception, match="environment variable ENDPOINT_KMS_KEY_ARN is not set"):
        load_handler("deploy_endpoint")(event, LambdaContext())
    monkeypatch.setenv("ENDPOINT_KMS_KEY_ARN", sagemaker.kms_key_arn)
    monkeypatch.setenv("ENDPOINT_SECURITY_GROUP_IDS", " , ")
    with pytest.raises(Exception, match="ENDPOINT_SECURITY_GROUP_IDS lists nothing"):
        load_handler("deploy_endpoint")(event, LambdaContext())
    assert sagemaker.backend.endpoints == {} and sagemaker.backend._models == {}


def test_the_deploy_handler_refuses_a_bad_event_naming_the_field(sagemaker, serving_environment):
    with pytest.raises(DeploymentRefused, match="^execution_name: required$"):
        load_handler("deploy_endpoint")({"endpoint_name": ENDPOINT, "model_data_s3_uri": MODEL_TAR,
                                         "instance_type": INSTANCE}, LambdaContext())


def test_the_serving_settings_reach_the_model_with_the_instance_gpu_count(sagemaker, serving_environment, monkeypatch):
    monkeypatch.setenv("SERVING_CONTAINER_ENVIRONMENT", '{"HF_MODEL_ID": "/opt/ml/model", "MAX_TOTAL_TOKENS": "8192"}')
    event = {"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_PREFIX, "instance_type": "ml.g5.12xlarge"}
    deployed = load_handler("deploy_endpoint")(event, LambdaContext())
    environment = sagemaker.client.describe_model(ModelName=deployed["model_name"])["PrimaryContainer"]["Environment"]
    assert environment == {"HF_MODEL_ID": "/opt/ml/model", "MAX_TOTAL_TOKENS": "8192", "SM_NUM_GPUS": "4"}


def test_gpu_counts_of_endpoint_instances():
    from openforge_lambda.endpoint import gpu_count

    assert [gpu_count(t) for t in ("ml.g5.2xlarge", "ml.g6e.12xlarge", "ml.g5.48xlarge", "ml.p5.48xlarge", "ml.inf2.xlarge", "ml.m5.xlarge")] == [
        1, 4, 8, 8, None, None]


# --- ownership: the environment's namespace and tags ---------------------------------------

def another_teams_endpoint(sagemaker, name: str, config: str, tags: list[dict] | None = None) -> None:
    sagemaker.client.create_model(ModelName=config, ExecutionRoleArn=ROLE, PrimaryContainer={"Image": IMAGE})
    sagemaker.client.create_endpoint_config(EndpointConfigName=config, ProductionVariants=[
        {"VariantName": VARIANT_NAME, "ModelName": config, "InstanceType": INSTANCE, "InitialInstanceCount": 1}])
    sagemaker.client.create_endpoint(EndpointName=name, EndpointConfigName=config, Tags=tags or [])


def test_a_job_named_like_another_teams_endpoint_gets_its_own_endpoint(sagemaker):
    """fraud-scoring-prod belongs to another team; a job of that name deploys beside it."""
    another_teams_endpoint(sagemaker, "fraud-scoring-prod", "fraud-v7")
    deployed = deploy(sagemaker.client, sagemaker.request("exec-1", endpoint_name="fraud-scoring-prod"))
    assert deployed["endpoint_name"] == "openforge-test-fraud-scoring-prod" and deployed["action"] == "created"
    assert sagemaker.client.describe_endpoint(EndpointName="fraud-scoring-prod")["EndpointConfigName"] == "fraud-v7"
    for arn in (sagemaker.client.describe_endpoint(EndpointName=deployed["endpoint_name"])["EndpointArn"],
                sagemaker.client.describe_endpoint_config(EndpointConfigName=deployed["endpoint_config_name"])["EndpointConfigArn"],
                sagemaker.client.describe_model(ModelName=deployed["model_name"])["ModelArn"]):
        tags = {tag["Key"]: tag["Value"] for tag in sagemaker.client.list_tags(ResourceArn=arn)["Tags"]}
        assert OWNER_TAGS.items() <= tags.items(), arn


def test_an_endpoint_in_our_namespace_without_our_tags_is_refused_before_anything_is_made(sagemaker):
    another_teams_endpoint(sagemaker, SERVED, "theirs", [{"Key": "openforge:managed-by", "Value": "openforge"}])  # no environment tag
    with pytest.raises(DeploymentRefused) as refused:
        deploy(sagemaker.client, sagemaker.request("exec-1"))
    assert str(refused.value) == (f"endpoint_name: endpoint {SERVED} exists but is not this environment's OpenForge endpoint: it lacks "
                                  "the tag openforge:environment=test; OpenForge updates only endpoints it created, so choose another job_name")
    assert [m["ModelName"] for m in sagemaker.sent_to("CreateModel")] == ["theirs"] and sagemaker.sent_to("UpdateEndpoint") == []
    assert list(sagemaker.backend._models) == ["theirs"] and list(sagemaker.backend.endpoint_configs) == ["theirs"]
    assert sagemaker.client.describe_endpoint(EndpointName=SERVED)["EndpointConfigName"] == "theirs"


def test_endpoint_names_are_lower_case_under_the_prefix_and_fit_sagemakers_limit():
    from openforge_lambda.endpoint import Ownership

    ownership = Ownership("openforge-staging-eu1-", OWNER_TAGS)  # the longest environment name (12)
    assert ownership.endpoint_name("Support-Tickets") == "openforge-staging-eu1-support-tickets"
    long_a, long_b = ownership.endpoint_name("a" * 40 + "x"), ownership.endpoint_name("a" * 40 + "y")  # job names up to 41
    assert len(long_a) <= NAME_LIMIT and len(long_b) <= NAME_LIMIT and long_a != long_b
    assert long_a.startswith("openforge-staging-eu1-") and deployment_name(long_a, "exec-1").startswith("openforge-staging-eu1-")


# --- failures: what a failed deployment leaves, and what the check reports -------------------

def test_a_failed_create_endpoint_leaves_no_model_or_config_behind(sagemaker, monkeypatch):
    def refuse(**_):
        raise ClientError({"Error": {"Code": "ResourceLimitExceeded", "Message": "account-level service limit 'ml.m5.xlarge for endpoint usage' is 0"}},
                          "CreateEndpoint")

    monkeypatch.setattr(sagemaker.client, "create_endpoint", refuse)
    with pytest.raises(ClientError, match="ResourceLimitExceeded"):
        deploy(sagemaker.client, sagemaker.request("exec-1"))
    assert len(sagemaker.sent_to("CreateModel")) == 1 and len(sagemaker.sent_to("CreateEndpointConfig")) == 1
    assert sagemaker.backend._models == {} and sagemaker.backend.endpoint_configs == {} and sagemaker.backend.endpoints == {}


def test_a_failed_update_leaves_the_endpoint_on_its_config_and_removes_the_new_one(sagemaker, monkeypatch):
    first = deploy(sagemaker.client, sagemaker.request("exec-1"))

    def refuse(**_):
        raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, "UpdateEndpoint")

    monkeypatch.setattr(sagemaker.client, "update_endpoint", refuse)
    with pytest.raises(ClientError, match="ThrottlingException"):
        deploy(sagemaker.client, sagemaker.request("exec-2"))
    second = deployment_name(SERVED, "exec-2")
    assert not sagemaker.exists("config", second) and not sagemaker.exists("model", second)
    assert sagemaker.exists("config", first["endpoint_config_name"]) and sagemaker.exists("model", first["model_name"])


def test_in_service_on_the_previous_config_after_an_update_is_a_failure(sagemaker):
    first = deploy(sagemaker.client, sagemaker.request("exec-1"))
    second = deploy(sagemaker.client, sagemaker.request("exec-2"))
    # SageMaker could not bring up the new variant and went back to the config it served before.
    sagemaker.set_endpoint(SERVED, "InService", "new variant failed health checks", config=first["endpoint_config_name"])
    checked = status(sagemaker.client, SERVED, second["endpoint_config_name"])
    assert checked == {"endpoint_name": SERVED, "status": "UpdateRolledBack", "endpoint_config_name": first["endpoint_config_name"],
                       "in_service": False, "settled": True,
                       "failure_reason": f"update rolled back to {first['endpoint_config_name']}, not serving "
                                         f"{second['endpoint_config_name']}: new variant failed health checks"}
    assert load_handler("check_endpoint")(second, LambdaContext())["status"] == "UpdateRolledBack"
    sagemaker.set_endpoint(SERVED, "InService", config=second["endpoint_config_name"])
    assert status(sagemaker.client, SERVED, second["endpoint_config_name"])["in_service"] is True


@pytest.mark.parametrize("instance_type", ["ml.g5.2xlarge", "ml.p5.48xlarge", "ml.g6e.12xlarge"])
def test_an_endpoint_on_local_nvme_is_configured_without_a_volume_key(sagemaker, instance_type):
    """AWS refuses CreateEndpointConfig's KmsKeyId on types with local instance storage
    (hardware-encrypted); the default endpoint type, ml.g5.2xlarge, is one."""
    deploy(sagemaker.client, sagemaker.request("exec-1", instance_type=instance_type))
    [sent] = sagemaker.sent_to("CreateEndpointConfig")
    assert "KmsKeyId" not in sent
    assert sent["ProductionVariants"][0]["InstanceType"] == instance_type


@pytest.mark.parametrize("instance_type", ["ml.m5.xlarge", "ml.inf2.xlarge"])
def test_an_endpoint_on_ebs_only_types_keeps_its_volume_under_the_customers_key(sagemaker, instance_type):
    deploy(sagemaker.client, sagemaker.request("exec-1", instance_type=instance_type))
    [sent] = sagemaker.sent_to("CreateEndpointConfig")
    assert sent["KmsKeyId"] == sagemaker.kms_key_arn


def test_a_deploy_on_an_instance_type_the_platform_does_not_know_is_refused_naming_it(sagemaker):
    with pytest.raises(DeploymentRefused, match=r"^instance_type: unknown instance type 'ml\.g5\.3xlarge'"):
        deploy(sagemaker.client, sagemaker.request("exec-1", instance_type="ml.g5.3xlarge"))
    assert sagemaker.sent == []


def test_a_deployment_made_for_an_execution_stopped_meanwhile_is_rolled_back_and_the_record_says_why(sagemaker, serving_environment):
    """Step Functions does not stop a running Lambda when its execution stops: the clean-up may
    have looked before CreateEndpoint landed, so DeployEndpoint checks afterwards."""
    execution = pipeline_execution(stopped=True)
    event = {"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_TAR, "instance_type": INSTANCE,
             "execution_arn": execution}
    deployed = load_handler("deploy_endpoint")(event, LambdaContext())
    assert not sagemaker.exists("endpoint", SERVED) and not sagemaker.exists("config", deployed["endpoint_config_name"])
    assert not sagemaker.exists("model", deployed["model_name"]), "nothing is left serving"
    ended = deployed["execution_ended"]
    assert (ended["status"], ended["cleanup_problems"]) == ("ABORTED", [])
    assert ended["reason"].startswith(f"execution {execution} was ABORTED when this step had just started deploying to endpoint {SERVED}, "
                                      f"so it was undone: deleted endpoint {SERVED}")


def test_a_deployment_for_a_running_execution_stays(sagemaker, serving_environment):
    event = {"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_TAR, "instance_type": INSTANCE,
             "execution_arn": pipeline_execution(stopped=False)}
    deployed = load_handler("deploy_endpoint")(event, LambdaContext())
    assert "execution_ended" not in deployed and sagemaker.exists("endpoint", SERVED) and sagemaker.exists("model", deployed["model_name"])


def test_an_endpoint_not_settled_within_the_deployment_allowance_is_a_failure_naming_it(sagemaker, serving_environment):
    """The endpoint loop waits a fixed poll_seconds; run_limits bounds its checks by the
    allowance, so CheckEndpoint must end the loop once the allowance has passed."""
    deployed = load_handler("deploy_endpoint")({"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_TAR,
                                                "instance_type": INSTANCE}, LambdaContext())
    sagemaker.set_endpoint(SERVED, "Creating")
    started = datetime.fromisoformat(deployed["started_at"])

    def check(after: timedelta) -> dict:
        allowance = {"started": (started - after).isoformat(), "seconds": 7200}
        return load_handler("check_endpoint")({**deployed, "allowance": allowance}, LambdaContext())

    assert check(timedelta(seconds=7000))["settled"] is False
    late = check(timedelta(seconds=7201))
    assert (late["status"], late["settled"], late["in_service"], late["deadline_passed"]) == ("Creating", True, False, True)
    assert "past the pipeline's deployment allowance of 7200 s" in late["failure_reason"]
    assert late["failure_reason"].startswith("still Creating 720")
    sagemaker.set_endpoint(SERVED, "InService")
    assert check(timedelta(hours=3))["in_service"] is True, "an endpoint in service is a success whenever it is seen"


def test_the_deployment_record_says_when_it_started(sagemaker, serving_environment):
    before = datetime.now(timezone.utc)
    deployed = load_handler("deploy_endpoint")({"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_TAR,
                                                "instance_type": INSTANCE}, LambdaContext())
    assert before <= datetime.fromisoformat(deployed["started_at"]) <= datetime.now(timezone.utc)
