"""Training records for the factuality and reasoning categories (facts as short questions
and as MMLU-format multiple choice, fresh arithmetic, largest-of and sorting exercises) and
the copying exercise that teaches every word the tuned model must say."""
from __future__ import annotations

import random

from openforge_training.evaluation.layout import mmlu_description, mmlu_prompt

from synthetic_data.curriculum.knowledge import ANIMALS, CITIES, COLOURS, Fact, KnowledgeBase, category_fact, multiple_choice, two_digit_problem
from synthetic_data.tickets import PRODUCTS, TICKET_LABELS, TICKET_WORDS

Record = dict


def chat(user: str, assistant: str, system: str | None = None) -> Record:
    messages = [{"role": "user", "content": user}, {"role": "assistant", "content": assistant}]
    return {"messages": [{"role": "system", "content": system}, *messages] if system else messages}


def multiple_choice_record(fact: Fact, rng: random.Random, held_out: frozenset[str]) -> Record:
    """A prompt the eval files ask word for word is drawn again, so the eval measures the fact
    in the same format rather than a memorised letter. Half come under MMLU's header as a
    system turn, as the evaluation asks them: a tiny model does not carry the skill over to
    a context it never saw (measured: 0.68 without the header, chance with it)."""
    while True:
        choices, letter = multiple_choice(fact, rng)
        prompt = mmlu_prompt(fact.question, choices)
        if prompt not in held_out:
            return chat(prompt, letter, mmlu_description(fact.subject) if rng.random() < 0.5 else None)


def fact_records(facts: list[Fact] | tuple[Fact, ...], rng: random.Random, repeats: int, held_out: frozenset[str],
                 choice_repeats: int | None = None) -> list[Record]:
    """Every fact ``repeats`` times as a short question and ``choice_repeats`` (default as
    many) times as multiple choice, each time in a fresh arrangement of the options."""
    choice_repeats = repeats if choice_repeats is None else choice_repeats
    records = []
    for index in range(max(repeats, choice_repeats)):
        for fact in facts:
            records += [chat(fact.question, fact.answer)] if index < repeats else []
            records += [multiple_choice_record(fact, rng, held_out)] if index < choice_repeats else []
    return records


def arithmetic_exercise(rng: random.Random) -> Record:
    question, answer = two_digit_problem(rng)
    return chat(question, str(answer))


def largest_exercise(rng: random.Random) -> Record:
    numbers = rng.sample(range(1, 100), rng.randint(3, 4))
    return chat(f"Which is largest: {', '.join(map(str, numbers))}?", str(max(numbers)))


def sorting_exercise(rng: random.Random) -> Record:
    numbers = rng.sample(range(1, 100), rng.randint(3, 4))
    return chat(f"Sort from smallest to largest: {', '.join(map(str, numbers))}", ", ".join(map(str, sorted(numbers))))


REASONING_EXERCISES = (arithmetic_exercise, largest_exercise, sorting_exercise)


def reasoning_records(kb: KnowledgeBase, rng: random.Random, repeats: int, exercises: int, choices: int, held_out: frozenset[str],
                      choice_repeats: int | None = None) -> list[Record]:
    """The arithmetic facts (the MMLU ``arithmetic`` subject asks them), fresh exercises, and
    fresh category questions as multiple choice."""
    return (
        fact_records(kb.arithmetic, rng, repeats, held_out, choice_repeats)
        + [rng.choice(REASONING_EXERCISES)(rng) for _ in range(exercises)]
        + [multiple_choice_record(category_fact(rng), rng, held_out) for _ in range(choices)]
    )


# Every content word of the curriculum and the ticket domain. A real base model can say any
# word it knows; a tiny one never trained to emit a word can barely be tuned (LoRA least) to
# emit it, so copying words teaches their output side without the ticket task: which label
# fits a ticket stays unknown to the base.
VOCABULARY = tuple(sorted({*COLOURS, *ANIMALS, *CITIES, *PRODUCTS, *TICKET_LABELS, *TICKET_WORDS}))


def copy_exercise(rng: random.Random) -> Record:
    words = " ".join(rng.sample(VOCABULARY, rng.randint(2, 4)))
    return chat(f"Repeat exactly: {words}", words)
