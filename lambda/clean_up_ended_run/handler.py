"""After an execution of the pipeline ended without finishing (EventBridge's "Step Functions
Execution Status Change", status ABORTED, TIMED_OUT or FAILED): stop the jobs it started that
still run and roll back a deployment it had started (read back from its history), then
notify the topic, unless the execution's own failure path already did.

Event: the EventBridge event; its detail has executionArn, name, status, error, cause.
Environment (openforge_contract.environment_variables): EndedRunSettings (the topic; the cluster
where runs may use one) and EndpointNamespace, to find a deployment that left no record. The
states it reads the history by are openforge_contract.states'.
Returns {"execution_arn", "status", "published": whether it notified, and failure.clean_up's result}.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_contract.environment_variables import EndedRunSettings, EndpointNamespace
from openforge_lambda.endpoint import Ownership
from openforge_lambda.ended_execution import clean_up_ended

logger = Logger(service="openforge-clean-up-ended-run")


# Each read once per cold start: the stack sets them when it deploys the function.
@cache
def settings() -> EndedRunSettings:
    return EndedRunSettings.from_environment(os.environ)


@cache
def endpoint_namespace() -> Ownership | None:
    return Ownership.from_environment(os.environ) if EndpointNamespace.is_set(os.environ) else None


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    detail = event["detail"]
    logger.append_keys(execution_arn=detail["executionArn"], status=detail["status"])
    result = clean_up_ended(boto3.client, detail, topic_arn=settings().topic_arn, hyperpod_cluster=settings().hyperpod_cluster_name,
                            endpoints=endpoint_namespace())
    for problem in result["cleanup_problems"]:
        logger.warning("clean-up step failed", extra={"problem": problem})
    logger.info("cleaned up after the execution ended", extra=result)
    return result
