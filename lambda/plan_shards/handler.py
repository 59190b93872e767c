"""List the dataset and write the Distributed Map's items: one per object, or byte ranges
of objects larger than the shard size.

Event: {"bucket": ..., "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/",
        "shard_bytes": 536870912}
Writes <output_prefix>/plan/items.json and returns {"manifest_key", "items", "objects", "bytes"}.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.sanitisation import plan_shards
from openforge_contract.environment_variables import OutputKey

logger = Logger(service="openforge-plan-shards")


@cache
def output_key() -> OutputKey:
    """Read once per cold start: the stack sets it when it deploys the function."""
    return OutputKey.from_environment(os.environ)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    result = plan_shards(boto3.client("s3"), event, output_key().kms_key_id)
    logger.info("planned shards", extra=result)
    return result
