"""The sandbox's SageMaker channels and the demo's benchmark files: the one ticket label set,
every training format, and the same bytes for the same seed."""
from __future__ import annotations

import json
import random
from pathlib import Path

from openforge_training.evaluation.layout import MMLU_COLUMNS, mmlu_subjects
from sanitiser.formats import parse_line
from synthetic_data import basic_skills, sandbox
from synthetic_data.tickets import TICKET_INSTRUCTION, TICKET_LABELS


def file_bytes(root: Path) -> dict[str, bytes]:
    return {str(path.relative_to(root)): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def test_the_channels_hold_tickets_and_every_curated_category_in_its_format(tmp_path):
    sandbox.write_data(tmp_path, customer=60, per_category=10, validation=8)
    assert sorted(file_bytes(tmp_path)) == [
        "curated/factuality/part-000.jsonl", "curated/instruction_following/part-000.jsonl", "curated/reasoning/part-000.jsonl",
        "customer/tickets-000.jsonl", "customer/tickets-001.jsonl", "validation/held-out.jsonl",
    ]
    tickets = [json.loads(line) for name in ("customer/tickets-000.jsonl", "customer/tickets-001.jsonl", "validation/held-out.jsonl")
               for line in (tmp_path / name).read_text().splitlines()]
    assert len(tickets) == 68 and {ticket["output"] for ticket in tickets} <= set(TICKET_LABELS)
    assert all(ticket["input"].startswith(TICKET_INSTRUCTION + "\n") for ticket in tickets)
    for category in basic_skills.CURATED_GENERATORS:
        lines = (tmp_path / "curated" / category / "part-000.jsonl").read_text().splitlines()
        assert len(lines) == 10 and all(parse_line(line)[-1]["role"] == "assistant" for line in lines)


def test_the_same_seed_writes_the_same_bytes_and_another_seed_does_not(tmp_path):
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        sandbox.write_data(tmp_path / name, customer=20, per_category=5, seed=seed)
    assert file_bytes(tmp_path / "a") == file_bytes(tmp_path / "b") != file_bytes(tmp_path / "c")


def test_the_basic_skills_benchmark_files_are_in_the_evaluation_layout(tmp_path):
    basic_skills.write_eval_files(tmp_path, random.Random(0), mmlu_questions=4, held_out=6)
    assert mmlu_subjects(tmp_path) == sorted(basic_skills.MMLU_SUBJECTS)
    for subject in basic_skills.MMLU_SUBJECTS:
        rows = (tmp_path / "mmlu" / "test" / f"{subject}_test.csv").read_text().splitlines()
        assert len(rows) == 4 and all(len(row.split(",")) == len(MMLU_COLUMNS) for row in rows)
        assert len((tmp_path / "mmlu" / "dev" / f"{subject}_dev.csv").read_text().splitlines()) == basic_skills.MMLU_SHOTS
    assert len((tmp_path / "ifeval" / "input_data.jsonl").read_text().splitlines()) == len(basic_skills.IFEVAL_ITEMS)
    held_out = [json.loads(line) for line in (tmp_path / "byod" / "heldout.jsonl").read_text().splitlines()]
    assert len(held_out) == 6 and {record["output"] for record in held_out} <= set(TICKET_LABELS)
