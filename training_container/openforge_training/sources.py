"""Data channels as pools of JSONL records, streamed in a seeded, resumable order.

A pool is a list of files. Its order for epoch *e* is a pure function of (seed, pool,
epoch): files in a seeded permutation, and inside each file consecutive blocks of
``shuffle_block`` records permuted. Memory is one block, whatever the dataset size; a
position in the stream is a single integer, so resuming means skipping that many records.
"""
from __future__ import annotations

import hashlib
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from openforge_contract.s3_layout import CLEAN_SUFFIX

from .errors import InputError, RecordError

CATEGORY_SEPARATORS = ("-", "_", ".")


@dataclass(frozen=True)
class DataFile:
    path: Path
    records: int  # non-blank lines
    digest: str


@dataclass(frozen=True)
class Pool:
    name: str
    files: tuple[DataFile, ...]

    @property
    def records(self) -> int:
        return sum(f.records for f in self.files)

    @property
    def digest(self) -> str:
        return _combine(f.digest for f in self.files)


@dataclass(frozen=True)
class SourceRecord:
    pool: str
    path: str
    line_number: int
    text: str


def jsonl_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob(f"*{CLEAN_SUFFIX}") if p.is_file())


def scan_file(path: Path, check: Callable[[str], object] | None = None) -> DataFile:
    """Count records and hash the file; with ``check``, every record is validated here,
    so a bad record stops the run before training starts, naming its file and line."""
    sha, records = hashlib.sha256(), 0
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            sha.update(raw)
            if not raw.strip():
                continue
            records += 1
            if check is not None:
                checked(path, line_number, raw, check)
    return DataFile(path, records, sha.hexdigest())


def checked(path: Path, line_number: int, raw: bytes, check: Callable[[str], object]):
    """``check(line)``'s result, or a RecordError naming the file and line of a bad record."""
    try:
        return check(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise RecordError(str(path), line_number, "not valid UTF-8") from None
    except ValueError as error:
        raise RecordError(str(path), line_number, str(error)) from None


def customer_pool(channel: Path, check=None) -> Pool:
    files = _existing_jsonl(channel, "customer")
    pool = Pool("customer", tuple(scan_file(p, check) for p in files))
    if pool.records == 0:
        raise InputError(f"channel 'customer' ({channel}) has no records: its {len(files)} JSONL file(s) are empty")
    return pool


def curated_layout(channel: Path, categories: list[str] | None) -> dict[str, list[Path]]:
    """Category -> files. A category is a subfolder (``reasoning/*.jsonl``) or a file
    prefix (``reasoning.jsonl``, ``reasoning-000.jsonl``). With ``categories`` given only
    those are used and each must be found; without, every subfolder and file stem is one."""
    _existing_jsonl(channel, "curated")
    layout: dict[str, list[Path]] = {}
    for entry in sorted(channel.iterdir()):
        if entry.is_dir():
            names = [entry.name] if categories is None or entry.name in categories else []
            files = jsonl_files(entry)
        elif entry.suffix == CLEAN_SUFFIX:
            names = [entry.stem] if categories is None else [c for c in categories if _has_prefix(entry.stem, c)]
            files = [entry]
        else:
            continue
        if len(names) > 1:
            raise InputError(f"curated file {entry.name} matches several categories ({', '.join(names)}): rename it or the categories")
        if names:
            layout.setdefault(names[0], []).extend(files)
    missing = [c for c in (categories or []) if c not in layout]
    if missing:
        raise InputError(
            f"curated_weights names categor{'y' if len(missing) == 1 else 'ies'} {', '.join(missing)} but the curated channel has no "
            f"subfolder or file prefix for it (found: {', '.join(sorted(layout)) or 'none'})"
        )
    return layout


def curated_pools(channel: Path, categories: list[str] | None, check_for: Callable[[str], Callable[[str], object]] | None = None) -> dict[str, Pool]:
    """One pool per category; ``check_for(category)`` gives the check of that category's records."""
    pools = {}
    for name, files in curated_layout(channel, categories).items():
        check = check_for(name) if check_for is not None else None
        pool = Pool(name, tuple(scan_file(p, check) for p in files))
        if pool.records == 0:
            raise InputError(f"curated category '{name}' has no records ({', '.join(str(f) for f in files)})")
        pools[name] = pool
    return pools


class PoolStream:
    """Records of one pool from any absolute position, cycling through epochs forever."""

    def __init__(self, pool: Pool, seed: int, shuffle_block: int):
        if shuffle_block < 1:
            raise InputError("shuffle_block must be at least 1")
        self.pool, self.seed, self.block = pool, seed, shuffle_block
        self._pool_key = zlib.crc32(pool.name.encode())

    def read(self, start: int = 0) -> Iterator[SourceRecord]:
        epoch, skip = divmod(start, self.pool.records)
        while True:
            yield from self._epoch(epoch, skip)
            epoch, skip = epoch + 1, 0

    def _epoch(self, epoch: int, skip: int) -> Iterator[SourceRecord]:
        files = self.pool.files
        for file_index in self._rng(epoch).permutation(len(files)):
            data_file = files[file_index]
            if skip >= data_file.records:
                skip -= data_file.records
                continue
            for block_index, block in enumerate(self._blocks(data_file.path)):
                if skip >= len(block):
                    skip -= len(block)
                    continue
                order = self._rng(epoch, int(file_index), block_index).permutation(len(block))
                for position in order[skip:]:
                    line_number, text = block[position]
                    yield SourceRecord(self.pool.name, str(data_file.path), line_number, text)
                skip = 0

    def _blocks(self, path: Path) -> Iterator[list[tuple[int, str]]]:
        block: list[tuple[int, str]] = []
        with open(path, "rb") as handle:
            for line_number, raw in enumerate(handle, start=1):
                if raw.strip():
                    block.append((line_number, raw.decode("utf-8")))
                    if len(block) == self.block:
                        yield block
                        block = []
        if block:
            yield block

    def _rng(self, *keys: int) -> np.random.Generator:
        return np.random.default_rng([self.seed, self._pool_key, *keys])


def _existing_jsonl(channel: Path, name: str) -> list[Path]:
    if not channel.is_dir():
        raise InputError(f"channel '{name}' is missing: expected a folder of JSONL files at {channel}")
    files = jsonl_files(channel)
    if not files:
        raise InputError(f"channel '{name}' ({channel}) has no *{CLEAN_SUFFIX} files")
    return files


def _has_prefix(stem: str, category: str) -> bool:
    return stem == category or any(stem.startswith(category + sep) for sep in CATEGORY_SEPARATORS)


def _combine(digests) -> str:
    sha = hashlib.sha256()
    for digest in digests:
        sha.update(digest.encode())
    return sha.hexdigest()
