"""The sanitisation steps on S3: plan the shards, sanitise one, summarise them. The three
Lambdas call these with boto3's S3 client; the local runner (`make demo`) calls them with its
folder-backed client, so both run the same code. Outputs are written under ``kms_key_id``.
"""
from __future__ import annotations

import io
import json
from array import array
from collections.abc import Mapping

from botocore.exceptions import ClientError

from openforge_contract.environment_variables import DEFAULT_MAX_QUARANTINE_PERCENT
from openforge_contract.s3_layout import (KEYS_OUTPUT, OUTPUT_KINDS, OUTPUT_SUFFIXES, STATS_OUTPUT, output_folder, output_key, plan_manifest_key,
                                         shard_name)

from openforge_lambda.aws_rules import MAX_OBJECT_KEY_BYTES
from openforge_lambda.s3_streams import ObjectWriter, open_object

from sanitiser.plan import DEFAULT_SHARD_BYTES, plan_items
from sanitiser.shard import ShardRequest, sanitise_shard, settings_from
from sanitiser.summary import Shard, drop_lines, duplicates_jsonl, report_documents, summarise


def plan_shards(s3, event: Mapping, kms_key_id: str | None) -> dict:
    """Event {"bucket", "input_prefix", "output_prefix", "shard_bytes", "settings"}: checks
    the settings before any shard runs (sanitiser/settings.py: only those a user may set),
    writes <output_prefix>/plan/items.json (the Distributed Map's items: objects, or byte
    ranges of large ones) and returns {"manifest_key", "items", "objects", "bytes"}."""
    settings_from(event.get("settings"))
    bucket, prefix = event["bucket"], event["input_prefix"]
    shard_bytes = event.get("shard_bytes", DEFAULT_SHARD_BYTES)
    if type(shard_bytes) is float and shard_bytes.is_integer():  # 1e9 in the execution's JSON
        shard_bytes = int(shard_bytes)
    if type(shard_bytes) is not int or shard_bytes < 1:
        raise ValueError(f"shard_bytes must be a whole number of bytes >= 1, got {shard_bytes!r}")
    objects = [(item["Key"], item["Size"]) for item in _listed(s3, bucket, prefix) if not item["Key"].endswith("/")]
    items = plan_items(objects, shard_bytes)
    _check_output_names(bucket, prefix, event["output_prefix"], items)
    manifest_key = plan_manifest_key(event["output_prefix"])
    with ObjectWriter(s3, bucket, manifest_key, kms_key_id, content_type="application/json") as out:
        out.write(json.dumps(items).encode())
    return {"manifest_key": manifest_key, "items": len(items), "objects": len(objects), "bytes": sum(size for _, size in objects)}


def _check_output_names(bucket: str, input_prefix: str, output_prefix: str, items: list[dict]) -> None:
    """Before any shard runs: no two items write the same outputs (data.jsonl and data.JSONL;
    a range of big.jsonl and an object named like it) and every output key fits S3's 1,024
    bytes, which a shard would otherwise find out after reading its data."""
    named: dict[str, str] = {}
    for item in items:
        name = shard_name(item["key"][len(input_prefix):], tuple(item["range"]) if item["range"] else None)
        where = item["key"] + (f" bytes {item['range'][0]}-{item['range'][1]}" if item["range"] else "")
        other = named.setdefault(name, where)
        if other != where:
            raise ValueError(f"s3://{bucket}/{other} and s3://{bucket}/{where} would both be sanitised to clean/{name} "
                             "(clean files end in .jsonl, what the trainer reads): rename one")
        longest = max((output_key(output_prefix, kind, name) for kind in OUTPUT_KINDS), key=lambda key: len(key.encode()))
        if len(longest.encode()) > MAX_OBJECT_KEY_BYTES:
            raise ValueError(f"s3://{bucket}/{item['key']}: its output {longest!r} would be {len(longest.encode()):,} bytes, over S3's "
                             f"{MAX_OBJECT_KEY_BYTES:,} for a key; shorten the object's name or the output prefix")


def sanitise_one_shard(s3, event: Mapping, kms_key_id: str | None) -> dict:
    """One item of the map (sanitise_shard/handler.py documents the event); returns its counts."""
    request = ShardRequest.from_event(event)
    return sanitise_shard(
        request,
        open_input=lambda: _opened(s3, request),
        open_output=lambda key: ObjectWriter(s3, request.output_bucket, key, kms_key_id),
    )


def summarise_shards(s3, event: Mapping, kms_key_id: str | None) -> dict:
    """Event {"output": {"bucket", "prefix"}, "max_quarantine_percent"}: totals every shard's
    stats, removes exact duplicates across shards, writes report.json/.md, and returns the
    totals with "passed" and a readable "cause"."""
    bucket, prefix = event["output"]["bucket"], event["output"]["prefix"].rstrip("/")
    limit = float(event.get("max_quarantine_percent", DEFAULT_MAX_QUARANTINE_PERCENT))

    def read(key: str) -> bytes:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    shards = []
    stats_folder, stats_suffix = output_folder(prefix, STATS_OUTPUT), OUTPUT_SUFFIXES[STATS_OUTPUT]
    for stats_key in sorted(item["Key"] for item in _listed(s3, bucket, stats_folder)):
        keys = array("Q")
        keys.frombytes(read(output_key(prefix, KEYS_OUTPUT, stats_key[len(stats_folder): -len(stats_suffix)])))
        shards.append(Shard(json.loads(read(stats_key)), keys))

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
    return verdict.as_output(f"s3://{bucket}/{prefix}/report.md")


def _opened(s3, request: ShardRequest) -> tuple:
    """(the object's body from ``read_from``, the whole object's size): the size is what the
    shard's bytes are checked against."""
    try:
        response = s3.get_object(Bucket=request.bucket, Key=request.key, **({"Range": f"bytes={request.read_from}-"} if request.read_from else {}))
    except ClientError as error:
        if error.response.get("Error", {}).get("Code") != "InvalidRange":
            raise
        # The object now ends before this range starts (it shrank since the plan): nothing to
        # read, and its size, for the shard to say so (ObjectChanged, or BytesUnaccounted).
        return io.BytesIO(b""), s3.head_object(Bucket=request.bucket, Key=request.key)["ContentLength"]
    return response["Body"], request.read_from + response["ContentLength"]


def _listed(s3, bucket: str, prefix: str) -> list[dict]:
    return [item for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix) for item in page.get("Contents", [])]
