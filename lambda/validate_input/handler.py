"""The pipeline's first state: fill the input's defaults, check it, and plan the run
(names and locations), before anything is created or paid for.

Event: {"input": <the execution input (examples/pipeline-input*.json; schema in
openforge_lambda.pipeline_input)>, "execution_name": $$.Execution.Name}
Environment (openforge_contract.environment_variables): PlatformBuckets, RunLimits and
RunDefaults: the buckets, the environment's limits, and its defaults.
Returns {"valid": true, "error": null, "run": <normalised input>, "plan": <run_plan>}, or
{"valid": false, "error": {"field", "cause"}} for a bad input: the state machine's Choice
sends that to Fail(InvalidInput) with the cause, which names the field. A verdict rather
than an exception, so the console shows the cause itself, not a stack trace.
"""
from __future__ import annotations

import os
from functools import cache

from aws_lambda_powertools import Logger
from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError, normalise
from openforge_lambda.run_plan import PlatformLocations, plan_run

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
    locations = platform()
    execution_name = event.get("execution_name") if isinstance(event, dict) else None
    try:
        if not isinstance(event, dict) or "input" not in event:
            raise PipelineInputError("", "the state machine must pass {\"input\": ..., \"execution_name\": ...}")
        run = normalise(event["input"], policy())
        plan = plan_run(run, execution_name, locations)
    except PipelineInputError as error:
        logger.warning("invalid pipeline input", extra={"field": error.field, "cause": str(error)})
        return {"valid": False, "error": {"field": error.field, "cause": str(error)}}
    logger.info("pipeline input valid", extra={"job_name": run["job_name"], "execution_name": execution_name, "mixes": len(plan["mixes"])})
    return {"valid": True, "error": None, "run": run, "plan": plan}
