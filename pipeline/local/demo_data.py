"""What a customer's account holds before a run starts, generated for ``make demo``: the
objects the demo input (examples/pipeline-input-demo.json) points at, written into the
local stand-in for S3 (``pipeline.local.s3``).

    s3://openforge-local-artifacts/base-models/tiny/         the tiny base model (sandbox.build_model)
    s3://openforge-local-datasets/raw/demo-tickets/           support tickets, with the messy sample's
                                                              lines mixed in (the sanitiser's work)
    s3://openforge-local-datasets/curated/<category>/         the curated pool mixed in against forgetting
    s3://openforge-local-datasets/evaluation/demo-tickets/    mmlu/, ifeval/, byod/ (evaluation.layout)

Nothing is downloaded; every file comes from a seeded generator, so a rerun writes the same
bytes (the base model's tokenizer included).
"""
from __future__ import annotations

import csv
import io
import json
import random
from dataclasses import dataclass
from pathlib import Path

from openforge_training import sandbox
from openforge_training.evaluation.layout import BYOD_DIR, IFEVAL_FILE, MMLU_DIR

from pipeline.local.s3 import LocalS3

ROOT = Path(__file__).resolve().parents[2]
MESSY_SAMPLE = ROOT / "examples" / "messy-sample.jsonl"

DATASETS_BUCKET = "openforge-local-datasets"
ARTIFACTS_BUCKET = "openforge-local-artifacts"
BASE_MODEL_S3_URI = f"s3://{ARTIFACTS_BUCKET}/base-models/tiny/"
RAW_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/raw/demo-tickets/"
CURATED_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/curated/"
EVALUATION_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/evaluation/demo-tickets/"

# General questions the curated pool also teaches (sums, word lengths), asked as MMLU-format
# multiple choice: what mixing is meant to keep.
MMLU_SUBJECTS = ("arithmetic", "spelling")
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


@dataclass(frozen=True)
class DemoSizes:
    """How much is generated; the defaults are ``make demo``'s."""

    customer: int = 400  # clean ticket records in the raw export (the messy sample's 13 lines come on top)
    per_category: int = 200  # curated records per category
    held_out: int = 32  # BYOD held-out tickets
    mmlu_questions: int = 12  # scored questions per MMLU subject (5 more per subject are the few-shot examples)
    seed: int = 0


@dataclass(frozen=True)
class DemoData:
    base_model_s3_uri: str
    raw_data_s3_uri: str
    curated_data_s3_uri: str
    evaluation_data_s3_uri: str
    counts: dict


def write_demo_data(store: LocalS3, sizes: DemoSizes = DemoSizes()) -> DemoData:
    """Every object the demo input needs, under ``store``'s root."""
    rng = random.Random(sizes.seed)
    sandbox.build_model(store.path(BASE_MODEL_S3_URI), seed=sizes.seed)
    raw = write_raw_tickets(store.path(RAW_DATA_S3_URI), rng, sizes.customer)
    for category, generate in sandbox.CURATED_GENERATORS.items():
        sandbox.write_jsonl(store.path(CURATED_DATA_S3_URI) / category / "part-000.jsonl", (generate(rng) for _ in range(sizes.per_category)))
    write_eval_files(store.path(EVALUATION_DATA_S3_URI), random.Random(sizes.seed + 1), sizes)
    counts = {"raw_lines": raw, "curated_per_category": sizes.per_category, "held_out": sizes.held_out,
              "mmlu_questions": sizes.mmlu_questions * len(MMLU_SUBJECTS), "ifeval_prompts": len(IFEVAL_ITEMS)}
    return DemoData(BASE_MODEL_S3_URI, RAW_DATA_S3_URI, CURATED_DATA_S3_URI, EVALUATION_DATA_S3_URI, counts)


def write_raw_tickets(folder: Path, rng: random.Random, customer: int) -> int:
    """Two export files of ticket records; the first has the messy sample's lines scattered
    through it (its cut-off last line stays last, as an interrupted export leaves it).
    Returns the number of lines written."""
    messy = MESSY_SAMPLE.read_bytes().split(b"\n")
    truncated = messy.pop() if messy and messy[-1] else None
    first = [json.dumps(sandbox.customer_record(rng)).encode() for _ in range(customer // 2)]
    for line in messy:
        first.insert(rng.randint(0, len(first)), line)
    folder.mkdir(parents=True, exist_ok=True)
    body = b"\n".join(first) + b"\n" + (truncated or b"")
    (folder / "tickets-2024-05.jsonl").write_bytes(body)
    second = [json.dumps(sandbox.customer_record(rng)) for _ in range(customer - customer // 2)]
    (folder / "tickets-2024-06.jsonl").write_text("".join(line + "\n" for line in second))
    return len(first) + (1 if truncated else 0) + len(second)


def write_eval_files(eval_dir: Path, rng: random.Random, sizes: DemoSizes) -> None:
    """``eval_dir/{mmlu,ifeval,byod}`` in the layouts the evaluation entrypoint reads."""
    for subject in MMLU_SUBJECTS:
        rows = [mmlu_row(subject, rng) for _ in range(sizes.mmlu_questions + 5)]
        for split, chosen in (("dev", rows[:5]), ("test", rows[5:])):
            path = eval_dir / MMLU_DIR / split / f"{subject}_{split}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            text = io.StringIO()
            csv.writer(text, lineterminator="\n").writerows(chosen)
            path.write_text(text.getvalue())
    path = eval_dir / IFEVAL_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(item) + "\n" for item in IFEVAL_ITEMS))
    sandbox.write_jsonl(eval_dir / BYOD_DIR / "held-out.jsonl", (sandbox.customer_record(rng) for _ in range(sizes.held_out)))


def mmlu_row(subject: str, rng: random.Random) -> list[str]:
    """question, A, B, C, D, answer letter."""
    if subject == "arithmetic":
        a, b = rng.randint(2, 60), rng.randint(2, 60)
        question, answer = f"What is {a} + {b}?", a + b
        wrong = rng.sample([n for n in range(answer - 6, answer + 7) if n != answer and n > 0], 3)
    else:
        word = rng.choice(sandbox.WORDS)
        question, answer = f"How many letters are in the word {word}?", len(word)
        wrong = rng.sample([n for n in range(2, 10) if n != answer], 3)
    options = [str(n) for n in wrong]
    position = rng.randrange(4)
    options.insert(position, str(answer))
    return [question, *options, "ABCD"[position]]
