"""Deploy the tuned model to its private endpoint: create the model (in the VPC, network
isolated) and the endpoint config (volume under the customer's KMS key), then create the
endpoint or update it. Safe to retry: names come from the endpoint and the execution.

Event: {"endpoint_name": ..., "execution_name": ..., "model_data_s3_uri": "s3://.../model.tar.gz"
        or an S3 prefix of files, "instance_type": ..., "instance_count": 1,
        "execution_arn": the execution asking ($$.Execution.Id; absent on a direct invoke)}
Environment: openforge_contract.environment_variables' ServingSettings (image, role, subnets,
security groups, key) and EndpointNamespace: the endpoint is named under the prefix (the event's
endpoint_name is the job's) and everything made is tagged as the environment's.
Returns the deployment record CheckEndpoint and RollBackEndpoint take, with "started_at" (ISO
8601), from which CheckEndpoint counts the deployment's time allowance. When the execution had
ended by the time the deployment was made (a stop while this ran), it is rolled back again and
the record says so under "execution_ended" (openforge_lambda.execution_check). A request that would
not be private and encrypted, or would update an endpoint without the environment's tags,
raises DeploymentRefused naming the field.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.endpoint import DeployRequest, ServingEnvironment
from openforge_lambda.pipeline_steps import deploy_model

logger = Logger(service="openforge-deploy-endpoint")


@cache
def serving_environment() -> ServingEnvironment:
    """Read once per cold start: the stack sets these when it deploys the function."""
    return ServingEnvironment.from_environment(os.environ)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    request = DeployRequest.from_event(event, serving_environment())
    deployed = deploy_model(boto3.client, request, event.get("execution_arn"))
    if "execution_ended" in deployed:
        logger.warning("the execution ended while the endpoint was deployed: rolled it back", extra=deployed)
    else:
        logger.info("endpoint deployment started", extra=deployed)
    return deployed
