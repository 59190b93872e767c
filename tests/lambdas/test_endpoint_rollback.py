"""Given a deployment that failed, when it is rolled back, then an updated endpoint serves
its previous config again, a created one is deleted, the deployment's config and model go
once nothing uses them, and an endpoint that cannot be updated now is reported, not forced.
"""
from __future__ import annotations

from tests.lambdas.sagemaker_endpoints import SERVED, sagemaker  # noqa: F401 - the fixture, shared

from openforge_lambda.endpoint import deploy  # isort: skip
from openforge_lambda.endpoint_rollback import roll_back  # isort: skip


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
