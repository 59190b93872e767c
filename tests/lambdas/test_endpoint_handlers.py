"""Given the endpoint functions as the state machine calls them, when they run, then the
deploy function reads its environment and event into a private, encrypted deployment (or
refuses naming what is missing), a deployment made for an execution that ended meanwhile is
rolled back again, and the check and roll back functions take its record.
"""
from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tests.lambdas.conftest import LambdaContext, load_handler, pipeline_execution
from tests.lambdas.sagemaker_endpoints import (ENDPOINT, INSTANCE, MODEL_PREFIX, MODEL_TAR, ROLE, SERVED, sagemaker,  # noqa: F401 - the fixtures
                                               serving_environment)

from openforge_lambda.endpoint import DeploymentRefused  # isort: skip


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


def test_the_deployment_record_says_when_it_started(sagemaker, serving_environment):
    before = datetime.now(timezone.utc)
    deployed = load_handler("deploy_endpoint")({"endpoint_name": ENDPOINT, "execution_name": "exec-1", "model_data_s3_uri": MODEL_TAR,
                                                "instance_type": INSTANCE}, LambdaContext())
    assert before <= datetime.fromisoformat(deployed["started_at"]) <= datetime.now(timezone.utc)
