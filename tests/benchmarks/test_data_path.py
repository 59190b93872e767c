"""The data-path headroom benchmark (benchmarks/data_path.py) on a tiny input, so it cannot
rot: its GPU side follows the 6·N rule and the host's vCPUs, its data side counts every record
and token the training container's data path made, and its generated records follow the
length mix they claim. Nothing here is timed."""
import json
from itertools import islice

import numpy as np
import pytest
from openforge_training.mixing import MixedRecordStream, MixPlan, MixSpec
from openforge_training.sources import curated_pools, customer_pool
from scipy.stats import spearmanr

from benchmarks import data_path
from benchmarks.training import MEDIAN_RECORD_TOKENS, WEIGHTS, record_lengths
from openforge_contract.capacity_plan import ASSUMED_MFU

H100_DENSE_BF16 = 989e12  # NVIDIA H100 SXM datasheet, without sparsity
LLAMA_8B_PUBLISHED = 8.03e9  # meta-llama/Llama-3.1-8B's model card
MAX_LENGTH = 4096  # above every generated record: nothing is cut, so every token is counted


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    generator = data_path.PseudoEnglish(seed=0, lexicon_size=2000)
    tokenizer = data_path.train_tokenizer(generator, paragraphs=300, words_per_paragraph=60, vocab_size=600)
    records = data_path.conversations(generator, tokenizer, 300, max_length=MAX_LENGTH, seed=1)
    folder = tmp_path_factory.mktemp("data-path")
    data_path.write_channels(folder, records)
    return tokenizer, records, folder


def test_headroom_is_the_gpu_rate_at_the_assumed_mfu_over_the_rate_of_one_core():
    rows = {(row.model, row.method): row for row in data_path.headroom(tokens_per_core_second=1e5, instance_type="ml.p5.48xlarge")}
    assert set(rows) == {(model, method) for model in ("Llama-3.2-1B", "Llama-3.1-8B") for method in ("full", "lora")}
    full_8b = rows[("Llama-3.1-8B", "full")]
    assert full_8b.gpu_tokens_per_second == pytest.approx(ASSUMED_MFU * H100_DENSE_BF16 / (6 * LLAMA_8B_PUBLISHED), rel=0.01)
    for row in rows.values():
        assert row.cores_per_gpu == 24  # 192 vCPUs over 8 GPUs
        assert row.cores_needed == pytest.approx(row.gpu_tokens_per_second / 1e5)
    for model in ("Llama-3.2-1B", "Llama-3.1-8B"):  # LoRA skips the frozen weights' gradients: fewer FLOPs, more tokens
        assert rows[(model, "full")].gpu_tokens_per_second < rows[(model, "lora")].gpu_tokens_per_second < 1.5 * rows[(model, "full")].gpu_tokens_per_second
    assert rows[("Llama-3.2-1B", "full")].gpu_tokens_per_second > 5 * full_8b.gpu_tokens_per_second


def test_a_type_without_a_published_peak_is_refused_naming_the_fix():
    with pytest.raises(ValueError, match="ml.g5.2xlarge has no published bf16 peak.*pick a GPU type"):
        data_path.headroom(1e5, "ml.g5.2xlarge")


def test_the_data_path_counts_every_record_and_token_it_made(tiny):
    tokenizer, _, folder = tiny
    measured = data_path.data_path_throughput(folder, tokenizer, max_length=MAX_LENGTH, global_batches=3, global_batch=16, per_device_batch=4)
    assert measured.records == 3 * 16 and measured.cpu_seconds > 0
    # The same records, drawn again by the mix and tokenised by transformers' own chat template call
    # (the benchmark warms up on global batch 0 and measures batches 1-3).
    spec = MixSpec.from_percentages(data_path.CUSTOMER_PERCENT, WEIGHTS)
    pools = {"customer": customer_pool(folder / "customer"), **curated_pools(folder / "curated", list(spec.categories))}
    batches = islice(MixedRecordStream(MixPlan(spec, 16), pools, 0, data_path.SHUFFLE_BLOCK).batches(1), 3)
    expected = sum(len(tokenizer.apply_chat_template(json.loads(record.text)["messages"], tokenize=True)["input_ids"])
                   for batch in batches for record in batch)
    assert measured.tokens == expected
    assert measured.tokens_per_second == pytest.approx(expected / measured.cpu_seconds)


def test_generated_records_follow_the_realistic_length_mix(tiny):
    tokenizer, records, _ = tiny
    lengths = np.array([len(tokenizer.apply_chat_template(r["messages"], tokenize=True)["input_ids"]) for r in records])
    targets = record_lengths(len(records), MAX_LENGTH, seed=1)
    # Each record is sized to its draw from the log-normal mix: the longer the draw, the longer the record...
    assert spearmanr(lengths, targets).statistic > 0.95
    # ...and as long, give or take the template's role markers and the system prompt on top of the sized text.
    assert MEDIAN_RECORD_TOKENS * 0.9 <= np.median(lengths) <= MEDIAN_RECORD_TOKENS * 1.3
    assert {len(r["messages"]) for r in records} >= {2, 3, 4}  # single and multi-turn, with and without a system prompt
