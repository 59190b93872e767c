"""Loader workers: every micro-batch is made once, so 0, 1 or many workers (and several
processes) train on the same micro-batches in the same order."""
from itertools import islice

import pytest
import torch
from accelerate.data_loader import IterableDatasetShard
from torch.utils.data import DataLoader

from openforge_training import train
from openforge_training.config import load
from openforge_training.dataset import SOURCE_COUNTS, MixedPackedDataset, unwrap
from openforge_training.mixing import MixedRecordStream

STEPS = 5


def dataset(job, micro_batches: int, processes: int = 1) -> MixedPackedDataset:
    prepared = train.prepare(load(job.argv(global_batch_size=8, per_device_batch_size=8 // micro_batches, max_length=128, max_steps=STEPS, customer_data_percent=62.5)))
    stream = MixedRecordStream(prepared.plan, prepared.pools, seed=3, shuffle_block=16)
    sharding = {"processes": processes} if processes > 1 else {}
    return MixedPackedDataset(stream, prepared.renderer, max_length=128, micro_batches_per_step=micro_batches, **sharding)


def items(data, workers: int, count: int) -> list[tuple[list, list]]:
    loader = DataLoader(data, batch_size=1, collate_fn=unwrap, num_workers=workers)
    return [(item["input_ids"].tolist(), item[SOURCE_COUNTS].tolist()) for item in islice(loader, count)]


@pytest.fixture
def data_job(job):
    return job.write_data(customer=40, per_category=16)


@pytest.mark.parametrize("workers", [1, 2])
def test_workers_make_each_micro_batch_once_in_order(data_job, workers):
    data = dataset(data_job, micro_batches=4)
    expected = items(data, 0, 4 * STEPS)
    assert items(data, workers, 4 * STEPS) == expected
    assert sum(sum(counts) for _, counts in expected[:4]) == 8  # one global batch, not half of one twice


def test_workers_under_several_processes_give_each_rank_its_own_micro_batches(data_job):
    """accelerate shards an iterable dataset by taking item *rank* of every group of *world*."""
    expected = items(dataset(data_job, micro_batches=4), 0, 4 * STEPS)
    data = dataset(data_job, micro_batches=4, processes=2)
    ranks = [items(IterableDatasetShard(data, batch_size=1, num_processes=2, process_index=rank), 2, 2 * STEPS) for rank in range(2)]
    interleaved = [item for pair in zip(*ranks) for item in pair]
    assert interleaved == expected


def test_micro_batches_must_split_over_the_processes(data_job):
    with pytest.raises(ValueError, match="do not split over 3 processes"):
        dataset(data_job, micro_batches=4, processes=3)


def test_training_with_workers_matches_training_without(job):
    job.write_data(customer=40, per_category=16)
    flags = dict(global_batch_size=8, per_device_batch_size=4, max_length=128, max_steps=3, logging_steps=1, save_steps=3, customer_data_percent=62.5, lora_dropout=0)
    single = train.run(train.prepare(load(job.argv(**flags))))
    job.output, job.checkpoints = job.root / "model-workers", job.root / "checkpoints-workers"
    workers = train.run(train.prepare(load(job.argv(**flags, dataloader_workers=2))))
    assert workers["tokens_trained"] == single["tokens_trained"]
    assert workers["final_loss"] == pytest.approx(single["final_loss"], rel=1e-5)
    torch.testing.assert_close(workers["metrics"]["train_loss"], single["metrics"]["train_loss"], rtol=1e-5, atol=0)
