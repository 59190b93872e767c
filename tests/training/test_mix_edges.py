"""Edges of the mix: a customer-only run that was given curated weights, and pools too
small for their share of one batch."""
import json
import logging

import pytest

from openforge_training import train
from openforge_training.config import load
from openforge_training.mixing import MixSpec

WEIGHTS = '{"reasoning": 50, "instruction_following": 50}'
SHORT = {"max_steps": 2, "global_batch_size": 8, "per_device_batch_size": 4, "max_length": 128, "logging_steps": 1, "save_steps": 2}


def test_customer_only_ignores_curated_weights():
    assert MixSpec.from_percentages(100, {"reasoning": 40, "safety": 60}).categories == {}


def test_customer_only_with_curated_weights_trains(job):
    """The first point of a grid [100, 75, 50] shares the grid's curated_weights."""
    job.write_data(customer=32, per_category=16)
    record = train.run(train.prepare(load(job.argv(**SHORT, customer_data_percent=100, curated_weights=WEIGHTS))))
    assert record["steps"] == 2
    assert record["mix"]["target"] == record["mix"]["realised"] == {"customer": 100.0}
    assert record["data_records"] == {"customer": 32}


def test_a_pool_smaller_than_its_share_of_a_batch_is_named(job, caplog):
    job.write_data(customer=5, per_category=16)
    with caplog.at_level(logging.WARNING, logger="openforge.train"):
        record = train.run(train.prepare(load(job.argv(**SHORT, customer_data_percent=75, curated_weights=WEIGHTS))))
    [warning] = record["warnings"]
    assert "pool 'customer' has 5 records" in warning and "up to 6" in warning
    assert warning in caplog.text
    assert warning in (job.output / "README.md").read_text()
    assert json.loads((job.output / "openforge-run.json").read_text())["warnings"] == [warning]


@pytest.mark.parametrize("percent, batch, expected", [(75, 8, {"customer": 6, "reasoning": 1, "instruction_following": 1}), (62.5, 12, {"customer": 8, "reasoning": 3, "instruction_following": 3})])
def test_most_records_a_source_gives_one_batch(percent, batch, expected):
    from openforge_training.mixing import MixPlan

    plan = MixPlan(MixSpec.from_percentages(percent, json.loads(WEIGHTS)), batch)
    assert plan.most_per_batch() == expected
    seen = {name: 0 for name in expected}
    for _, (_, counts) in zip(range(200), plan.batches()):
        for name, count in counts.by_source().items():
            seen[name] = max(seen[name], count)
    assert seen == expected
