"""The pipeline's sanitisation states on the local S3 folder, through the same library calls
their Lambdas make, so the layout and the verdict are the cloud's:

    Plan shards           sanitiser.plan.plan_items over the objects under the raw prefix
                          -> <output_prefix>plan/items.json
    Sanitise the data     sanitiser.shard.sanitise_shard per item (the Distributed Map; here in turn)
                          -> clean/, quarantine/, duplicates/, stats/, keys/ under the output prefix
    Summarise and check   sanitiser.summary.summarise (cross-shard exact duplicates) and
                          report_documents -> report.json, report.md; the verdict the
                          quarantine check reads ("passed", "cause")

Only the storage differs: files under the local S3 folder instead of objects (and no KMS).
"""
from __future__ import annotations

import json
from array import array
from collections.abc import Mapping

from sanitiser.plan import DEFAULT_SHARD_BYTES, plan_items
from sanitiser.shard import ShardRequest, sanitise_shard
from sanitiser.summary import Shard, drop_lines, duplicates_jsonl, report_documents, summarise

from pipeline.local_s3 import LocalS3


def sanitise(store: LocalS3, bucket: str, job: Mapping) -> dict:
    """``job`` is the run plan's ``sanitisation`` entry ({input_prefix, output_prefix,
    settings, max_quarantine_percent, shard_bytes}). Returns what SummariseSanitisation
    returns: the totals, "passed" and a readable "cause"."""
    input_prefix, output_prefix = job["input_prefix"], job["output_prefix"].rstrip("/")

    def path(key: str):
        return store.path(f"s3://{bucket}/{key}")

    def open_output(key: str):
        target = path(key)
        target.parent.mkdir(parents=True, exist_ok=True)
        return open(target, "wb")

    # Plan shards: every object under the prefix (as list_objects_v2 lists them), in key order.
    source = path(input_prefix)
    objects = sorted((f"{input_prefix}{file.relative_to(source).as_posix()}", file.stat().st_size)
                     for file in (source.rglob("*") if source.is_dir() else ()) if file.is_file())
    items = plan_items(objects, int(job.get("shard_bytes") or DEFAULT_SHARD_BYTES))
    with open_output(f"{output_prefix}/plan/items.json") as manifest:
        manifest.write(json.dumps(items).encode())

    # The Distributed Map: one shard per item.
    for item in items:
        request = ShardRequest.from_event({"bucket": bucket, "key": item["key"], "range": item["range"], "input_prefix": input_prefix,
                                           "output": {"bucket": bucket, "prefix": output_prefix}, "settings": job.get("settings") or {}})

        def open_input(request=request):
            handle = open(path(request.key), "rb")
            handle.seek(request.read_from)
            return handle

        sanitise_shard(request, open_input=open_input, open_output=open_output)

    # Summarise and check: the shards in stats/ key order, as the summary Lambda reads them.
    shards = []
    stats_root = path(f"{output_prefix}/stats/")
    for stats_file in sorted(stats_root.rglob("*.json") if stats_root.is_dir() else (), key=lambda p: p.relative_to(stats_root).as_posix()):
        relative = stats_file.relative_to(stats_root).as_posix()
        keys = array("Q")
        keys.frombytes(path(f"{output_prefix}/keys/{relative[:-len('.json')]}.bin").read_bytes())
        shards.append(Shard(json.loads(stats_file.read_text()), keys))

    def rewrite_clean(shard: Shard, drop: set[int]) -> None:
        clean = path(shard.stats["clean_key"])
        lines = clean.read_bytes().splitlines(keepends=True)
        clean.write_bytes(b"".join(drop_lines(lines, drop)))

    def write_duplicates(records: list[dict]) -> None:
        with open_output(f"{output_prefix}/duplicates-cross-shard.jsonl") as out:
            out.write(duplicates_jsonl(records))

    limit = float(job["max_quarantine_percent"])
    verdict = summarise(shards, limit, rewrite_clean, write_duplicates)
    report_json, report_md = report_documents(verdict, shards, limit)
    for name, body in (("report.json", report_json), ("report.md", report_md)):
        with open_output(f"{output_prefix}/{name}") as out:
            out.write(body)
    return verdict.as_output(f"s3://{bucket}/{output_prefix}/report.md")
