"""Given the sanitisation Lambdas on S3 (moto), when settings, line endings or object sizes
are not what the sanitiser expects, then nothing vanishes: a setting a user may not set is
refused by name before any shard runs, CR-only objects split into their lines in whole
and ranged shards, and a shard that did not read every byte of its object or range fails."""
import json

import orjson
import pytest

from sanitiser.shard import BadRequest, BytesUnaccounted, ShardRequest, sanitise_shard
from tests.lambdas.conftest import LambdaContext, load_handler

RECORDS = [{"input": f"ticket number {i} about a parcel" + " word" * (i % 7), "output": "label"} for i in range(60)]


def shard_event(key: str, settings=None, byte_range=None) -> dict:
    return {"bucket": "openforge-test-datasets", "key": key, "input_prefix": "raw/job-1/", "range": byte_range,
            "output": {"bucket": "openforge-test-datasets", "prefix": "sanitised/job-1/"}, "settings": settings or {}}


def plan_event(**extra) -> dict:
    return {"bucket": "openforge-test-datasets", "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/", **extra}


@pytest.fixture
def data(buckets):
    buckets.put("raw/job-1/part-0.jsonl", b"".join(orjson.dumps(r) + b"\n" for r in RECORDS))
    return buckets


@pytest.mark.parametrize("settings, named", [
    ({"chunk_bytes": 0}, "chunk_bytes"),  # was: lines_in 0, clean 0, balanced, passed
    ({"fast_path": False}, "fast_path"),
    ({"marker_fixx": "strip"}, "marker_fixx"),
    ({"marker_fix": "nope"}, "'marker_fix' must be space | strip | quarantine"),
    ({"near_threshold": 0}, "'near_threshold' must be float"),
    ({"max_line_bytes": 0}, "'max_line_bytes' must be int"),
    ({"scrub_pii": "no"}, "'scrub_pii' must be bool"),
    ({"extra_markers": "<x>"}, "'extra_markers' must be list of strings"),
])
def test_a_setting_a_user_may_not_set_is_refused_by_name_in_plan_and_shard(data, settings, named):
    with pytest.raises(BadRequest, match=named):
        load_handler("plan_shards")(plan_event(shard_bytes=1000, settings=settings), LambdaContext())
    assert "Contents" not in data.s3.list_objects_v2(Bucket=data.datasets, Prefix="sanitised/")  # refused before the plan was written
    with pytest.raises(BadRequest, match=named):
        load_handler("sanitise_shard")(shard_event("raw/job-1/part-0.jsonl", settings), LambdaContext())


def test_a_shard_size_of_zero_is_refused_not_replaced_by_the_default(data):
    for shard_bytes in (0, -5, "big", True):
        with pytest.raises(ValueError, match="shard_bytes must be a whole number of bytes >= 1"):
            load_handler("plan_shards")(plan_event(shard_bytes=shard_bytes), LambdaContext())


def test_cr_only_objects_split_into_their_lines_whole_and_in_ranges(data):
    body = b"".join(orjson.dumps(r) + b"\r" for r in RECORDS)
    data.put("raw/job-1/mac.jsonl", body)
    whole = load_handler("sanitise_shard")(shard_event("raw/job-1/mac.jsonl", {"near_dedup": False}), LambdaContext())
    assert (whole["lines_in"], whole["clean"], whole["quarantined"]) == (60, 60, 0)  # was: 1 line, truncated_last_line
    assert data.get("sanitised/job-1/clean/mac.jsonl").splitlines() == [orjson.dumps(r) for r in RECORDS]
    third = len(body) // 3
    ranges = [[0, third], [third + 1, 2 * third], [2 * third + 1, len(body) - 1]]
    parts = [load_handler("sanitise_shard")(shard_event("raw/job-1/mac.jsonl", {"near_dedup": False}, r), LambdaContext()) for r in ranges]
    assert sum(p["lines_in"] for p in parts) == 60 and all(p["lines_in"] for p in parts)  # was: the first range had them all
    assert all(p["clean"] == p["lines_in"] for p in parts)


def test_every_shard_records_its_bytes_and_they_add_up(data):
    body = data.get("raw/job-1/part-0.jsonl")
    load_handler("sanitise_shard")(shard_event("raw/job-1/part-0.jsonl"), LambdaContext())
    stats = json.loads(data.get("sanitised/job-1/stats/part-0.jsonl.json"))  # a shard's name ends in .jsonl, stats add .json
    assert stats["bytes"] == {"what": "object", "expected": len(body), "accounted": len(body), "balanced": True}
    load_handler("sanitise_shard")(shard_event("raw/job-1/part-0.jsonl", byte_range=[100, 999]), LambdaContext())
    ranged = json.loads(data.get(f"sanitised/job-1/stats/part-0.bytes-{100:015d}-{999:015d}.jsonl.json"))
    assert ranged["bytes"] == {"what": "range", "expected": 900, "accounted": 900, "balanced": True, "object_bytes": len(body)}


def test_a_range_past_the_end_of_the_object_fails_the_shard(data):
    size = len(data.get("raw/job-1/part-0.jsonl"))  # the object shrank after the plan, say: its last range reaches past its end
    with pytest.raises(BytesUnaccounted, match=f"read {size - 1000:,} bytes of the range's {size:,}"):
        load_handler("sanitise_shard")(shard_event("raw/job-1/part-0.jsonl", byte_range=[1000, size + 999]), LambdaContext())


class Output:
    def __init__(self):
        self.written = b""

    def write(self, data: bytes) -> None:
        self.written += data

    def __enter__(self):
        return self

    def __exit__(self, *_):
        return False


def test_an_object_read_short_of_its_size_fails_the_shard_loudly():
    import io

    body = b"".join(orjson.dumps(r) + b"\n" for r in RECORDS)
    request = ShardRequest.from_event(shard_event("raw/job-1/part-0.jsonl"))
    outputs = {}

    def open_output(key):
        return outputs.setdefault(key, Output())

    # the connection gave out a third of the way in; the object is bigger than what came
    with pytest.raises(BytesUnaccounted, match=f"read {len(body) // 3:,} bytes of the object's {len(body):,}"):
        sanitise_shard(request, lambda: (io.BytesIO(body[: len(body) // 3]), len(body)), open_output)
    stats = json.loads(next(o.written for k, o in outputs.items() if "/stats/" in k))
    assert stats["bytes"]["balanced"] is False  # the stats say so too, for the report
