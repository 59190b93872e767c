"""One look at the endpoint, for the state machine's Wait and Choice loop.

Event: {"endpoint_name": ..., "endpoint_config_name": ..., "allowance": {"started", "seconds"}}
(the deployment record from DeployEndpoint will do for the names); endpoint_config_name is the
config deployed, which the endpoint must serve to count as in service. With an allowance (the
state machine always passes one), an endpoint not settled that long after the deployment
started is settled as a failure, its reason naming the allowance (endpoint_status.past_allowance).
Returns {"endpoint_name", "status", "failure_reason", "endpoint_config_name", "in_service",
"settled"} (and "deadline_passed" past the allowance); status is SageMaker's (Creating,
Updating, InService, Failed, ...), NotFound, or UpdateRolledBack (InService on another config: the update failed and SageMaker went back).
"""
from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.endpoint_status import check

logger = Logger(service="openforge-check-endpoint")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    result = check(boto3.client("sagemaker"), event["endpoint_name"], event.get("endpoint_config_name"), event.get("allowance"))
    logger.info("endpoint status", extra=result)
    return result
