"""The MMLU-format evaluation files: per subject, few-shot and test rows over facts the
general curriculum teaches. (IFEval items are ``instructions.InstructionExample.ifeval_item``;
the BYOD set is the held-out tickets of ``synthetic_data.tickets.customer_tickets``.)"""
from __future__ import annotations

import random

from openforge_training.evaluation.layout import MMLU_COLUMNS, mmlu_prompt

from synthetic_data.curriculum.knowledge import SUBJECTS, Fact, KnowledgeBase, multiple_choice

Row = list[str]


def mmlu_splits(kb: KnowledgeBase, rng: random.Random, dev_size: int, test_size: int) -> dict[str, tuple[list[Row], list[Row]]]:
    """Per subject, ``dev_size`` few-shot rows and up to ``test_size`` test rows about other
    facts; every one is a fact the general curriculum teaches."""
    splits = {}
    for subject in SUBJECTS:
        facts = [fact for fact in kb.facts() if fact.subject == subject]
        rng.shuffle(facts)
        rows = [mmlu_row(fact, rng) for fact in facts[: dev_size + test_size]]
        splits[subject] = (rows[:dev_size], rows[dev_size:])
    return splits


def mmlu_row(fact: Fact, rng: random.Random) -> Row:
    choices, letter = multiple_choice(fact, rng)
    return [fact.question, *choices, letter]


def row_prompt(row: Row) -> str:
    return mmlu_prompt(row[0], row[1 : len(MMLU_COLUMNS) - 1])
