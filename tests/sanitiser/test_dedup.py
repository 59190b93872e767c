"""Near-duplicate detection in batches: decisions do not depend on where a batch ends."""
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.dedup import MIN_NEAR_TOKENS, NearDuplicates

WORDS = "parcel refund invoice login password shipping order account delivery address card charge late broken screen".split()


def conversation(rng: random.Random, words: int = 30) -> list[tuple[str, str]]:
    return [("user", " ".join(rng.choice(WORDS) for _ in range(words))), ("assistant", rng.choice(WORDS))]


def edited(pairs, rng: random.Random) -> list[tuple[str, str]]:
    """One word of the question replaced: a near duplicate."""
    words = pairs[0][1].split()
    words[rng.randrange(len(words))] = "zebra"
    return [("user", " ".join(words)), pairs[1]]


@pytest.fixture
def stream():
    rng = random.Random(7)
    items = [conversation(rng) for _ in range(40)]
    items += [edited(items[i], rng) for i in (3, 17, 30, 39)]
    items.insert(10, edited(items[5], rng))  # and one close to its original
    return items


def run(items, batch: int) -> dict[int, tuple[int, float]]:
    near, found = NearDuplicates(), {}
    for start in range(0, len(items), batch):
        part = items[start : start + batch]
        found.update({start + position: match for position, match in near.find(part, list(range(start + 1, start + 1 + len(part)))).items()})
    return found


def test_near_duplicates_point_at_the_first_occurrence_whatever_the_batches(stream):
    whole = run(stream, len(stream))
    assert {position: line for position, (line, _) in whole.items()} == {10: 6, 41: 4, 42: 19, 43: 32, 44: 41}
    assert all(similarity >= 0.8 for _, similarity in whole.values())
    for batch in (1, 3, 7, 16):
        assert run(stream, batch) == whole


def test_different_texts_and_short_ones_are_not_near_duplicates():
    rng = random.Random(1)
    distinct = [conversation(rng) for _ in range(200)]
    assert NearDuplicates().find(distinct, list(range(1, 201))) == {}
    short = [("user", " ".join(["same"] * (MIN_NEAR_TOKENS - 2))), ("assistant", "x")]
    assert NearDuplicates().find([short, short], [1, 2]) == {}  # too short to judge: left to exact dedup


def test_bad_parameters_are_refused_with_the_reason():
    with pytest.raises(ValueError, match="threshold"):
        NearDuplicates(threshold=1.5)
    with pytest.raises(ValueError, match="bands"):
        NearDuplicates(num_perm=60)


def reference_signature(conversation, near: NearDuplicates) -> tuple[list[int], int]:
    """One conversation's MinHash over word bigrams, word by word in plain Python: a word is
    a run of bytes > 32, known by its first 8 bytes (little-endian, shifted to the top) and
    its length; a bigram hash is MurmurHash3's finaliser of w1 * golden + w2 (mod 2^64)."""
    import re

    import numpy as np
    import rensa

    from sanitiser.dedup import _mix

    mask = (1 << 64) - 1
    words = re.findall(rb"[^\x00-\x20]+", "\n".join(text for _, text in conversation).encode())
    word_hashes = [((int.from_bytes(word[:8].ljust(8, b"\0"), "little") << (64 - 8 * min(len(word), 8))) & mask) ^ len(word) for word in words]
    bigrams = [(first * 0x9E3779B97F4A7C15 + second) & mask for first, second in zip(word_hashes, word_hashes[1:])]
    hashes = _mix(np.array(bigrams, dtype=np.uint64))
    matrix = rensa.RMinHash.digest_matrix_from_flat_token_hashes(hashes, np.array([0, len(bigrams)], dtype=np.uint64), near.num_perm, near.seed)
    return matrix.to_rows()[0], len(words)


PIECES = st.sampled_from(["a", "bb", "parcel", "longer-than-eight", " ", "  ", "\n", "\t", "\x00", "\x1f", "!", "é", "日本", "x" * 9])


@settings(max_examples=150, deadline=None)
@given(batch=st.lists(st.lists(st.tuples(st.sampled_from(["user", "assistant"]), st.lists(PIECES, max_size=30).map("".join)), min_size=1, max_size=3),
                      min_size=1, max_size=12))
def test_batch_signatures_are_each_conversations_own(batch):
    near = NearDuplicates()
    signatures, words = near._signatures_of(batch)
    for conversation, signature, count in zip(batch, signatures.tolist(), words.tolist(), strict=True):
        assert (signature, count) == reference_signature(conversation, near)


def sequential_reference(items, near: NearDuplicates) -> dict[int, tuple[int, float]]:
    """LSH the textbook way, one record at a time: each band hash points at the first kept
    record that had it; a record is a near duplicate of the most similar of those."""
    signatures, words = near._signatures_of(items)
    band_keys = near._band_keys(signatures).tolist()
    first_by_band, found = {}, {}
    for position, (keys, signature, count) in enumerate(zip(band_keys, signatures, words.tolist())):
        if count < MIN_NEAR_TOKENS:
            continue
        best, best_similarity = None, 0.0
        for candidate in sorted({first_by_band[key] for key in keys if key in first_by_band}):
            similarity = int((signatures[candidate] == signature).sum()) / near.num_perm
            if similarity >= near.threshold and similarity > best_similarity:
                best, best_similarity = candidate, similarity
        if best is None:
            for key in keys:
                first_by_band.setdefault(key, position)
        else:
            found[position] = (best + 1, best_similarity)
    return found


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 10_000), size=st.integers(1, 80), batch=st.integers(1, 40))
def test_batches_decide_what_one_record_at_a_time_decides(seed, size, batch):
    rng = random.Random(seed)
    bases = [conversation(rng, rng.choice([6, 12, 30])) for _ in range(3)]
    items = [edited(rng.choice(bases), rng) if rng.random() < 0.7 else conversation(rng, rng.choice([6, 30])) for _ in range(size)]
    assert run(items, batch) == sequential_reference(items, NearDuplicates())
