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
TrainingRequestRefused naming the field. Where the step runs is decided in
openforge_lambda.pipeline_steps.start_training_step.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_contract.environment_variables import TrainingEnvironment
from openforge_lambda import hyperpod
from openforge_lambda.pipeline_input import EnvironmentPolicy
from openforge_lambda.pipeline_steps import start_training_step
from openforge_lambda.run_plan import PlatformLocations
from openforge_lambda.start_check import StartRequest

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
    request = StartRequest.from_event(event, *run_checks())
    started = start_training_step(boto3.client, request, training_environment=training_environment, hyperpod_environment=cluster_environment)
    if "execution_ended" in started:
        logger.warning("the execution ended while the job started: stopped it again", extra=started)
    else:
        logger.info("training step started", extra=started)
    return started
