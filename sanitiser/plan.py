"""Split a dataset into the shards the Distributed Map fans out over: one item per object,
or several byte ranges of an object larger than ``shard_bytes``, so no Lambda gets more
than it can finish in its 15 minutes (see docs/sanitisation.md, sizing)."""
from __future__ import annotations

from collections.abc import Iterable

DEFAULT_SHARD_BYTES = 512 * 1024 * 1024  # ~1.2 GB of dedup index at most: safe in a 3008 MB Lambda


def plan_items(objects: Iterable[tuple[str, int]], shard_bytes: int = DEFAULT_SHARD_BYTES) -> list[dict]:
    """[{"key": ..., "range": None | [start, end], "object_bytes": size}], ranges inclusive and
    covering the object; ``object_bytes``, the object's size when planned, lets each shard
    notice an object that changed since (sanitiser/shard.py ObjectChanged)."""
    if shard_bytes < 1:
        raise ValueError(f"shard_bytes must be at least 1, got {shard_bytes}")
    items = []
    for key, size in objects:
        if size <= shard_bytes:
            items.append({"key": key, "range": None, "object_bytes": size})
            continue
        for start in range(0, size, shard_bytes):
            items.append({"key": key, "range": [start, min(start + shard_bytes, size) - 1], "object_bytes": size})
    return items
