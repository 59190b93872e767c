"""The pipeline's failure path, before Notify: word the error readably, stop this
execution's training jobs (or cancel its Slurm jobs) still running, roll back a deployment
that had started. Never raises for a clean-up step that fails: it is logged and reported.

Event: the state when the failure was caught: {"run"?, "plan"?, "deployment"?: DeployEndpoint's
record, "error": {"Error", "Cause"}} (no run or plan when the first state failed).
Environment: HYPERPOD_CLUSTER_NAME and HYPERPOD_JOBS_BUCKET where runs may use the cluster;
ENDPOINT_NAME_PREFIX and ENDPOINT_OWNER_TAGS (the endpoint namespace), to find a deployment
DeployEndpoint made before it failed.
Returns {"error", "cause", "stopped_jobs", "removed", "cleanup_problems"}.
"""
from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.endpoint import Ownership
from openforge_lambda.failure import CaughtFailure, clean_up

logger = Logger(service="openforge-clean-up-run")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    failure = CaughtFailure.from_event(event)
    cluster = os.environ.get("HYPERPOD_CLUSTER_NAME") or None
    endpoints = None
    try:
        endpoints = Ownership.from_environment() if os.environ.get("ENDPOINT_NAME_PREFIX") else None
    except Exception:  # noqa: BLE001 - the clean-up still runs, and the execution must reach Notify
        logger.exception("the endpoint namespace settings are unusable: a deployment without a record is not looked for")
    result = clean_up(failure, boto3.client("sagemaker"), boto3.client("s3") if cluster else None, hyperpod_cluster=cluster,
                      hyperpod_bucket=os.environ.get("HYPERPOD_JOBS_BUCKET") or None, endpoints=endpoints)
    logger.append_keys(execution_name=failure.plan.execution_name if failure.plan else None)
    for problem in result["cleanup_problems"]:
        logger.warning("clean-up step failed", extra={"problem": problem})
    logger.info("cleaned up after the failure", extra=result)
    return result
