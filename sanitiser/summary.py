"""Total the shards' stats, remove exact duplicates across shards, write the report, and
decide whether the run may go on (quarantined share within the limit).

Cross-shard exact dedup is a second pass over the shards' content keys (16 bytes per clean
record): the first occurrence in shard order is kept; affected clean objects are rewritten
without the later copies. Memory: about 100 bytes per unique clean record in one dict, so
a 10 GB Lambda handles on the order of 50 million records. Cross-shard *near*-duplicate
detection is not done: it would need every shard's MinHash signatures in one LSH index
(256 bytes per record at 64 permutations) or a shuffle by band; see docs/sanitisation.md.
"""
from __future__ import annotations

import json
from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import orjson

from .core import Stats
from .report import markdown, over_limit, quarantined_percent


@dataclass
class Shard:
    stats: dict  # the shard's stats JSON (source, clean_key, counts)
    keys: array  # (content key, input line) per clean record, in clean order


def find_cross_shard_duplicates(shards: list[Shard]) -> dict[int, dict[int, dict]]:
    """{shard index: {clean index: duplicate record}} for copies of records kept in an earlier shard."""
    first: dict[int, tuple[int, int]] = {}
    found: dict[int, dict[int, dict]] = {}
    for shard_index, shard in enumerate(shards):
        for clean_index in range(len(shard.keys) // 2):
            key, line = shard.keys[2 * clean_index], shard.keys[2 * clean_index + 1]
            earlier = first.setdefault(key, (shard_index, line))
            if earlier[0] != shard_index:
                found.setdefault(shard_index, {})[clean_index] = {
                    "source": shard.stats["source"], "line": line, "kind": "exact-cross-shard",
                    "duplicate_of": {"source": shards[earlier[0]].stats["source"], "line": earlier[1]},
                }
    return found


def drop_lines(lines: Iterable[bytes], drop: set[int]) -> Iterable[bytes]:
    for index, line in enumerate(lines):
        if index not in drop:
            yield line


@dataclass
class Verdict:
    totals: Stats
    cross_shard_duplicates: int
    passed: bool
    cause: str | None

    def as_output(self, report_key: str) -> dict:
        t = self.totals
        return {"lines_in": t.lines_in, "clean": t.clean, "quarantined": t.quarantined, "duplicates": t.exact_duplicates + t.near_duplicates,
                "cross_shard_duplicates": self.cross_shard_duplicates, "quarantined_percent": round(quarantined_percent(t), 4),
                "balanced": t.balanced, "passed": self.passed, "cause": self.cause, "report_key": report_key}


def summarise(shards: list[Shard], max_quarantine_percent: float, rewrite_clean: Callable[[Shard, set[int]], None],
              write_duplicates: Callable[[list[dict]], None]) -> Verdict:
    totals = Stats()
    for shard in shards:
        totals.add(Stats.from_dict(shard.stats))
    duplicates = find_cross_shard_duplicates(shards)
    records = []
    for shard_index, dropped in sorted(duplicates.items()):
        rewrite_clean(shards[shard_index], set(dropped))
        records += [dropped[i] for i in sorted(dropped)]
    if records:
        write_duplicates(records)
    totals.clean -= len(records)
    totals.exact_duplicates += len(records)
    cause = over_limit(totals, max_quarantine_percent)
    if not totals.balanced:
        cause = f"lines in ({totals.lines_in}) != clean + quarantined + duplicates: a record went missing"
    return Verdict(totals, len(records), cause is None, cause)


def report_documents(verdict: Verdict, shards: list[Shard], max_quarantine_percent: float) -> tuple[bytes, bytes]:
    per_source = {shard.stats["source"]: shard.stats for shard in shards}
    body = {"total": verdict.totals.to_dict(), "cross_shard_duplicates": verdict.cross_shard_duplicates,
            "max_quarantine_percent": max_quarantine_percent, "passed": verdict.passed, "cause": verdict.cause, "sources": per_source}
    text = markdown(verdict.totals, per_source)
    text += f"\nCross-shard exact duplicates removed: {verdict.cross_shard_duplicates:,}\n"
    text += f"\nVerdict: {'PASSED' if verdict.passed else 'REJECTED'} (quarantine limit {max_quarantine_percent:g}%)" + (f": {verdict.cause}" if verdict.cause else "") + "\n"
    return json.dumps(body, indent=2).encode(), text.encode()


def duplicates_jsonl(records: list[dict]) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)
