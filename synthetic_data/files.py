"""Writing generated files: JSONL and CSV byte for byte as given (UTF-8, no newline
translation), and the evaluation channel's three benchmark files in the layout
``openforge_training.evaluation.layout`` describes."""
from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from pathlib import Path

from openforge_training.evaluation.layout import BYOD_DIR, IFEVAL_FILE, mmlu_file

Row = list[str]


def write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8", newline="")  # as given, whatever the platform's line ending


def write_jsonl(path: Path, records: Iterable[dict]) -> int:
    """One JSON object a line; returns the number of records."""
    lines = [json.dumps(record) + "\n" for record in records]
    write_text(path, "".join(lines))
    return len(lines)


def write_csv(path: Path, rows: list[Row], *, lineterminator: str = "\r\n") -> int:
    """``rows`` with the csv module's quoting (its default line ending unless told); returns the number of rows."""
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator=lineterminator).writerows(rows)
    write_text(path, buffer.getvalue())
    return len(rows)


def write_mmlu(eval_dir: Path, splits: dict[str, tuple[list[Row], list[Row]]], *, lineterminator: str = "\r\n") -> None:
    """``{subject: (few-shot rows, test rows)}`` as MMLU's dev and test CSV files."""
    for subject, (dev, test) in splits.items():
        write_csv(eval_dir / mmlu_file("dev", subject), dev, lineterminator=lineterminator)
        write_csv(eval_dir / mmlu_file("test", subject), test, lineterminator=lineterminator)


def write_ifeval(eval_dir: Path, items: Iterable[dict]) -> int:
    return write_jsonl(eval_dir / IFEVAL_FILE, items)


def write_byod(eval_dir: Path, records: Iterable[dict], name: str = "heldout.jsonl") -> int:
    return write_jsonl(eval_dir / BYOD_DIR / name, records)
