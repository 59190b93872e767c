"""Packing: rows within max_length, nothing lost, and packed records cannot see each other."""
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from transformers import AutoModelForCausalLM

from openforge_training.chat import IGNORE_INDEX, Tokenised
from openforge_training.packing import PackStats, collate, first_fit_decreasing


@settings(max_examples=200, deadline=None)
@given(lengths=st.lists(st.integers(1, 64), min_size=1, max_size=40), capacity=st.integers(64, 200))
def test_first_fit_decreasing_places_every_record_once_within_capacity(lengths, capacity):
    rows = first_fit_decreasing(lengths, capacity)
    assert sorted(i for row in rows for i in row) == list(range(len(lengths)))
    assert all(sum(lengths[i] for i in row) <= capacity for row in rows)
    assert len(rows) <= len(lengths)


def make(length, offset):
    ids = list(range(offset, offset + length))
    return Tokenised(ids, [IGNORE_INDEX] * (length // 2) + ids[length // 2 :])


def test_collate_restarts_positions_per_record_and_ignores_padding():
    stats = PackStats()
    batch = collate([make(5, 10), make(3, 20), make(6, 30)], max_length=8, pad_token_id=0, stats=stats)
    assert batch["input_ids"].shape == (2, 8)  # 6+ (none fits) | 5+3
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 5, 0, 1], [0, 1, 2, 3, 4, 0, 1, 2]]
    assert batch["labels"][0, 6:].tolist() == [IGNORE_INDEX, IGNORE_INDEX]
    assert (stats.tokens, stats.padding, stats.records) == (14, 2, 3)


def test_records_longer_than_max_length_are_truncated_and_counted():
    stats = PackStats()
    batch = collate([make(20, 0)], max_length=16, pad_token_id=0, stats=stats)
    assert batch["input_ids"].shape == (1, 16) and stats.truncated == 1


def test_fixed_rows_give_a_static_shape():
    batch = collate([make(3, 0), make(4, 0)], max_length=16, pad_token_id=0, fixed_rows=4)
    assert batch["input_ids"].shape == (4, 16)


def test_without_packing_each_record_has_its_own_row():
    assert collate([make(3, 0), make(4, 0)], max_length=16, pad_token_id=0, pack=False)["input_ids"].shape[0] == 2


def test_a_packed_record_gets_the_same_logits_as_alone(tiny_model):
    """No attention crosses record boundaries: the block-diagonal mask from position ids works."""
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    model.config.use_cache = False
    a, b = make(7, 50), make(9, 200)
    packed = collate([a, b], max_length=32, pad_token_id=0)
    assert packed["input_ids"].shape[0] == 1
    with torch.no_grad():
        together = model(input_ids=packed["input_ids"], position_ids=packed["position_ids"]).logits[0]
        alone = model(input_ids=torch.tensor([b.input_ids])).logits[0]
    # b is longer, so first-fit-decreasing placed it first; a follows it in the same row
    alone_a = model(input_ids=torch.tensor([a.input_ids])).logits[0]
    torch.testing.assert_close(together[:9], alone, rtol=1e-4, atol=1e-4)
    torch.testing.assert_close(together[9:16], alone_a, rtol=1e-4, atol=1e-4)


def test_the_check_above_would_catch_cross_record_attention(tiny_model):
    model = AutoModelForCausalLM.from_pretrained(tiny_model).eval()
    a, b = make(7, 50), make(9, 200)
    packed = collate([a, b], max_length=32, pad_token_id=0)
    with torch.no_grad():
        leaky = model(input_ids=packed["input_ids"]).logits[0]  # positions 0..n: one long sequence
        alone_a = model(input_ids=torch.tensor([a.input_ids])).logits[0]
    with pytest.raises(AssertionError):
        torch.testing.assert_close(leaky[9:16], alone_a, rtol=1e-4, atol=1e-4)
