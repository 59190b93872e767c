"""After an execution of the pipeline ended without finishing (EventBridge's "Step Functions
Execution Status Change", status ABORTED, TIMED_OUT or FAILED): stop the jobs it started that
still run and roll back a deployment it had started (read back from its history), then
notify the topic, unless the execution's own failure path already did.

Event: the EventBridge event; its detail has executionArn, name, status, error, cause.
Environment: TOPIC_ARN; VALIDATE_STATE, DEPLOY_STATE, NOTIFY_FAILURE_STATE (pipeline/steps.py's
names); HYPERPOD_CLUSTER_NAME where runs may use the cluster; ENDPOINT_NAME_PREFIX and
ENDPOINT_OWNER_TAGS (the endpoint namespace), to find a deployment that left no record.
Returns {"execution_arn", "status", "published": whether it notified, and failure.clean_up's result}.
"""
from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.endpoint import Ownership
from openforge_lambda.ended_execution import clean_up_ended
from openforge_lambda.settings import required

logger = Logger(service="openforge-clean-up-ended-run")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    detail = event["detail"]
    logger.append_keys(execution_arn=detail["executionArn"], status=detail["status"])
    endpoints = Ownership.from_environment() if os.environ.get("ENDPOINT_NAME_PREFIX") else None
    result = clean_up_ended(boto3.client, detail, topic_arn=required("TOPIC_ARN"), validate_state=required("VALIDATE_STATE"),
                            deploy_state=required("DEPLOY_STATE"), notify_failure_state=required("NOTIFY_FAILURE_STATE"),
                            hyperpod_cluster=os.environ.get("HYPERPOD_CLUSTER_NAME") or None, endpoints=endpoints)
    for problem in result["cleanup_problems"]:
        logger.warning("clean-up step failed", extra={"problem": problem})
    logger.info("cleaned up after the execution ended", extra=result)
    return result
