"""Given shards in a KMS-encrypted bucket (moto), when the shard handler runs on each and
the summary runs after, then every line is accounted for, outputs sit beside the data
under the key, cross-shard duplicates are removed, and the verdict reads well."""
import json

import orjson
import pytest

from tests.lambdas.conftest import LambdaContext, load_handler

TICKET = {"input": "My parcel number 7731 never arrived and the tracking page shows nothing", "output": "shipping"}


def jsonl(*records) -> bytes:
    return b"".join((r if isinstance(r, bytes) else orjson.dumps(r)) + b"\n" for r in records)


def shard_event(key: str, settings=None) -> dict:
    return {"bucket": "openforge-test-datasets", "key": key, "input_prefix": "raw/job-1/",
            "output": {"bucket": "openforge-test-datasets", "prefix": "sanitised/job-1/"}, "settings": settings or {}}


@pytest.fixture
def shards(buckets):
    buckets.put("raw/job-1/part-0.jsonl", jsonl(TICKET, {"input": "System: reset my password", "output": "login"}, b"not json",
                                                {"input": "mail me at jane@example.com", "output": "account"}))
    buckets.put("raw/job-1/sub/part-1.jsonl", jsonl({"input": "refund for order 55", "output": "refund"}, TICKET))
    return buckets


def test_shard_handler_writes_clean_quarantine_stats_under_kms(shards):
    result = load_handler("sanitise_shard")(shard_event("raw/job-1/part-0.jsonl"), LambdaContext())
    assert result["lines_in"] == 4 and result["clean"] == 3 and result["quarantined"] == 1

    clean = shards.get("sanitised/job-1/clean/part-0.jsonl").splitlines()
    assert orjson.loads(clean[1])["input"] == "System : reset my password"
    assert orjson.loads(clean[2])["input"] == "mail me at [EMAIL]"
    quarantine = [json.loads(line) for line in shards.get("sanitised/job-1/quarantine/part-0.jsonl").splitlines()]
    assert quarantine == [{"source": "s3://openforge-test-datasets/raw/job-1/part-0.jsonl", "line": 3, "reason": "invalid_json",
                           "detail": quarantine[0]["detail"], "raw": "not json", "raw_bytes": 8, "raw_truncated": False}]
    stats = json.loads(shards.get("sanitised/job-1/stats/part-0.jsonl.json"))
    assert stats["balanced"] and stats["pii_scrubbed"] == {"EMAIL": 1}
    for kind in ("clean/part-0.jsonl", "quarantine/part-0.jsonl", "stats/part-0.jsonl.json", "keys/part-0.jsonl.bin"):
        head = shards.s3.head_object(Bucket=shards.datasets, Key=f"sanitised/job-1/{kind}")
        assert head["ServerSideEncryption"] == "aws:kms" and shards.kms_key_id in head["SSEKMSKeyId"]


def test_summary_removes_cross_shard_duplicates_and_passes_within_the_limit(shards):
    shard = load_handler("sanitise_shard")
    for key in ("raw/job-1/part-0.jsonl", "raw/job-1/sub/part-1.jsonl"):
        shard(shard_event(key), LambdaContext())
    summary = load_handler("summarise_sanitisation")({"output": {"bucket": shards.datasets, "prefix": "sanitised/job-1/"}, "max_quarantine_percent": 20}, LambdaContext())
    assert summary["passed"] and summary["cause"] is None and summary["balanced"]
    assert (summary["lines_in"], summary["clean"], summary["quarantined"], summary["cross_shard_duplicates"]) == (6, 4, 1, 1)
    assert shards.get("sanitised/job-1/clean/sub/part-1.jsonl").splitlines() == [orjson.dumps({"input": "refund for order 55", "output": "refund"})]
    duplicate = json.loads(shards.get("sanitised/job-1/duplicates-cross-shard.jsonl"))
    assert duplicate["line"] == 2 and duplicate["duplicate_of"] == {"source": "s3://openforge-test-datasets/raw/job-1/part-0.jsonl", "line": 1}
    report = shards.get("sanitised/job-1/report.md").decode()
    assert "Verdict: PASSED" in report and "invalid_json" in report


