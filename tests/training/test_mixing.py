"""The mix is exact in every global batch, deterministic from the seed, and resumable."""
import json
import math
from fractions import Fraction
from itertools import islice

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openforge_training.errors import InputError
from openforge_training.mixing import CUSTOMER, MixedRecordStream, MixPlan, MixSpec
from openforge_training.sources import Pool, curated_pools, customer_pool

percentages = st.one_of(st.integers(0, 100), st.decimals(0, 100, places=2).map(float))
weights = st.dictionaries(st.sampled_from(["reasoning", "instruction_following", "factuality", "safety", "code"]), st.integers(1, 60), min_size=1)
batch_sizes = st.integers(1, 96)


@settings(max_examples=150, deadline=None)
@given(percent=percentages, category_weights=weights, batch=batch_sizes)
def test_every_batch_has_the_exact_customer_and_category_counts(percent, category_weights, batch):
    spec = MixSpec.from_percentages(percent, category_weights, normalise=True)
    plan = MixPlan(spec, batch)
    customer_target = spec.customer * batch
    customer_total, curated_total = 0, 0
    category_totals = dict.fromkeys(spec.categories, 0)
    for k, counts in islice(plan.batches(), 200):
        assert counts.total == batch
        assert math.floor(customer_target) <= counts.customer <= math.ceil(customer_target)
        customer_total += counts.customer
        assert abs(customer_total - customer_target * (k + 1)) < 1  # the error never accumulates
        curated = batch - counts.customer
        curated_total += curated
        for name, count in counts.categories.items():
            share = spec.categories[name] * curated
            assert math.floor(share) <= count <= math.ceil(share), (name, count, share)
            category_totals[name] += count
            assert abs(category_totals[name] - spec.categories[name] * curated_total) < 2


@settings(max_examples=60, deadline=None)
@given(percent=percentages, category_weights=weights, batch=batch_sizes, start=st.integers(0, 150))
def test_consumed_counts_match_the_batches_that_ran(percent, category_weights, batch, start):
    plan = MixPlan(MixSpec.from_percentages(percent, category_weights, normalise=True), batch)
    totals = dict.fromkeys([CUSTOMER, *plan.spec.categories], 0)
    for _, counts in islice(plan.batches(), start):
        for name, count in counts.by_source().items():
            totals[name] += count
    assert plan.consumed(start) == totals


def test_weights_as_the_seed_describes_them():
    spec = MixSpec.from_percentages(75, {"reasoning": 40, "instruction_following": 30, "factuality": 30})
    assert spec.customer == Fraction(3, 4)
    assert spec.as_percentages() == {"customer": 75.0, "curated/reasoning": 10.0, "curated/instruction_following": 7.5, "curated/factuality": 7.5}


@pytest.mark.parametrize(
    "percent, category_weights, normalise, message",
    [
        (50, {"reasoning": 40, "safety": 30}, False, r"must sum to 100, got 70 .*normalise_curated_weights"),
        (120, {"reasoning": 100}, False, "between 0 and 100"),
        (50, {"reasoning": -5, "safety": 105}, False, r"curated_weights\['reasoning'\] must not be negative"),
        (50, {"reasoning": "lots"}, False, r"curated_weights\['reasoning'\] must be a number"),
        (50, {"reasoning": True}, False, r"curated_weights\['reasoning'\] must be a number"),
        (50, {"reasoning": 0}, False, "no category a positive weight"),
    ],
)
def test_bad_weights_are_named(percent, category_weights, normalise, message):
    with pytest.raises(InputError, match=message):
        MixSpec.from_percentages(percent, category_weights, normalise)


def test_normalised_weights_keep_their_proportions():
    spec = MixSpec.from_percentages(50, {"reasoning": 2, "safety": 1}, normalise=True)
    assert spec.categories == {"reasoning": Fraction(2, 3), "safety": Fraction(1, 3)}


def test_customer_only_needs_no_curated_data():
    plan = MixPlan(MixSpec.from_percentages(100, None), 8)
    assert next(plan.batches())[1].customer == 8


