"""The whole data set at a given scale: sizes, the parts drawn each from its own seeded
stream, the files ``write_experiment_data`` writes, and the texts its tokenizer learns from."""
from __future__ import annotations

import csv
import json
import random
from dataclasses import dataclass, fields
from pathlib import Path

from openforge_training.evaluation.layout import BYOD_DIR, IFEVAL_FILE, MMLU_DIR, mmlu_file
from sanitiser.formats import to_messages

from synthetic_data.curriculum.benchmarks import Row, mmlu_splits, row_prompt
from synthetic_data.curriculum.exercises import Record, copy_exercise, fact_records, reasoning_records
from synthetic_data.curriculum.instructions import INSTRUCTION_IDS, InstructionExample, instruction_examples
from synthetic_data.curriculum.knowledge import KnowledgeBase, build_knowledge_base
from synthetic_data.files import write_csv, write_jsonl
from synthetic_data.tickets import customer_tickets

MIN_TEST_FACTS = 7  # facts per subject left for the MMLU test split, however small the scale


@dataclass(frozen=True)
class Sizes:
    """How much to generate at scale 1."""

    entities: int = 120  # also the number of arithmetic facts
    pretrain_repeats: int = 3  # times pre-training teaches each fact as a short question
    pretrain_choice_repeats: int = 3  # ... and as multiple choice, each time in a fresh arrangement
    pretrain_exercises: int = 600  # fresh reasoning exercises besides the arithmetic facts
    pretrain_choices: int = 1500  # fresh category questions as multiple choice
    pretrain_instructions: int = 1200
    pretrain_copies: int = 400  # "Repeat exactly: ..." over the curriculum's whole vocabulary
    curated_repeats: int = 1
    curated_exercises: int = 300
    curated_choices: int = 300
    curated_instructions: int = 400
    curated_copies: int = 100
    tickets_per_label: int = 75
    heldout_per_label: int = 10
    ifeval_items: int = 84
    mmlu_dev: int = 5  # the usual few-shot count, whatever the scale
    mmlu_test: int = 50

    @classmethod
    def at(cls, scale: float) -> Sizes:
        """Everything times ``scale``, but at least one of each, enough entities for a test
        split, and one IFEval item per instruction type."""
        full = cls()
        scaled = {f.name: max(1, round(getattr(full, f.name) * scale)) for f in fields(cls)}
        scaled["entities"] = max(scaled["entities"], full.mmlu_dev + MIN_TEST_FACTS)
        scaled["ifeval_items"] = max(scaled["ifeval_items"], len(INSTRUCTION_IDS))
        scaled["mmlu_dev"] = full.mmlu_dev
        return cls(**scaled)


@dataclass(frozen=True)
class ExperimentData:
    knowledge: KnowledgeBase
    pretrain: list[Record]
    curated: dict[str, list[Record]]
    customer: list[Record]
    byod: list[Record]
    mmlu: dict[str, tuple[list[Row], list[Row]]]  # subject -> (dev rows, test rows)
    ifeval: list[InstructionExample]  # the items with a reference response each

    def ifeval_items(self) -> list[dict]:
        return [example.ifeval_item(key) for key, example in enumerate(self.ifeval, start=1)]

    def jsonl_files(self) -> dict[str, list[dict]]:
        return {
            "pretrain/general.jsonl": self.pretrain,
            **{f"curated/{category}/part-000.jsonl": records for category, records in self.curated.items()},
            "customer/tickets.jsonl": self.customer,
            f"eval/{IFEVAL_FILE}": self.ifeval_items(),
            f"eval/{BYOD_DIR}/heldout.jsonl": self.byod,
        }

    def csv_files(self) -> dict[str, list[Row]]:
        files = {}
        for subject, (dev, test) in self.mmlu.items():
            files[f"eval/{mmlu_file('dev', subject)}"] = dev
            files[f"eval/{mmlu_file('test', subject)}"] = test
        return files


def general_curriculum(
    kb: KnowledgeBase, rng: random.Random, *, repeats: int, exercises: int, choices: int, instructions: int, copies: int,
    held_out: frozenset[str], choice_repeats: int | None = None,
) -> dict[str, list[Record]]:
    categories = {
        "factuality": fact_records(kb.entity_facts(), rng, repeats, held_out, choice_repeats),
        "instruction_following": [example.record() for example in instruction_examples(kb, rng, instructions)]
        + [copy_exercise(rng) for _ in range(copies)],
        "reasoning": reasoning_records(kb, rng, repeats, exercises, choices, held_out, choice_repeats),
    }
    for records in categories.values():
        rng.shuffle(records)
    return categories


def build_experiment_data(*, seed: int = 0, scale: float = 1.0) -> ExperimentData:
    """Everything ``write_experiment_data`` writes, in memory, with the knowledge base behind it
    and a reference response for each IFEval item."""
    sizes = Sizes.at(scale)

    def stream(name: str) -> random.Random:  # one per part, so resizing one part leaves the others as they were
        return random.Random(f"{seed}:{name}")

    kb = build_knowledge_base(stream("knowledge"), sizes.entities)
    mmlu = mmlu_splits(kb, stream("mmlu"), sizes.mmlu_dev, sizes.mmlu_test)
    held_out = frozenset(row_prompt(row) for dev, test in mmlu.values() for row in dev + test)
    pretrain = general_curriculum(
        kb, stream("pretrain"), repeats=sizes.pretrain_repeats, exercises=sizes.pretrain_exercises, choices=sizes.pretrain_choices,
        instructions=sizes.pretrain_instructions, copies=sizes.pretrain_copies, held_out=held_out, choice_repeats=sizes.pretrain_choice_repeats,
    )
    curated = general_curriculum(
        kb, stream("curated"), repeats=sizes.curated_repeats, exercises=sizes.curated_exercises, choices=sizes.curated_choices,
        instructions=sizes.curated_instructions, copies=sizes.curated_copies, held_out=held_out,
    )
    general = [record for records in pretrain.values() for record in records]
    stream("shuffle").shuffle(general)
    customer, byod = customer_tickets(stream("customer"), sizes.tickets_per_label, sizes.heldout_per_label)
    ifeval = instruction_examples(kb, stream("ifeval"), sizes.ifeval_items)
    return ExperimentData(kb, general, curated, customer, byod, mmlu, ifeval)


def write_experiment_data(out: Path, *, seed: int = 0, scale: float = 1.0) -> dict[str, int]:
    """Writes every file under ``out``; returns {path relative to ``out``: records or rows}."""
    data = build_experiment_data(seed=seed, scale=scale)
    summary = {name: write_jsonl(out / name, records) for name, records in data.jsonl_files().items()}
    summary.update({name: write_csv(out / name, rows) for name, rows in data.csv_files().items()})
    return summary


def corpus_texts(out: Path) -> list[str]:
    """Every text the experiment's model reads or writes in the files under ``out`` (training
    and held-out turns, IFEval prompts, MMLU prompts and answers), to train its tokenizer on."""
    texts = []
    for path in sorted(out.rglob("*.jsonl")):
        records = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
        if path == out / "eval" / IFEVAL_FILE:
            texts += [record["prompt"] for record in records]
        else:
            texts += [message["content"] for record in records for message in to_messages(record)]
    for path in sorted((out / "eval" / MMLU_DIR).rglob("*.csv")):
        with open(path, newline="", encoding="utf-8") as handle:
            texts += [f"{row_prompt(row)} {row[-1]}" for row in csv.reader(handle)]
    return texts
