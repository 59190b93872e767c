"""Deploy the tuned model to its private endpoint: create the model (in the VPC, network
isolated) and the endpoint config (volume under the customer's KMS key), then create the
endpoint or update it. Safe to retry: names come from the endpoint and the execution.

Event: {"endpoint_name": ..., "execution_name": ..., "model_data_s3_uri": "s3://.../model.tar.gz"
        or an S3 prefix of files, "instance_type": ..., "instance_count": 1}
Environment: SERVING_IMAGE_URI, SERVING_ROLE_ARN, ENDPOINT_SUBNET_IDS, ENDPOINT_SECURITY_GROUP_IDS
(comma-separated), ENDPOINT_KMS_KEY_ARN; ENDPOINT_NAME_PREFIX and ENDPOINT_OWNER_TAGS (JSON):
the endpoint is named under the prefix (the event's endpoint_name is the job's) and everything
made is tagged as the environment's.
Returns the deployment record CheckEndpoint and RollBackEndpoint take. A request that would
not be private and encrypted, or would update an endpoint without the environment's tags,
raises DeploymentRefused naming the field.
"""
from __future__ import annotations

import dataclasses

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.endpoint import ServingEnvironment, deploy

logger = Logger(service="openforge-deploy-endpoint")
REQUEST_FIELDS = ("endpoint_name", "execution_name", "model_data_s3_uri", "instance_type", "instance_count")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    request = {**dataclasses.asdict(ServingEnvironment.from_environment()),
               **{field: event[field] for field in REQUEST_FIELDS if field in event}}
    deployed = deploy(boto3.client("sagemaker"), request)
    logger.info("endpoint deployment started", extra=deployed)
    return deployed
