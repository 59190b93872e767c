"""Exact and near-duplicate detection; the first occurrence is kept and every later one
records which line it duplicated.

Exact: a 64-bit xxh3 hash of the cleaned conversation (roles + texts), so formatting and
key order do not hide a duplicate. Near: MinHash over word bigrams with LSH (rensa, in
Rust); records shorter than ``MIN_NEAR_TOKENS`` words are left to exact matching because
their Jaccard estimates are noise.
"""
from __future__ import annotations

from array import array
from operator import eq

import orjson
import rensa
import xxhash

MIN_NEAR_TOKENS = 8
MAX_CANDIDATES = 32  # verify at most this many LSH candidates (the earliest): bounds the cost on repetitive data


def content_key(messages: list[tuple[str, str]]) -> int:
    """Stable across processes and machines (cross-shard dedup compares these)."""
    return xxhash.xxh3_64_intdigest(orjson.dumps(messages))


def content_keys(pairs: list) -> list[int]:
    """content_key of each, in one C-level map (garbage where an item is None)."""
    return list(map(xxhash.xxh3_64_intdigest, map(orjson.dumps, pairs)))


class ExactDuplicates:
    """Hash -> line of first occurrence. ~100 bytes per unique record (a dict entry)."""

    def __init__(self):
        self._first: dict[int, int] = {}

    def check_and_add(self, key: int, line: int) -> int:
        """The line this one duplicates, or 0 (line numbers start at 1) after remembering it."""
        first = self._first.setdefault(key, line)
        return 0 if first == line else first


class NearDuplicates:
    """LSH proposes candidates; a candidate counts only if the estimated Jaccard similarity
    of the two signatures reaches ``threshold``. 8 bands of 8 rows put the LSH's own
    threshold, (1/8)^(1/8) ~ 0.77, just under the default 0.8, so few true pairs are missed.
    Memory per kept record: ~700 bytes of LSH index (rensa) + 4 x num_perm of signature."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 64, bands: int = 8, seed: int = 42):
        if not 0 < threshold <= 1:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        self.threshold, self.num_perm, self.seed = threshold, num_perm, seed
        self._lsh = rensa.RMinHashLSH(threshold, num_perm, bands)
        self._lines = array("q")  # LSH key -> line of the kept record
        self._signatures = array("I")  # kept signatures, num_perm each

    def find(self, conversations: list[list[tuple[str, str]]], lines: list[int]) -> dict[int, tuple[int, float]]:
        """{position in the batch: (line it duplicates, estimated similarity)}; every other
        conversation is remembered, in order, so later ones (in this batch too) match it."""
        found = {}
        for position, (pairs, line) in enumerate(zip(conversations, lines)):
            match = self.check_and_add(" ".join(text for _, text in pairs), line)
            if match is not None:
                found[position] = match
        return found

    def check_and_add(self, text: str, line: int) -> tuple[int, float] | None:
        """(line it duplicates, estimated similarity) or None, after remembering this one."""
        words = text.split()
        if len(words) < MIN_NEAR_TOKENS:
            return None
        minhash = rensa.RMinHash(self.num_perm, self.seed)
        minhash.update(list(map(" ".join, zip(words, words[1:]))))  # word bigrams, built in C
        signature = minhash.digest()
        best, best_similarity = None, 0.0
        for key in sorted(self._lsh.query(minhash))[:MAX_CANDIDATES]:  # earliest kept records first
            similarity = self._similarity(key, signature)
            if similarity >= self.threshold and similarity > best_similarity:
                best, best_similarity = key, similarity
        if best is not None:
            return self._lines[best], best_similarity
        self._lsh.insert(len(self._lines), minhash)
        self._lines.append(line)
        self._signatures.extend(signature)
        return None

    def _similarity(self, key: int, signature: list[int]) -> float:
        kept = self._signatures[self.num_perm * key : self.num_perm * (key + 1)]
        return sum(map(eq, kept, signature)) / self.num_perm
