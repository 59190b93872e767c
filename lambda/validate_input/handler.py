"""The pipeline's first state: fill the input's defaults and check it, before anything is
created or paid for.

Event: the execution input (examples/pipeline-input*.json; the schema is
openforge_lambda.pipeline_input), plus ``execution_name`` when the state machine adds it
(``$$.Execution.Name``; not part of the input).
Returns the normalised input, with ``execution_name`` when given. A bad input raises
``InvalidInput`` whose message names the field; Step Functions shows it as the error's
cause, and the state machine catches ``InvalidInput``.
"""
from __future__ import annotations

import os

from aws_lambda_powertools import Logger
from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError, normalise

logger = Logger(service="openforge-validate-input")


class InvalidInput(Exception):
    """The error type the state machine catches; the message is the readable cause."""


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    execution_name = None
    if isinstance(event, dict):  # anything else is refused by normalise, by name
        event = dict(event)
        execution_name = event.pop("execution_name", None)
    try:
        result = normalise(event, EnvironmentPolicy.from_environment(os.environ))
    except PipelineInputError as error:
        logger.warning("invalid pipeline input", extra={"field": error.field, "cause": str(error)})
        raise InvalidInput(str(error)) from None
    if execution_name is not None:
        result["execution_name"] = execution_name
    logger.info("pipeline input valid", extra={"job_name": result["job_name"], "execution_name": execution_name})
    return result
