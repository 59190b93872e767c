"""The pipeline's first state: fill the input's defaults, check it, and plan the run
(names and locations), before anything is created or paid for.

Event: {"input": <the execution input (examples/pipeline-input*.json; schema in
openforge_lambda.pipeline_input)>, "execution_name": $$.Execution.Name}
Environment (openforge_contract.environment_variables): PlatformBuckets, RunLimits and
RunDefaults: the buckets, the environment's limits, and its defaults. It reads one object:
the base model's config.json, for the capacity plan (openforge_lambda.capacity_check).
Returns {"valid": true, "error": null, "run": <normalised input (openforge_lambda.run.Run)>,
"plan": <openforge_lambda.run_plan.RunPlan>}, or
{"valid": false, "error": {"field", "cause"}} for a bad input: the state machine's Choice
sends that to Fail(InvalidInput) with the cause, which names the field. A verdict rather
than an exception, so the console shows the cause itself, not a stack trace.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger

from openforge_lambda.capacity_check import read_model_config
from openforge_lambda.pipeline_input import EnvironmentPolicy
from openforge_lambda.pipeline_steps import validate_input
from openforge_lambda.run_plan import PlatformLocations

logger = Logger(service="openforge-validate-input")


@cache
def platform() -> PlatformLocations:
    """Read once per cold start (the stack sets the variables when it deploys the function); a
    missing one is a deployment fault, raised, not the user's."""
    return PlatformLocations.from_environment(os.environ)


@cache
def policy() -> EnvironmentPolicy:
    """Read once per cold start: the stack sets these when it deploys the function."""
    return EnvironmentPolicy.from_environment(os.environ)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    verdict = validate_input(event, policy(), platform(), lambda uri: read_model_config(boto3.client("s3"), uri))
    if verdict["valid"]:
        logger.info("pipeline input valid", extra={"job_name": verdict["run"]["job_name"], "execution_name": verdict["plan"]["execution_name"],
                                                   "mixes": len(verdict["plan"]["mixes"])})
    else:
        logger.warning("invalid pipeline input", extra=verdict["error"])
    return verdict
