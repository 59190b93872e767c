"""Given a dataset planned into shards on S3 (moto), when an object is written to between the
plan and its shard (it grows, or shrinks), then the shard fails before sanitising anything,
naming the object and its planned and current sizes, instead of sanitising a different
amount than planned (a grown object's last range used to stop at its planned end and pass)."""
import json

import orjson
import pytest

from sanitiser.shard import BadRequest, BytesUnaccounted, ObjectChanged
from tests.lambdas.conftest import LambdaContext, load_handler

RECORDS = [{"input": f"ticket number {i} about a parcel" + " word" * (i % 7), "output": "label"} for i in range(60)]
BODY = b"".join(orjson.dumps(r) + b"\n" for r in RECORDS)
KEY = "raw/job-1/part-0.jsonl"


@pytest.fixture
def data(buckets):
    buckets.put(KEY, BODY)
    return buckets


def planned(data, shard_bytes: int) -> list[dict]:
    """The map's items, as the plan Lambda writes them, each as the map's ItemSelector hands it to a shard."""
    result = load_handler("plan_shards")({"bucket": data.datasets, "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/",
                                          "shard_bytes": shard_bytes}, LambdaContext())
    items = json.loads(data.get(result["manifest_key"]))
    return [{"bucket": data.datasets, "key": item["key"], "range": item["range"], "object_bytes": item["object_bytes"],
             "input_prefix": "raw/job-1/", "output": {"bucket": data.datasets, "prefix": "sanitised/job-1/"}, "settings": {"near_dedup": False}}
            for item in items]


def shard(event: dict) -> dict:
    return load_handler("sanitise_shard")(event, LambdaContext())


def test_the_plan_records_each_objects_size_and_an_unchanged_object_passes(data):
    events = planned(data, shard_bytes=len(BODY) // 3)
    assert len(events) > 1 and {e["object_bytes"] for e in events} == {len(BODY)}
    assert sum(shard(e)["lines_in"] for e in events) == 60


@pytest.mark.parametrize("shard_bytes", [10**9, None])  # one whole object; ranges (a third each)
def test_an_object_that_grew_since_the_plan_fails_its_shards_naming_both_sizes(data, shard_bytes):
    events = planned(data, shard_bytes or len(BODY) // 3)
    grown = BODY + orjson.dumps({"input": "written after the plan", "output": "x"}) + b"\n"
    data.put(KEY, grown)
    for event in events:  # was: the whole shard read 61 lines; the last range stopped at the planned end, balanced
        with pytest.raises(ObjectChanged, match=f"s3://{data.datasets}/{KEY}.*is {len(grown):,} bytes now but was {len(BODY):,} "
                                                f"when the shards were planned \\(grew by {len(grown) - len(BODY):,} bytes\\)"):
            shard(event)
    assert "Contents" not in data.s3.list_objects_v2(Bucket=data.datasets, Prefix="sanitised/job-1/clean/")  # nothing sanitised


def test_an_object_that_shrank_below_a_range_fails_it_clearly_not_with_an_s3_error(data):
    events = planned(data, shard_bytes=len(BODY) // 3)
    data.put(KEY, BODY[:100])  # the later ranges now start past the object's end: S3 answers InvalidRange
    for event in events:
        with pytest.raises(ObjectChanged, match=f"is 100 bytes now but was {len(BODY):,} .*shrank by {len(BODY) - 100:,} bytes"):
            shard(event)
    last = dict(events[-1], object_bytes=None)  # without the planned size: the range's bytes still do not add up
    with pytest.raises(BytesUnaccounted, match="read 0 bytes of the range's"):
        shard(last)


@pytest.mark.parametrize("value", [-1, "big", 1.5, True])
def test_a_planned_size_that_is_not_a_size_is_refused(data, value):
    event = dict(planned(data, 10**9)[0], object_bytes=value)
    with pytest.raises(BadRequest, match="object_bytes must be the object's size in bytes"):
        shard(event)
