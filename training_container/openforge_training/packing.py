"""Pack tokenised records into rows so a batch carries little padding.

Records of one micro-batch are placed into rows of at most ``max_length`` tokens by first
fit decreasing. Position ids restart at 0 for every record, and no attention mask is
passed: transformers then builds a block-diagonal causal mask from the position ids, so a
record never attends to its row neighbours. Padding is one more "record" whose labels
are ignored.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .chat import IGNORE_INDEX, Tokenised

ROW_MULTIPLE = 8  # tensor-core friendly row lengths


@dataclass
class PackStats:
    records: int = 0
    truncated: int = 0
    tokens: int = 0
    padding: int = 0

    @property
    def padding_fraction(self) -> float:
        total = self.tokens + self.padding
        return self.padding / total if total else 0.0


def truncate(record: Tokenised, max_length: int) -> tuple[Tokenised, bool]:
    if len(record) <= max_length:
        return record, False
    return Tokenised(record.input_ids[:max_length], record.labels[:max_length]), True


def first_fit_decreasing(lengths: list[int], capacity: int) -> list[list[int]]:
    rows: list[list[int]] = []
    free: list[int] = []
    for index in sorted(range(len(lengths)), key=lambda i: (-lengths[i], i)):
        for row, space in enumerate(free):
            if lengths[index] <= space:
                rows[row].append(index)
                free[row] -= lengths[index]
                break
        else:
            rows.append([index])
            free.append(capacity - lengths[index])
    return rows


def collate(
    records: list[Tokenised],
    max_length: int,
    pad_token_id: int,
    pack: bool = True,
    fixed_rows: int | None = None,
    stats: PackStats | None = None,
) -> dict[str, torch.Tensor]:
    """Tensors ``input_ids``, ``labels``, ``position_ids`` of shape [rows, length].

    ``fixed_rows`` pads to a constant shape [fixed_rows, max_length] for compilers that
    recompile on every new shape (Neuron/XLA); elsewhere rows are as long as the longest.
    """
    clipped = []
    for record in records:
        record, was_truncated = truncate(record, max_length)
        clipped.append(record)
        if stats is not None:
            stats.truncated += was_truncated
    lengths = [len(r) for r in clipped]
    rows = first_fit_decreasing(lengths, max_length) if pack else [[i] for i in range(len(clipped))]
    if fixed_rows is not None:
        if len(rows) > fixed_rows:
            raise ValueError(f"{len(rows)} packed rows do not fit fixed_rows={fixed_rows}")
        rows += [[] for _ in range(fixed_rows - len(rows))]
        width = max_length
    else:
        longest = max(sum(lengths[i] for i in row) for row in rows)
        width = min(max_length, -(-longest // ROW_MULTIPLE) * ROW_MULTIPLE)
    input_ids, labels, positions = [], [], []
    for row in rows:
        ids, labs, pos = [], [], []
        for index in row:
            ids += clipped[index].input_ids
            labs += clipped[index].labels
            pos += range(len(clipped[index]))
        pad = width - len(ids)
        input_ids.append(ids + [pad_token_id] * pad)
        labels.append(labs + [IGNORE_INDEX] * pad)
        positions.append(pos + list(range(pad)))
        if stats is not None:
            stats.tokens += len(ids)
            stats.padding += pad
    if stats is not None:
        stats.records += len(records)
    return {
        "input_ids": torch.tensor(input_ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "position_ids": torch.tensor(positions, dtype=torch.long),
    }
