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
TrainingRequestRefused naming the field. Where the step runs is decided in
openforge_lambda.pipeline_steps.start_training_step.
"""
from __future__ import annotations

import os

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.pipeline_steps import start_training_step
from openforge_lambda.start_check import StartRequest

logger = Logger(service="openforge-start-training-job")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    started = start_training_step(boto3.client, StartRequest.from_event(event, os.environ))
    if "execution_ended" in started:
        logger.warning("the execution ended while the job started: stopped it again", extra=started)
    else:
        logger.info("training step started", extra=started)
    return started
