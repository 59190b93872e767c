"""Given a tuned model, when the pipeline deploys it, then the endpoint is private (VPC,
network isolation) and encrypted (KMS), a retry changes nothing, a second execution updates
the endpoint and remembers what it served, an endpoint that is not the environment's is left
alone, and a failed call leaves nothing behind. The SageMaker: tests/lambdas/sagemaker_endpoints.py.
"""
from __future__ import annotations

import pytest
from botocore.exceptions import ClientError

from tests.lambdas.sagemaker_endpoints import (INSTANCE, MODEL_PREFIX, MODEL_TAR, OWNER_TAGS, ROLE, IMAGE, SERVED, another_teams_endpoint,
                                               sagemaker)  # noqa: F401 - the fixture, shared

from openforge_lambda.endpoint import (  # isort: skip
    NAME_LIMIT, DeployRequest, DeploymentConflict, DeploymentRefused, Ownership, deploy, deployment_name, gpu_count)


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


def test_gpu_counts_of_endpoint_instances():
    assert [gpu_count(t) for t in ("ml.g5.2xlarge", "ml.g6e.12xlarge", "ml.g5.48xlarge", "ml.p5.48xlarge", "ml.inf2.xlarge", "ml.m5.xlarge")] == [
        1, 4, 8, 8, None, None]


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
    ownership = Ownership("openforge-staging-eu1-", OWNER_TAGS)  # the longest environment name (12)
    assert ownership.endpoint_name("Support-Tickets") == "openforge-staging-eu1-support-tickets"
    long_a, long_b = ownership.endpoint_name("a" * 40 + "x"), ownership.endpoint_name("a" * 40 + "y")  # job names up to 41
    assert len(long_a) <= NAME_LIMIT and len(long_b) <= NAME_LIMIT and long_a != long_b
    assert long_a.startswith("openforge-staging-eu1-") and deployment_name(long_a, "exec-1").startswith("openforge-staging-eu1-")


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
