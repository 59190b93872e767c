"""An endpoint's status for the state machine's Wait and Choice loop (CheckEndpoint), and the
deployment's time allowance that ends the loop when the endpoint never settles.
"""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from openforge_lambda.endpoint import SETTLED_STATES, UPDATE_ROLLED_BACK
from openforge_lambda.polling import seconds_since
from openforge_lambda.sagemaker_calls import describe


def status(client, endpoint_name: str, endpoint_config_name: str | None = None) -> dict:
    """For a Wait and Choice loop: the endpoint's status, and whether it has settled.

    With ``endpoint_config_name`` (the config this deployment deployed), an endpoint
    InService on another config is not a success: SageMaker rolled the update back, and
    the status says UpdateRolledBack."""
    endpoint = describe(client.describe_endpoint, EndpointName=endpoint_name)
    if endpoint is None:
        return {"endpoint_name": endpoint_name, "status": "NotFound", "failure_reason": f"endpoint {endpoint_name} does not exist",
                "endpoint_config_name": None, "in_service": False, "settled": True}
    state, served, reason = endpoint["EndpointStatus"], endpoint["EndpointConfigName"], endpoint.get("FailureReason")
    if state == "InService" and endpoint_config_name and served != endpoint_config_name:
        return {"endpoint_name": endpoint_name, "status": UPDATE_ROLLED_BACK, "endpoint_config_name": served, "in_service": False,
                "settled": True, "failure_reason": f"update rolled back to {served}, not serving {endpoint_config_name}"
                                                  + (f": {reason}" if reason else "")}
    return {"endpoint_name": endpoint_name, "status": state, "failure_reason": reason,
            "endpoint_config_name": served, "in_service": state == "InService",
            "settled": state in SETTLED_STATES}


def past_allowance(checked: dict, allowance: Mapping, now: datetime | None = None) -> dict:
    """``checked`` (status's result) settled as a failure once the deployment has been waited
    for longer than its allowance: {"started": DeployEndpoint's started_at, "seconds": the
    state machine's number, constructs/fine_tuning_pipeline/run_limits.DEPLOYMENT_SECONDS}. The endpoint loop then
    ends, so its checks stay within the ceil(seconds / poll_seconds) that run_limits counts
    towards Step Functions' history limit."""
    seconds = int(allowance["seconds"])
    waited = seconds_since(allowance["started"], now)
    if checked["settled"] or waited < seconds:
        return checked
    reason = checked.get("failure_reason")
    return {**checked, "settled": True, "deadline_passed": True,
            "failure_reason": f"still {checked['status']} {int(waited)} s after the deployment started, past the pipeline's "
                              f"deployment allowance of {seconds} s" + (f"; {reason}" if reason else "")}


def check(client, endpoint_name: str, endpoint_config_name: str | None = None, allowance: Mapping | None = None) -> dict:
    """CheckEndpoint: ``status``, settled as a failure past the ``allowance`` when there is one
    (the state machine always passes one)."""
    result = status(client, endpoint_name, endpoint_config_name)
    return past_allowance(result, allowance) if allowance else result
