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

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.s3_streams import ObjectWriter, open_object
from openforge_lambda.settings import required

from sanitiser.shard import ShardRequest, sanitise_shard

logger = Logger(service="openforge-sanitise-shard")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    request = ShardRequest.from_event(event)
    s3 = boto3.client("s3")
    kms_key_id = required("OUTPUT_KMS_KEY_ID")
    summary = sanitise_shard(
        request,
        open_input=lambda: open_object(s3, request.bucket, request.key, start=request.read_from),
        open_output=lambda key: ObjectWriter(s3, request.output_bucket, key, kms_key_id),
    )
    logger.info("sanitised shard", extra=summary)
    return summary
