"""Byte ranges of one object: every line read by exactly one range."""
import io

from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.ranges import RangeLines


def read_range(data: bytes, start: int, end: int, chunk: int) -> bytes:
    raw = RangeLines(io.BytesIO(data[max(start - 1, 0) :]), start, end)
    return io.BufferedReader(raw, buffer_size=chunk).read()


@settings(max_examples=400, deadline=None)
@given(lines=st.lists(st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"")), max_size=30),
       cuts=st.lists(st.integers(0, 2000), max_size=6), chunk=st.integers(1, 64), final_newline=st.booleans())
def test_ranges_partition_the_lines(lines, cuts, chunk, final_newline):
    data = b"\n".join(lines) + (b"\n" if final_newline and lines else b"")
    bounds = sorted({c for c in cuts if c < len(data)} | {0})
    ranges = [(bounds[i], (bounds[i + 1] - 1) if i + 1 < len(bounds) else max(len(data) - 1, 0)) for i in range(len(bounds))]
    assert b"".join(read_range(data, start, end, chunk) for start, end in ranges) == data


def test_plan_gives_small_objects_whole_and_large_ones_in_covering_ranges():
    import pytest

    from sanitiser.plan import plan_items

    items = plan_items([("a.jsonl", 10), ("big.jsonl", 25), ("empty.jsonl", 0)], shard_bytes=10)
    assert items == [
        {"key": "a.jsonl", "range": None, "object_bytes": 10},
        {"key": "big.jsonl", "range": [0, 9], "object_bytes": 25}, {"key": "big.jsonl", "range": [10, 19], "object_bytes": 25},
        {"key": "big.jsonl", "range": [20, 24], "object_bytes": 25},
        {"key": "empty.jsonl", "range": None, "object_bytes": 0},
    ]
    with pytest.raises(ValueError, match="shard_bytes must be at least 1"):
        plan_items([], shard_bytes=0)
