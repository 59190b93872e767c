"""List the dataset and write the Distributed Map's items: one per object, or byte ranges
of objects larger than the shard size.

Event: {"bucket": ..., "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/",
        "shard_bytes": 536870912}
Writes <output_prefix>/plan/items.json and returns {"manifest_key", "items", "objects", "bytes"}.
"""
from __future__ import annotations

import json

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.s3_streams import ObjectWriter
from openforge_lambda.settings import required

from sanitiser.plan import DEFAULT_SHARD_BYTES, plan_items

logger = Logger(service="openforge-plan-shards")


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    bucket, prefix = event["bucket"], event["input_prefix"]
    s3 = boto3.client("s3")
    objects = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        objects += [(item["Key"], item["Size"]) for item in page.get("Contents", []) if not item["Key"].endswith("/")]
    items = plan_items(objects, int(event.get("shard_bytes") or DEFAULT_SHARD_BYTES))
    manifest_key = f"{event['output_prefix'].rstrip('/')}/plan/items.json"
    with ObjectWriter(s3, bucket, manifest_key, required("OUTPUT_KMS_KEY_ID"), content_type="application/json") as out:
        out.write(json.dumps(items).encode())
    result = {"manifest_key": manifest_key, "items": len(items), "objects": len(objects), "bytes": sum(size for _, size in objects)}
    logger.info("planned shards", extra=result)
    return result
