"""Given a deployment, when the pipeline checks its endpoint, then the status says whether it
settled and how (in service on the config deployed, failed, gone, or rolled back by SageMaker
to the config it served before), and an endpoint not settled within the deployment's
allowance is a failure naming the allowance.
"""
from __future__ import annotations

from datetime import datetime, timedelta

from tests.lambdas.conftest import LambdaContext, load_handler
from tests.lambdas.sagemaker_endpoints import (ENDPOINT, INSTANCE, MODEL_TAR, SERVED, sagemaker,  # noqa: F401 - the fixtures, shared
                                               serving_environment)

from openforge_lambda.endpoint import deploy  # isort: skip
from openforge_lambda.endpoint_status import status  # isort: skip


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