def write_pools(root, customer=53, per_category=(17, 29, 41)):
    (root / "customer").mkdir(parents=True)
    for part in range(2):
        with open(root / "customer" / f"part-{part}.jsonl", "w") as f:
            for i in range(customer):
                f.write(json.dumps({"input": f"c{part}-{i}", "output": "x"}) + "\n")
                if i % 10 == 0:
                    f.write("\n")  # blank lines are not records
    for name, count in zip(["reasoning", "safety", "code"], per_category):
        folder = root / "curated" / name
        folder.mkdir(parents=True)
        with open(folder / "data.jsonl", "w") as f:
            f.writelines(json.dumps({"input": f"{name}-{i}", "output": "y"}) + "\n" for i in range(count))
    pools = {CUSTOMER: customer_pool(root / "customer"), **curated_pools(root / "curated", None)}
    return pools


def record_ids(batches):
    return [[(r.pool, r.path, r.line_number) for r in batch] for batch in batches]


@pytest.fixture
def pools(tmp_path):
    return write_pools(tmp_path)


def stream(pools, seed=7, block=8, percent=62.5, batch=12):
    spec = MixSpec.from_percentages(percent, {"reasoning": 50, "safety": 30, "code": 20})
    return MixedRecordStream(MixPlan(spec, batch), pools, seed=seed, shuffle_block=block)


def test_realised_batches_hold_the_planned_sources(pools):
    mixed = stream(pools)
    for (k, counts), batch in zip(islice(mixed.plan.batches(), 40), islice(mixed.batches(), 40)):
        held = {name: sum(r.pool == name for r in batch) for name in counts.by_source()}
        assert held == counts.by_source()


def test_same_seed_same_batches_other_seed_other_batches(pools):
    first = record_ids(islice(stream(pools, seed=7).batches(), 30))
    assert first == record_ids(islice(stream(pools, seed=7).batches(), 30))
    assert first != record_ids(islice(stream(pools, seed=8).batches(), 30))


@settings(max_examples=25, deadline=None)
@given(stop=st.integers(0, 60), block=st.integers(1, 20), seed=st.integers(0, 2**32 - 1))
def test_resuming_after_a_kill_gives_the_uninterrupted_batches(tmp_path_factory, stop, block, seed):
    pools = write_pools(tmp_path_factory.mktemp("pools"))
    uninterrupted = record_ids(islice(stream(pools, seed=seed, block=block).batches(), stop + 10))
    resumed = record_ids(islice(stream(pools, seed=seed, block=block).batches(start=stop), 10))
    assert resumed == uninterrupted[stop:]


def test_each_epoch_sees_every_customer_record_once_in_a_new_order(pools):
    from openforge_training.sources import PoolStream

    customer: Pool = pools[CUSTOMER]
    records = customer.records
    order = [(r.path, r.line_number) for r in islice(PoolStream(customer, seed=3, shuffle_block=16).read(), 2 * records)]
    first, second = order[:records], order[records:]
    assert len(set(first)) == records == len(set(second)) and set(first) == set(second)
    assert first != second


def test_epochs_are_defined_by_the_customer_data():
    plan = MixPlan(MixSpec.from_percentages(75, {"reasoning": 100}), 32)
    assert plan.batches_per_epoch(240) == 10  # 24 customer records per batch
    with pytest.raises(InputError, match="set max_steps"):
        MixPlan(MixSpec.from_percentages(0, {"reasoning": 100}), 32).batches_per_epoch(240)


def test_streaming_memory_does_not_grow_with_the_dataset(tmp_path):
    import tracemalloc

    from openforge_training.sources import PoolStream, scan_file

    def peak_while_reading(records: int) -> int:
        path = tmp_path / f"{records}.jsonl"
        with open(path, "w") as f:
            f.writelines(json.dumps({"input": "x" * 200, "output": str(i)}) + "\n" for i in range(records))
        tracemalloc.start()
        pool = Pool("customer", (scan_file(path),))
        consumed = sum(1 for _ in islice(PoolStream(pool, seed=0, shuffle_block=64).read(), records))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert consumed == records
        return peak

    small, large = peak_while_reading(2_000), peak_while_reading(40_000)
    assert large < 2 * small, (small, large)  # 20x the data, about the same memory
