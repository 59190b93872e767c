"""The small general pool the sandbox and the demo mix into customer data: one-line sums,
upper-casing words, counting a word's letters. A tiny random model picks these up in a few
dozen steps, so the curated channel has something to keep; the same skills come back as
MMLU-format questions and IFEval prompts in the demo's evaluation files.

The forgetting experiment needs a curriculum a model can be pre-trained on and then forget:
that is ``synthetic_data.curriculum``.
"""
from __future__ import annotations

import json
import random
from pathlib import Path

from openforge_training.evaluation.layout import LETTERS

from synthetic_data.files import write_byod, write_ifeval, write_mmlu
from synthetic_data.tickets import random_ticket

Record = dict
Row = list[str]

WORDS = ("apple", "river", "stone", "cloud", "green", "quick", "seven", "table", "light", "music", "north", "paper", "glass", "tiger", "ocean")


def reasoning_record(rng: random.Random) -> Record:
    a, b = rng.randint(2, 60), rng.randint(2, 60)
    return {"messages": [{"role": "user", "content": f"What is {a} + {b}?"}, {"role": "assistant", "content": str(a + b)}]}


def instruction_record(rng: random.Random) -> Record:
    words = rng.sample(WORDS, 3)
    return {
        "schemaVersion": "bedrock-conversation-2024",
        "system": [{"text": "Follow the instruction exactly."}],
        "messages": [
            {"role": "user", "content": [{"text": f"Write these words in upper case: {' '.join(words)}"}]},
            {"role": "assistant", "content": [{"text": " ".join(w.upper() for w in words)}]},
        ],
    }


def factual_record(rng: random.Random) -> Record:
    word = rng.choice(WORDS)
    return {"messages": [{"role": "user", "content": f"How many letters are in the word {word}?"}, {"role": "assistant", "content": str(len(word))}]}


# One category a training format: Bedrock conversation, messages, and (tickets) input/output.
CURATED_GENERATORS = {"reasoning": reasoning_record, "instruction_following": instruction_record, "factuality": factual_record}


def corpus(seed: int = 0, size: int = 2000) -> list[str]:
    """Tickets and every skill as JSON lines: what the sandbox's tokenizer is trained on."""
    rng = random.Random(seed)
    texts = []
    for _ in range(size):
        for record in (random_ticket(rng), reasoning_record(rng), instruction_record(rng), factual_record(rng)):
            texts.append(json.dumps(record))
    return texts


# --- the same skills as benchmark files -----------------------------------------------------

MMLU_SUBJECTS = ("arithmetic", "spelling")
MMLU_SHOTS = 5  # rows per subject in the dev split (the few-shot examples), on top of the scored ones
IFEVAL_ITEMS = (
    {"key": 1, "prompt": "Name two colours. Do not use any commas.", "instruction_id_list": ["punctuation:no_comma"], "kwargs": [{}]},
    {"key": 2, "prompt": "Say hello in lower case letters only.", "instruction_id_list": ["change_case:english_lowercase"], "kwargs": [{}]},
    {"key": 3, "prompt": "Write the word ocean in capital letters only.", "instruction_id_list": ["change_case:english_capital"], "kwargs": [{}]},
    {"key": 4, "prompt": "Wrap your whole answer in double quotes: name a fruit.", "instruction_id_list": ["startend:quotation"], "kwargs": [{}]},
    {"key": 5, "prompt": "Describe a river in fewer than ten words.", "instruction_id_list": ["length_constraints:number_words"],
     "kwargs": [{"relation": "less than", "num_words": 10}]},
    {"key": 6, "prompt": "Greet me and finish with the exact phrase 'Any other questions?'", "instruction_id_list": ["startend:end_checker"],
     "kwargs": [{"end_phrase": "Any other questions?"}]},
)


def mmlu_row(subject: str, rng: random.Random) -> Row:
    """question, A, B, C, D, answer letter: a sum or a word's length among three near misses."""
    if subject == "arithmetic":
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        question, answer = f"What is {a} + {b}?", a + b
        wrong = rng.sample([n for n in range(answer - 6, answer + 7) if n != answer and n > 0], 3)
    else:
        word = rng.choice(WORDS)
        question, answer = f"How many letters are in the word {word}?", len(word)
        wrong = rng.sample([n for n in range(2, 10) if n != answer], 3)
    options = [str(n) for n in wrong]
    position = rng.randrange(len(LETTERS))
    options.insert(position, str(answer))
    return [question, *options, LETTERS[position]]


def write_eval_files(eval_dir: Path, rng: random.Random, *, mmlu_questions: int, held_out: int, byod_name: str = "heldout.jsonl") -> None:
    """``eval_dir/{mmlu,ifeval,byod}``: ``mmlu_questions`` scored questions per subject (after
    the few-shot rows), the IFEval prompts above, ``held_out`` random tickets."""
    splits = {}
    for subject in MMLU_SUBJECTS:
        rows = [mmlu_row(subject, rng) for _ in range(mmlu_questions + MMLU_SHOTS)]
        splits[subject] = (rows[:MMLU_SHOTS], rows[MMLU_SHOTS:])
    write_mmlu(eval_dir, splits, lineterminator="\n")  # the evaluator reads either line ending
    write_ifeval(eval_dir, IFEVAL_ITEMS)
    write_byod(eval_dir, (random_ticket(rng) for _ in range(held_out)), byod_name)
