"""The training stream handed to the Trainer: one item per micro-batch, already packed.

A global batch (one optimiser step) of mixed records is split into
``micro_batches_per_step`` micro-batches (gradient accumulation x data-parallel ranks).
The Trainer's loader uses batch size 1 and ``unwrap`` as collator, so every item it gets
is exactly one micro-batch and optimiser steps line up with global batches. Under several
processes accelerate hands micro-batch *i* of each group to rank *i mod world*.

Every micro-batch is made exactly once, by one loader worker: micro-batches are grouped
``processes`` at a time (one for each rank), and worker *w* of *n* makes groups
*w, w+n, ...*. The loader takes one item from each worker in turn, and each rank keeps
its own micro-batch of a group, so 0, 1 or many workers give every rank the same items in
the same order. Every worker still reads the record stream (cheap) to stay in step; only
its own micro-batches are rendered, tokenised and packed.
"""
from __future__ import annotations

from collections.abc import Iterator

import torch
from torch.utils.data import IterableDataset, get_worker_info

from .chat import ChatRenderer, Tokenised
from .mixing import MixedRecordStream
from .packing import PackStats, clip, collate
from sanitiser.formats import parse_line

SOURCE_COUNTS = "openforge_source_counts"  # records per source trained on in this micro-batch
PACKING = "openforge_packing"  # [non-padding tokens, records truncated, records skipped] in this micro-batch


def unwrap(items: list[dict]) -> dict:
    return items[0]


class MixedPackedDataset(IterableDataset):
    def __init__(
        self,
        stream: MixedRecordStream,
        renderer: ChatRenderer,
        *,
        max_length: int,
        micro_batches_per_step: int,
        processes: int = 1,
        start_batch: int = 0,
        pack: bool = True,
        fixed_rows: int | None = None,
    ):
        self.stream, self.renderer = stream, renderer
        if micro_batches_per_step % processes:
            raise ValueError(f"{micro_batches_per_step} micro-batches per step do not split over {processes} processes")
        self.max_length, self.micro_batches, self.processes = max_length, micro_batches_per_step, processes
        self.start_batch, self.pack, self.fixed_rows = start_batch, pack, fixed_rows
        self.sources = ["customer", *stream.plan.spec.categories]
        self.stats = PackStats()

    def __iter__(self) -> Iterator[dict[str, torch.Tensor]]:
        pad_id = self.renderer.tokenizer.pad_token_id
        worker = get_worker_info()
        worker_id, workers = (worker.id, worker.num_workers) if worker else (0, 1)
        groups_per_step = self.micro_batches // self.processes
        for k, batch in enumerate(self.stream.batches(self.start_batch)):
            size = len(batch) // self.micro_batches
            for index, start in enumerate(range(0, len(batch), size)):
                if (k * groups_per_step + index // self.processes) % workers != worker_id:
                    continue  # another worker makes this micro-batch
                chunk = batch[start : start + size]
                before = (self.stats.tokens, self.stats.truncated, self.stats.skipped)
                tokenised = self.renderer.tokenise_many([parse_line(r.text) for r in chunk])
                kept = [(record, cut) for record, whole in zip(chunk, tokenised) if (cut := clip(whole, self.max_length, self.stats)) is not None]
                item = collate([cut for _, cut in kept], self.max_length, pad_id, self.pack, self.fixed_rows, self.stats)
                counts = [0] * len(self.sources)
                for record, _ in kept:
                    counts[self.sources.index(record.pool)] += 1
                item[SOURCE_COUNTS] = torch.tensor(counts)
                after = (self.stats.tokens, self.stats.truncated, self.stats.skipped)
                item[PACKING] = torch.tensor([b - a for a, b in zip(before, after)])
                yield item


class RecordsDataset(IterableDataset):
    """Records in file order (validation): one pass, packed micro-batches."""

    def __init__(self, records: list[Tokenised], renderer: ChatRenderer, *, max_length: int, batch_records: int, fixed_rows: int | None = None):
        self.records, self.pad_id = records, renderer.tokenizer.pad_token_id
        self.max_length, self.batch_records, self.fixed_rows = max_length, batch_records, fixed_rows

    def __iter__(self):
        for start in range(0, len(self.records), self.batch_records):
            yield collate(self.records[start : start + self.batch_records], self.max_length, self.pad_id, True, self.fixed_rows)
