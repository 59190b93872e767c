"""Undo a deployment that failed: delete an endpoint this deployment created, or update an
existing one back to the config it served before; then delete the new config and model.

Event: the deployment record DeployEndpoint returned.
Returns {"endpoint_name", "actions", "deleted", "problem", "done"}; done is False while the
endpoint still uses the new config (call again once it has settled), and problem says why
when the endpoint is in a state that cannot be updated.
"""
from __future__ import annotations

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.endpoint_rollback import roll_back

logger = Logger(service="openforge-roll-back-endpoint")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    result = roll_back(boto3.client("sagemaker"), event)
    (logger.warning if result["problem"] else logger.info)("endpoint roll back", extra=result)
    return result
