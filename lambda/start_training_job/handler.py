"""Start one step of a run (validation, training or evaluation) where the run says it runs:
a SageMaker training job (compute.target training-job) or a Slurm job on the environment's
HyperPod cluster (hyperpod). Safe to retry: the job's name comes from the plan, and a job
already started under it is found, not started twice.

Event: {"step": "validation"|"training"|"evaluation", "run", "plan", "mix": one plan.mixes entry,
        "execution_arn": the execution asking ($$.Execution.Id; absent on a direct invoke)}
Environment: TRAINING_IMAGE_URI_GPU, TRAINING_IMAGE_URI_NEURON, MLFLOW_TRACKING_SERVER_ARN,
MAX_RUNTIME_SECONDS; for training jobs TRAINING_ROLE_ARN, TRAINING_SUBNET_IDS,
TRAINING_SECURITY_GROUP_IDS (comma-separated), TRAINING_KMS_KEY_ARN; for hyperpod
HYPERPOD_CLUSTER_NAME, HYPERPOD_JOBS_BUCKET and HYPERPOD_BUCKETS (comma-separated).
Also DATASETS_BUCKET, ARTIFACTS_BUCKET and the environment's limits, to check the run and its
plan again before anything starts (openforge_lambda.start_check: a direct invoke skips ValidateInput).
Returns the job record CheckTrainingJob takes: {"step", "target", "job_name", "mix", ...}.
When the execution had ended by the time the job was started (a stop while this ran), the
job is stopped again and the record says so under "execution_ended" (openforge_lambda.execution_check).
A request that would not run privately, or not as ValidateInput plans it, raises
TrainingRequestRefused naming the field.
"""
from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda import execution_check, failure, hyperpod, training_job
from openforge_lambda.start_check import checked_start

logger = Logger(service="openforge-start-training-job")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    step, run, plan, mix = event.get("step"), event.get("run") or {}, event.get("plan") or {}, event.get("mix")
    run, plan, mix = checked_start(step, run, plan, mix, os.environ)
    target = (run.get("compute") or {}).get("target", training_job.TARGET)
    if target == hyperpod.TARGET:
        started = hyperpod.start(boto3.client("s3"), step, run, plan, mix, hyperpod.HyperPodEnvironment.from_environment())
    elif target == training_job.TARGET:
        request = training_job.training_job_request(step, run, plan, mix, training_job.TrainingEnvironment.from_environment())
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
