"""Total every shard's stats, remove cross-shard exact duplicates, write the report beside
the data, and say whether the quarantined share is within the limit.

Event: {"output": {"bucket": ..., "prefix": ...}, "max_quarantine_percent": 5}
Returns the totals with "passed" and a readable "cause"; the state machine's Choice sends
a failed check to a Fail state that shows the cause.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.sanitisation import summarise_shards
from openforge_contract.environment_variables import OutputKey

logger = Logger(service="openforge-summarise-sanitisation")


@cache
def output_key() -> OutputKey:
    """Read once per cold start: the stack sets it when it deploys the function."""
    return OutputKey.from_environment(os.environ)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    output = summarise_shards(boto3.client("s3"), event, output_key().kms_key_id)
    logger.info("sanitisation summary", extra=output)
    return output
