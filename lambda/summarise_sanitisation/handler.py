"""Total every shard's stats, remove cross-shard exact duplicates, write the report beside
the data, and say whether the quarantined share is within the limit.

Event: {"output": {"bucket": ..., "prefix": ...}, "max_quarantine_percent": 5}
Returns the totals with "passed" and a readable "cause"; the state machine's Choice sends
a failed check to a Fail state that shows the cause.
"""
from __future__ import annotations

import json
from array import array

import boto3
from aws_lambda_powertools import Logger
from openforge_lambda.s3_streams import ObjectWriter, open_object
from openforge_lambda.settings import required

from sanitiser.summary import Shard, drop_lines, duplicates_jsonl, report_documents, summarise

logger = Logger(service="openforge-summarise-sanitisation")
DEFAULT_MAX_QUARANTINE_PERCENT = 5.0


def _keys_under(s3, bucket: str, prefix: str) -> list[str]:
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys += [item["Key"] for item in page.get("Contents", [])]
    return sorted(keys)


@logger.inject_lambda_context
def handler(event: dict, context) -> dict:
    bucket, prefix = event["output"]["bucket"], event["output"]["prefix"].rstrip("/")
    limit = float(event.get("max_quarantine_percent", DEFAULT_MAX_QUARANTINE_PERCENT))
    kms_key_id = required("OUTPUT_KMS_KEY_ID")
    s3 = boto3.client("s3")

    def read(key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    shards = []
    for stats_key in _keys_under(s3, bucket, f"{prefix}/stats/"):
        stats = json.loads(read(stats_key))
        keys_key = f"{prefix}/keys/" + stats_key[len(f"{prefix}/stats/") : -len(".json")] + ".bin"
        keys = array("Q")
        keys.frombytes(read(keys_key))
        shards.append(Shard(stats, keys))

    def rewrite_clean(shard: Shard, drop: set[int]) -> None:
        # Streams the current version while writing the next one: a GET keeps reading the
        # version it started on, and the bucket is versioned, so nothing is lost either way.
        key = shard.stats["clean_key"]
        with open_object(s3, bucket, key) as source, ObjectWriter(s3, bucket, key, kms_key_id) as out:
            for line in drop_lines(source, drop):
                out.write(line)

    def write_duplicates(records: list[dict]) -> None:
        with ObjectWriter(s3, bucket, f"{prefix}/duplicates-cross-shard.jsonl", kms_key_id) as out:
            out.write(duplicates_jsonl(records))

    verdict = summarise(shards, limit, rewrite_clean, write_duplicates)
    report_json, report_md = report_documents(verdict, shards, limit)
    for name, body, content_type in (("report.json", report_json, "application/json"), ("report.md", report_md, "text/markdown")):
        with ObjectWriter(s3, bucket, f"{prefix}/{name}", kms_key_id, content_type=content_type) as out:
            out.write(body)
    output = verdict.as_output(f"s3://{bucket}/{prefix}/report.md")
    logger.info("sanitisation summary", extra=output)
    return output
