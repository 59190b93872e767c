"""Exact and near-duplicate detection; the first occurrence is kept and every later one
records which line it duplicated.

Exact: a 64-bit xxh3 hash of the cleaned conversation (roles + texts), so formatting and
key order do not hide a duplicate. Near: MinHash (rensa, in Rust) over word-anchored
shingles, with LSH; records shorter than ``MIN_NEAR_TOKENS`` words are left to exact
matching because their Jaccard estimates are noise.
"""
from __future__ import annotations

from array import array
from bisect import bisect_right
from collections.abc import Iterable
from itertools import chain, repeat
from operator import itemgetter, ne

import numpy as np
import orjson
import rensa
import xxhash

MIN_NEAR_TOKENS = 8


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

    def firsts(self, keys: Iterable[int], lines: list[int]) -> list[int]:
        """check_and_add of each, in order, but one C-level map: the line each one repeats,
        or the line itself where it is the first (a line never repeats itself)."""
        return list(map(self._first.setdefault, keys, lines))


class NearDuplicates:
    """A batch of conversations at a time: shingles and their hashes in numpy, MinHash
    signatures in rensa (Rust), LSH banding as one dict from band hash to the first kept
    record with it, and Python only for the few records whose band hash was seen before.

    Shingles: word bigrams of the texts, hashed in numpy from the raw bytes. 8 bands
    of 8 rows put the LSH's own threshold, (1/8)^(1/8) ~ 0.77, just under the default 0.8;
    a candidate counts only if its estimated Jaccard similarity reaches ``threshold``.
    Memory per record: ~700 bytes of band dict + 4 x num_perm of signature."""

    def __init__(self, threshold: float = 0.8, num_perm: int = 64, bands: int = 8, seed: int = 42):
        if not 0 < threshold <= 1:
            raise ValueError(f"near-duplicate threshold must be in (0, 1], got {threshold}")
        if num_perm % bands or (num_perm // bands) % 2:
            raise ValueError(f"num_perm must split into {bands} bands of an even number of rows, got {num_perm}")
        self.threshold, self.num_perm, self.bands, self.seed = threshold, num_perm, bands, seed
        self._first_by_band: dict[int, int] = {}  # band hash -> id of the first kept record with it
        self._lines = array("q")  # id -> line
        self._signatures: list[np.ndarray] = []  # one (batch, num_perm) block per batch; ids count on across blocks
        self._block_starts: list[int] = []

    def find(self, conversations: list[list[tuple[str, str]]], lines: list[int]) -> dict[int, tuple[int, float]]:
        """{position in the batch: (line it duplicates, estimated similarity)}; every other
        conversation of at least MIN_NEAR_TOKENS words is remembered, in order, so later
        ones (in this batch too) are compared with it."""
        if not conversations:
            return {}
        signatures, words = self._signatures_of(conversations)
        band_keys = self._band_keys(signatures)
        first_id = len(self._lines)
        self._lines.extend(lines)
        self._block_starts.append(first_id)
        self._signatures.append(signatures)

        # Every band hash of every long-enough record is put in at once, first come first
        # served (one dict operation per hash that both looks up and remembers); a record is
        # "touched" when a hash of its was there already, from an earlier batch or an earlier
        # record of this one. Untouched records are new for sure and need nothing more (the
        # first of a batch's records sharing a hash among them too: nothing before it to
        # compare with). Touched ones go through Python in order, and a near duplicate's
        # hashes are taken out again, as if never put in.
        long_enough = np.flatnonzero(words >= MIN_NEAR_TOKENS)
        flat = band_keys[long_enough].ravel()
        own_ids = list(chain.from_iterable(map(repeat, (long_enough + first_id).tolist(), repeat(self.bands))))  # one int per record
        firsts = list(map(self._first_by_band.setdefault, flat.tolist(), own_ids))
        seen_before = np.fromiter(map(ne, firsts, own_ids), dtype=bool, count=flat.size)
        touched = long_enough[seen_before.reshape(-1, self.bands).any(axis=1)]
        found = {}
        for position in touched.tolist():  # in order, so the first occurrence is the one kept
            record_id, keys = first_id + position, band_keys[position].tolist()
            match = self._match(keys, signatures[position], record_id)
            if match is None:
                for key in keys:  # again: a near-duplicate before it may have taken out a hash it shares
                    self._first_by_band.setdefault(key, record_id)
            else:
                for key in keys:
                    if self._first_by_band.get(key) == record_id:
                        del self._first_by_band[key]
                found[position] = (self._lines[match[0]], match[1])
        return found

    def _match(self, keys: list[int], signature: np.ndarray, record_id: int) -> tuple[int, float] | None:
        """(id, similarity) of the most similar earlier record at or over the threshold."""
        best, best_similarity = None, 0.0
        for candidate in sorted({self._first_by_band[key] for key in keys if key in self._first_by_band} - {record_id}):
            similarity = int(np.count_nonzero(self._signature(candidate) == signature)) / self.num_perm
            if similarity >= self.threshold and similarity > best_similarity:
                best, best_similarity = candidate, similarity
        return None if best is None else (best, best_similarity)

    def _signature(self, record_id: int) -> np.ndarray:
        block = bisect_right(self._block_starts, record_id) - 1
        return self._signatures[block][record_id - self._block_starts[block]]

    def _signatures_of(self, conversations) -> tuple[np.ndarray, np.ndarray]:
        """(signatures, words per conversation) for a batch of conversations (each at least one
        (role, text) pair, as every valid record has): MinHash over the word bigrams
        of each conversation's texts. A word (a run of bytes > 32) is known by its length
        and first 8 bytes, so long words that differ only after them collide: harmless
        for similarity, and a third of the numpy work of hashing every byte."""
        # Every text of every conversation, newline-joined: the same bytes as joining each
        # conversation's texts and then the conversations, without a Python object per conversation.
        texts = list(map(str.encode, map(TEXT, chain.from_iterable(conversations))))
        text_ends = np.cumsum(np.fromiter(map(len, texts), dtype=np.int64, count=len(texts)) + 1)
        ends = text_ends[np.cumsum(np.fromiter(map(len, conversations), dtype=np.int64, count=len(conversations))) - 1]  # each conversation and the newline after it
        data = np.frombuffer(b"\n".join([b"", *texts, bytes(8)]), dtype=np.uint8)  # a newline before and after, padding for loads: one copy
        word = data > 32
        edges = np.flatnonzero(word[1:] != word[:-1]) + 1  # data starts and ends outside a word: starts and stops alternate
        starts, stops = edges[0::2], edges[1::2]
        size = (stops - starts).astype(np.uint64)
        loads = np.ndarray((data.size - 7,), dtype="<u8", buffer=data, strides=(1,))  # an 8-byte load at every offset
        kept_bits = np.uint64(64) - np.uint64(8) * np.minimum(size, np.uint64(8))
        word_hashes = (loads[starts] << kept_bits) ^ size  # the word's first 8 bytes (shifted past the rest) and its length
        # Index of each conversation's first word (a search per conversation, not per word):
        first_words = np.searchsorted(starts, np.concatenate(([0], ends)) + 1)
        words = np.diff(first_words)
        pair = np.ones(max(starts.size - 1, 0), dtype=bool)  # word k and k + 1 are a bigram unless k + 1 starts a conversation
        boundaries = first_words[1:-1]
        pair[boundaries[(boundaries > 0) & (boundaries < starts.size)] - 1] = False
        hashes = _mix(word_hashes[:-1] * np.uint64(0x9E3779B97F4A7C15) + word_hashes[1:])[pair]
        offsets = np.concatenate(([0], np.cumsum(np.maximum(words - 1, 0)))).astype(np.uint64)
        matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, offsets, self.num_perm, self.seed)
        # rensa hands rows out only as lists: each row to a C array, the bytes joined, one numpy view.
        signatures = np.frombuffer(b"".join(map(bytes, map(array, repeat("I"), matrix.to_rows()))), dtype=np.uint32)
        return signatures.reshape(len(conversations), self.num_perm), words

    def _band_keys(self, signatures: np.ndarray) -> np.ndarray:
        """One 64-bit hash per band of rows, salted by the band so bands never collide."""
        rows = signatures.reshape(len(signatures), self.bands, -1).view(np.uint64)  # pairs of rows as one word
        keys = np.zeros(rows.shape[:2], dtype=np.uint64)
        for column in range(rows.shape[2]):
            keys = _mix(keys ^ rows[:, :, column])
        return keys ^ (np.arange(self.bands, dtype=np.uint64) * np.uint64(0xD6E8FEB86659FD93))


TEXT = itemgetter(1)


def _mix(values: np.ndarray) -> np.ndarray:
    """MurmurHash3's 64-bit finaliser, elementwise (uint64 arithmetic wraps); in place after
    the first step, which copies."""
    values = values ^ (values >> np.uint64(33))
    values *= np.uint64(0xFF51AFD7ED558CCD)
    values ^= values >> np.uint64(33)
    values *= np.uint64(0xC4CEB9FE1A85EC53)
    values ^= values >> np.uint64(33)
    return values
