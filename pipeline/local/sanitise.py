"""The pipeline's sanitisation states on the local S3 folder, through the same code their
Lambdas run (openforge_lambda.sanitisation), so the layout and the verdict are the cloud's:

    Plan shards           plan_shards -> <output_prefix>plan/items.json
    Sanitise the data     sanitise_one_shard per item (the Distributed Map; here in turn)
                          -> clean/, quarantine/, duplicates/, stats/, keys/ under the output prefix
    Summarise and check   summarise_shards (cross-shard exact duplicates, report.json, report.md);
                          the verdict the quarantine check reads ("passed", "cause")

Only the storage differs: files under the local S3 folder instead of objects (and no KMS).
"""
from __future__ import annotations

import json
from collections.abc import Mapping

from openforge_lambda.sanitisation import plan_shards, sanitise_one_shard, summarise_shards

from pipeline.local.s3 import LocalS3


def sanitise(store: LocalS3, bucket: str, job: Mapping) -> dict:
    """``job`` is the run plan's ``sanitisation`` entry ({input_prefix, output_prefix,
    settings, max_quarantine_percent, shard_bytes}). Returns what SummariseSanitisation
    returns: the totals, "passed" and a readable "cause"."""
    s3 = store.client()
    output = {"bucket": bucket, "prefix": job["output_prefix"]}
    # The state machine's payloads (constructs/sanitisation_workflow.py build_states), in turn.
    plan = plan_shards(s3, {"bucket": bucket, "input_prefix": job["input_prefix"], "output_prefix": job["output_prefix"],
                            "shard_bytes": job["shard_bytes"], "settings": job.get("settings") or {}}, None)
    items = json.loads(s3.get_object(Bucket=bucket, Key=plan["manifest_key"])["Body"].read())
    for item in items:
        sanitise_one_shard(s3, {"bucket": bucket, "key": item["key"], "range": item["range"], "object_bytes": item["object_bytes"],
                                "input_prefix": job["input_prefix"],
                                "output": output, "settings": job.get("settings") or {}}, None)
    return summarise_shards(s3, {"output": output, "max_quarantine_percent": job["max_quarantine_percent"]}, None)
