"""Sanitise one S3 object of the dataset (one item of the Distributed Map).

Event (the map's ItemSelector builds it):
    {"bucket": ..., "key": ..., "input_prefix": "raw/job-1/",
     "output": {"bucket": ..., "prefix": "sanitised/job-1/"},
     "settings": {"marker_fix": "space", "scrub_pii": true, "near_dedup": true, ...},
     "range": [start, end]}  (optional: only the lines starting in these bytes of a large object)
Writes, under the output prefix and the key's path below input_prefix: clean/<path>,
quarantine/<path>, duplicates/<path>, stats/<path>.json and keys/<path>.bin (content keys
of the clean records, for the summary's cross-shard dedup). Returns the counts.
"""
from __future__ import annotations

import os
from functools import cache

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.sanitisation import sanitise_one_shard
from openforge_contract.environment_variables import OutputKey

logger = Logger(service="openforge-sanitise-shard")


@cache
def output_key() -> OutputKey:
    """Read once per cold start: the stack sets it when it deploys the function."""
    return OutputKey.from_environment(os.environ)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    summary = sanitise_one_shard(boto3.client("s3"), event, output_key().kms_key_id)
    logger.info("sanitised shard", extra=summary)
    return summary
