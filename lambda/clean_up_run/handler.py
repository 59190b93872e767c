"""The pipeline's failure path, before Notify: word the error readably, stop this
execution's training jobs (or cancel its Slurm jobs) still running, roll back a deployment
that had started. Never raises for a clean-up step that fails: it is logged and reported.

Event: the state when the failure was caught: {"run"?, "plan"?, "deployment"?: DeployEndpoint's
record, "error": {"Error", "Cause"}} (no run or plan when the first state failed).
Environment (openforge_contract.environment_variables): HyperPodCluster where runs may use the
cluster; EndpointNamespace, to find a deployment DeployEndpoint made before it failed.
Returns {"error", "cause", "stopped_jobs", "removed", "cleanup_problems"}.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_contract.environment_variables import EndpointNamespace, HyperPodCluster
from openforge_lambda.endpoint import Ownership
from openforge_lambda.failure import CaughtFailure, clean_up

logger = Logger(service="openforge-clean-up-run")


# Each read once per cold start (the stack sets them when it deploys the function); None
# where the environment has no cluster, or no endpoint namespace.
@cache
def cluster() -> HyperPodCluster | None:
    return HyperPodCluster.from_environment(os.environ) if HyperPodCluster.is_set(os.environ) else None


@cache
def endpoint_namespace() -> Ownership | None:
    return Ownership.from_environment(os.environ) if EndpointNamespace.is_set(os.environ) else None


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    failure = CaughtFailure.from_event(event)
    hyperpod, endpoints = None, None
    try:
        hyperpod = cluster()
    except Exception:  # noqa: BLE001 - the clean-up still runs, and the execution must reach Notify
        logger.exception("the HyperPod cluster settings are unusable: Slurm jobs are not cancelled")
    try:
        endpoints = endpoint_namespace()
    except Exception:  # noqa: BLE001 - the clean-up still runs, and the execution must reach Notify
        logger.exception("the endpoint namespace settings are unusable: a deployment without a record is not looked for")
    result = clean_up(failure, boto3.client("sagemaker"), boto3.client("s3") if hyperpod else None,
                      hyperpod_cluster=hyperpod.cluster_name if hyperpod else None, hyperpod_bucket=hyperpod.jobs_bucket if hyperpod else None,
                      endpoints=endpoints)
    logger.append_keys(execution_name=failure.plan.execution_name if failure.plan else None)
    for problem in result["cleanup_problems"]:
        logger.warning("clean-up step failed", extra={"problem": problem})
    logger.info("cleaned up after the failure", extra=result)
    return result
