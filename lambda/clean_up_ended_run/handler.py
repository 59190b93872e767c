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

import json
import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_contract import states
from openforge_contract.environment_variables import EndedRunSettings, EndpointNamespace
from openforge_lambda.endpoint import Ownership
from openforge_lambda.ended_execution import clean_up_execution, events_after, state_succeeded

logger = Logger(service="openforge-clean-up-ended-run")
ENDED = {"ABORTED": "StoppedBeforeTheEnd", "TIMED_OUT": "States.Timeout", "FAILED": "ExecutionFailed"}


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
    execution_arn, status = detail["executionArn"], detail["status"]
    logger.append_keys(execution_arn=execution_arn, status=status)
    history = events_after(boto3.client("stepfunctions"), execution_arn)
    error = {"Error": detail.get("error") or ENDED.get(status, status),
             "Cause": detail.get("cause") or f"the execution ended {status} before its own clean-up ran"}
    result = clean_up_execution(boto3.client, execution_arn, error, validate_state=states.VALIDATE, deploy_state=states.DEPLOY,
                                hyperpod_cluster=settings().hyperpod_cluster_name, endpoints=endpoint_namespace(), history=history)
    for problem in result["cleanup_problems"]:
        logger.warning("clean-up step failed", extra={"problem": problem})
    published = not state_succeeded(history, states.NOTIFY_FAILURE)  # a FAILED run's own path may have notified
    if published:
        message = {"execution_arn": execution_arn, "execution_name": detail.get("name"), "status": status, **result}
        boto3.client("sns").publish(TopicArn=settings().topic_arn, Subject=f"OpenForge run {status.lower().replace('_', ' ')}",
                                    Message=json.dumps(message, default=str))
    logger.info("cleaned up after the execution ended", extra=result)
    return {"execution_arn": execution_arn, "status": status, "published": published, **result}