def test_summary_rejects_over_the_limit_with_a_readable_cause(shards):
    load_handler("sanitise_shard")(shard_event("raw/job-1/part-0.jsonl"), LambdaContext())
    summary = load_handler("summarise_sanitisation")({"output": {"bucket": shards.datasets, "prefix": "sanitised/job-1/"}, "max_quarantine_percent": 5}, LambdaContext())
    assert not summary["passed"]
    assert summary["cause"].startswith("1 of 4 lines quarantined (25.00% > limit 5%); most common reasons: invalid_json 1")


def test_a_bad_event_names_what_is_missing(shards):
    from sanitiser.shard import BadRequest

    with pytest.raises(BadRequest, match="missing 'output'"):
        load_handler("sanitise_shard")({"bucket": "b", "key": "k"}, LambdaContext())
    with pytest.raises(BadRequest, match="unknown sanitiser setting"):
        load_handler("sanitise_shard")(shard_event("raw/job-1/part-0.jsonl", {"marker_fixx": "strip"}), LambdaContext())


def test_large_outputs_go_up_in_parts_and_failures_leave_nothing(shards, monkeypatch):
    from openforge_lambda import s3_streams

    monkeypatch.setattr(s3_streams, "PART_BYTES", 5 * 1024 * 1024)
    body = jsonl(*({"input": f"question number {i} " + "x" * 900, "output": "y"} for i in range(12000)))
    shards.put("raw/job-1/big.jsonl", body)
    result = load_handler("sanitise_shard")(shard_event("raw/job-1/big.jsonl", {"near_dedup": False}), LambdaContext())
    assert result["clean"] == 12000
    assert shards.get("sanitised/job-1/clean/big.jsonl") == body

    with pytest.raises(RuntimeError):
        with s3_streams.ObjectWriter(shards.s3, shards.datasets, "sanitised/half.jsonl", shards.kms_key_id) as out:
            out.write(b"x" * (6 * 1024 * 1024))
            raise RuntimeError("crash mid-write")
    assert "Contents" not in shards.s3.list_objects_v2(Bucket=shards.datasets, Prefix="sanitised/half")
    assert not shards.s3.list_multipart_uploads(Bucket=shards.datasets).get("Uploads")


def test_comprehend_behind_a_flag_replaces_what_it_finds(shards):
    import boto3

    from sanitiser.core import Sanitiser, Settings
    from tests.sanitiser.conftest import ListSink

    import io

    text = "Please route this to the team that handles it for " + "Jane Doe" + " today."  # moto names characters 50-58 a NAME

    sink = ListSink()
    sanitiser = Sanitiser(Settings(comprehend_pii=True, scrub_pii=False), comprehend_client=boto3.client("comprehend"))
    stats = sanitiser.run(io.BytesIO(orjson.dumps({"input": text, "output": "ok"}) + b"\n"), "test", sink)
    cleaned = orjson.loads(sink.clean_lines[0])["input"]
    assert cleaned == "Please route this to the team that handles it for [NAME] today."
    assert stats.pii == {"COMPREHEND_NAME": 1}  # the EMAIL span moto also returns lies past this text


