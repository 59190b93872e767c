"""Start one step of a run (validation, training or evaluation) where the run says it runs:
a SageMaker training job (compute.target training-job) or a Slurm job on the environment's
HyperPod cluster (hyperpod). Safe to retry: the job's name comes from the plan, and a job
already started under it is found, not started twice.

Event: {"step": "validation"|"training"|"evaluation", "run", "plan", "mix": one plan.mixes entry,
        "execution_arn": the execution asking ($$.Execution.Id; absent on a direct invoke)}
Environment (openforge_contract.environment_variables): TrainingEnvironment (images, role,
network, key, tracking, the longest run); HyperPodCluster for hyperpod; PlatformBuckets and
RunLimits, to check the run and its plan again before anything starts
(openforge_lambda.start_check: a direct invoke skips ValidateInput).
Returns the job record CheckTrainingJob takes: {"step", "target", "job_name", "mix", ...}.
When the execution had ended by the time the job was started (a stop while this ran), the
job is stopped again and the record says so under "execution_ended" (openforge_lambda.execution_check).
A request that would not run privately, or not as ValidateInput plans it, raises
TrainingRequestRefused naming the field.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_contract.environment_variables import TrainingEnvironment
from openforge_lambda import execution_check, failure, hyperpod, training_job
from openforge_lambda.pipeline_input import EnvironmentPolicy
from openforge_lambda.run_plan import PlatformLocations
from openforge_lambda.start_check import checked_start

logger = Logger(service="openforge-start-training-job")


# Each read once per cold start: the stack sets these when it deploys the function.
@cache
def run_checks() -> tuple[EnvironmentPolicy, PlatformLocations]:
    return EnvironmentPolicy.from_environment(os.environ), PlatformLocations.from_environment(os.environ)


@cache
def training_environment() -> TrainingEnvironment:
    return TrainingEnvironment.from_environment(os.environ)


@cache
def cluster_environment() -> hyperpod.HyperPodEnvironment:
    return hyperpod.HyperPodEnvironment.from_environment(os.environ)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    step, run, plan, mix = event.get("step"), event.get("run") or {}, event.get("plan") or {}, event.get("mix")
    run, plan, mix = checked_start(step, run, plan, mix, *run_checks(), training_environment().mlflow_tracking_server_arn)
    target = (run.get("compute") or {}).get("target", training_job.TARGET)
    if target == hyperpod.TARGET:
        started = hyperpod.start(boto3.client("s3"), step, run, plan, mix, cluster_environment())
    elif target == training_job.TARGET:
        request = training_job.training_job_request(step, run, plan, mix, training_environment())
        started = training_job.start(boto3.client("sagemaker"), request, mix=mix if mix is not None else request_mix(plan))
    else:
        raise training_job.TrainingRequestRefused("run.compute.target", f"must be training-job or hyperpod, got {target!r}")
    ended = execution_check.ended_status(boto3.client("stepfunctions"), event.get("execution_arn"))
    if ended:
        undone = failure.undo_start(boto3.client("sagemaker"), boto3.client("s3"), job=started)
        started = execution_check.abandoned(started, event["execution_arn"], ended, undone, f"job {started['job_name']}")
        logger.warning("the execution ended while the job started: stopped it again", extra=started)
        return started
    logger.info("training step started", extra=started)
    return started


def request_mix(plan: dict) -> dict | None:
    """A validation run without an explicit mix uses the plan's first."""
    return (plan.get("mixes") or [None])[0]
