"""What a customer's account holds before a run starts, generated for ``make demo``: the
objects the demo input (examples/pipeline-input-demo.json) points at, written into the
local stand-in for S3 (``pipeline.local.s3``).

    s3://openforge-local-artifacts/base-models/tiny/         the tiny base model (synthetic_data.tiny_model)
    s3://openforge-local-datasets/raw/demo-tickets/           support tickets, with the messy sample's
                                                              lines mixed in (the sanitiser's work)
    s3://openforge-local-datasets/curated/<category>/         the curated pool mixed in against forgetting
    s3://openforge-local-datasets/evaluation/demo-tickets/    mmlu/, ifeval/, byod/ (evaluation.layout)

Nothing is downloaded; every file comes from a seeded generator of ``synthetic_data`` (the
support tickets, the basic skills as curated data and as benchmark files), so a rerun writes
the same bytes (the base model's tokenizer included).
"""
from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from synthetic_data.basic_skills import CURATED_GENERATORS, IFEVAL_ITEMS, MMLU_SUBJECTS, write_eval_files
from synthetic_data.files import write_jsonl
from synthetic_data.tickets import random_ticket
from synthetic_data.tiny_model import build_model

from openforge_contract.s3_layout import BASE_MODELS_PREFIX, CURATED_PREFIX, EVALUATION_PREFIX, RAW_PREFIX
from pipeline.local.s3 import LocalS3

ROOT = Path(__file__).resolve().parents[2]
MESSY_SAMPLE = ROOT / "examples" / "messy-sample.jsonl"

DATASETS_BUCKET = "openforge-local-datasets"
ARTIFACTS_BUCKET = "openforge-local-artifacts"
BASE_MODEL_S3_URI = f"s3://{ARTIFACTS_BUCKET}/{BASE_MODELS_PREFIX}/tiny/"
RAW_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/{RAW_PREFIX}/demo-tickets/"
CURATED_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/{CURATED_PREFIX}/"
EVALUATION_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/{EVALUATION_PREFIX}/demo-tickets/"


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
    build_model(store.path(BASE_MODEL_S3_URI), seed=sizes.seed)
    raw = write_raw_tickets(store.path(RAW_DATA_S3_URI), rng, sizes.customer)
    for category, generate in CURATED_GENERATORS.items():
        write_jsonl(store.path(CURATED_DATA_S3_URI) / category / "part-000.jsonl", (generate(rng) for _ in range(sizes.per_category)))
    write_eval_files(store.path(EVALUATION_DATA_S3_URI), random.Random(sizes.seed + 1), mmlu_questions=sizes.mmlu_questions,
                     held_out=sizes.held_out, byod_name="held-out.jsonl")
    counts = {"raw_lines": raw, "curated_per_category": sizes.per_category, "held_out": sizes.held_out,
              "mmlu_questions": sizes.mmlu_questions * len(MMLU_SUBJECTS), "ifeval_prompts": len(IFEVAL_ITEMS)}
    return DemoData(BASE_MODEL_S3_URI, RAW_DATA_S3_URI, CURATED_DATA_S3_URI, EVALUATION_DATA_S3_URI, counts)


def write_raw_tickets(folder: Path, rng: random.Random, customer: int) -> int:
    """Two export files of ticket records; the first has the messy sample's lines scattered
    through it (its cut-off last line stays last, as an interrupted export leaves it).
    Returns the number of lines written."""
    messy = MESSY_SAMPLE.read_bytes().split(b"\n")
    truncated = messy.pop() if messy and messy[-1] else None
    first = [json.dumps(random_ticket(rng)).encode() for _ in range(customer // 2)]
    for line in messy:
        first.insert(rng.randint(0, len(first)), line)
    folder.mkdir(parents=True, exist_ok=True)
    body = b"\n".join(first) + b"\n" + (truncated or b"")
    (folder / "tickets-2024-05.jsonl").write_bytes(body)
    second = [json.dumps(random_ticket(rng)) for _ in range(customer - customer // 2)]
    (folder / "tickets-2024-06.jsonl").write_text("".join(line + "\n" for line in second))
    return len(first) + (1 if truncated else 0) + len(second)