def test_byte_ranges_of_one_large_object_together_give_the_whole(shards):
    records = [{"input": f"ticket {i}" + " word" * (i % 17), "output": "label"} for i in range(400)]
    records[123] = b"not json at all"
    body = jsonl(*records)
    shards.put("raw/job-1/large.jsonl", body)
    handler = load_handler("sanitise_shard")
    third = len(body) // 3
    ranges = [(0, third), (third + 1, 2 * third), (2 * third + 1, len(body) - 1)]
    results = [handler(dict(shard_event("raw/job-1/large.jsonl", {"near_dedup": False}), range=list(r)), LambdaContext()) for r in ranges]
    assert sum(r["lines_in"] for r in results) == 400 and sum(r["quarantined"] for r in results) == 1
    # each range's clean file ends in .jsonl: the trainer reads *.jsonl below clean/ and skipped the whole object before
    clean = b"".join(shards.get(f"sanitised/job-1/clean/large.bytes-{s:015d}-{e:015d}.jsonl") for s, e in ranges)
    assert clean == jsonl(*(r for i, r in enumerate(records) if i != 123))
    summary = load_handler("summarise_sanitisation")({"output": {"bucket": shards.datasets, "prefix": "sanitised/job-1/"}, "max_quarantine_percent": 5}, LambdaContext())
    assert summary["lines_in"] == 400 and summary["passed"] and summary["balanced"]


def test_plan_handler_writes_the_map_items_under_kms(shards):
    result = load_handler("plan_shards")({"bucket": shards.datasets, "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/",
                                          "shard_bytes": 100}, LambdaContext())
    items = json.loads(shards.get(result["manifest_key"]))
    keys = [item["key"] for item in items]
    assert set(keys) == {"raw/job-1/part-0.jsonl", "raw/job-1/sub/part-1.jsonl"} and result["objects"] == 2
    big = [item["range"] for item in items if item["key"] == "raw/job-1/part-0.jsonl"]
    assert big[0][0] == 0 and all(r is not None for r in big) and len(big) > 1  # part-0 is over 100 bytes
    head = shards.s3.head_object(Bucket=shards.datasets, Key=result["manifest_key"])
    assert head["ServerSideEncryption"] == "aws:kms"


def test_a_clean_file_ends_in_jsonl_whatever_its_input_was_named(shards):
    from openforge_training.sources import jsonl_files

    shards.put("raw/job-1/export.JSONL", jsonl({"input": "a question", "output": "an answer"}))
    load_handler("sanitise_shard")(shard_event("raw/job-1/export.JSONL", {"near_dedup": False}), LambdaContext())
    assert shards.get("sanitised/job-1/clean/export.jsonl") == jsonl({"input": "a question", "output": "an answer"})
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder:  # what the training job's channel holds
        (Path(folder) / "export.jsonl").write_bytes(shards.get("sanitised/job-1/clean/export.jsonl"))
        assert [path.name for path in jsonl_files(Path(folder))] == ["export.jsonl"]


def test_two_inputs_that_would_share_a_clean_file_are_refused_by_name(shards):
    shards.put("raw/job-1/part-0.JSONL", jsonl({"input": "a question", "output": "an answer"}))
    with pytest.raises(ValueError, match=r"raw/job-1/part-0\.JSONL.*clean/part-0\.jsonl|raw/job-1/part-0\.jsonl.*clean/part-0\.jsonl"):
        load_handler("plan_shards")({"bucket": shards.datasets, "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/"}, LambdaContext())


def test_a_range_and_an_object_named_like_it_are_refused_before_any_shard_runs(shards):
    shards.put("raw/job-1/big.jsonl", jsonl(*({"input": f"question {i}", "output": "an answer"} for i in range(20))))
    shards.put("raw/job-1/big.bytes-000000000000000-000000000000099.jsonl", jsonl({"input": "a question", "output": "an answer"}))
    with pytest.raises(ValueError, match=r"clean/big\.bytes-000000000000000-000000000000099\.jsonl"):
        load_handler("plan_shards")({"bucket": shards.datasets, "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/",
                                     "shard_bytes": 100}, LambdaContext())


def test_an_output_key_over_s3s_limit_is_refused_before_any_shard_reads(shards):
    long_key = "raw/job-1/" + "n" * 1000 + ".jsonl"  # fits S3 as an input; its stats output (+ prefix, + .json) would not
    shards.put(long_key, jsonl({"input": "a question", "output": "an answer"}))
    with pytest.raises(ValueError, match="over S3's 1,024 for a key"):
        load_handler("plan_shards")({"bucket": shards.datasets, "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/"}, LambdaContext())
