"""Pack tokenised records into rows so a batch carries little padding.

Records of one micro-batch are placed into rows of at most ``max_length`` tokens by first
fit decreasing. Position ids restart at 0 for every record, and no attention mask is
passed: transformers then builds a block-diagonal causal mask from the position ids, so a
record never attends to its row neighbours. Padding is one more "record" whose labels
are ignored. A record longer than ``max_length`` is cut to it; one that the cut leaves
without a trained (assistant) token is skipped, since it would train on nothing. Both are
counted in ``PackStats``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from .chat import IGNORE_INDEX, Tokenised

ROW_MULTIPLE = 8  # tensor-core friendly row lengths


@dataclass
class PackStats:
    records: int = 0  # records packed (skipped ones excluded)
    truncated: int = 0  # records cut at max_length, skipped ones included
    skipped: int = 0  # records the cut left with no trained token
    tokens: int = 0
    padding: int = 0

    @property
    def padding_fraction(self) -> float:
        total = self.tokens + self.padding
        return self.padding / total if total else 0.0


def clip(record: Tokenised, max_length: int, stats: PackStats | None = None) -> Tokenised | None:
    """The record cut to ``max_length``; None when the cut leaves no trained token."""
    if len(record) <= max_length:
        return record
    clipped = Tokenised(record.input_ids[:max_length], record.labels[:max_length])
    trains = any(label != IGNORE_INDEX for label in clipped.labels)
    if stats is not None:
        stats.truncated += 1
        stats.skipped += not trains
    return clipped if trains else None


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
    clipped = [record for record in (clip(r, max_length, stats) for r in records) if record is not None]
    lengths = [len(r) for r in clipped]
    rows = first_fit_decreasing(lengths, max_length) if pack else [[i] for i in range(len(clipped))]
    rows = rows or [[]]  # every record skipped: one row of padding, nothing trained
    if fixed_rows is not None:
        if len(rows) > fixed_rows:
            raise ValueError(f"{len(rows)} packed rows do not fit fixed_rows={fixed_rows}")
        rows += [[] for _ in range(fixed_rows - len(rows))]
        width = max_length
    else:
        longest = max(sum(lengths[i] for i in row) for row in rows)
        width = min(max_length, max(ROW_MULTIPLE, -(-longest // ROW_MULTIPLE) * ROW_MULTIPLE))
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
        stats.records += len(clipped)
    return {
        "input_ids": torch.tensor(input_ids, dtype=torch.long),
        "labels": torch.tensor(labels, dtype=torch.long),
        "position_ids": torch.tensor(positions, dtype=torch.long),
    }
