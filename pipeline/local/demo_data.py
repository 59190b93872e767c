"""What a customer's account holds before a run starts, for ``make demo``: the objects the
demo input (examples/pipeline-input-demo.json) points at, written into the local stand-in for
S3 (``pipeline.local.s3``).

    s3://openforge-local-artifacts/base-models/openforge-tiny/   the shipped base model (examples/base-model:
                                                                 pre-trained here on the general curriculum,
                                                                 checked against its provenance.json)
    s3://openforge-local-datasets/raw/demo-tickets/              support tickets, with the messy sample's
                                                                 lines mixed in (the sanitiser's work)
    s3://openforge-local-datasets/curated/<category>/            the curated pool mixed in against forgetting
    s3://openforge-local-datasets/evaluation/demo-tickets/       mmlu/, ifeval/, byod/ (evaluation.layout)

Everything but the base model is the curriculum the base was pre-trained alongside
(``synthetic_data.curriculum`` at the base's own seed and scale): its tickets are the customer
data and the held-out set, its curated pool is fresh draws of the general skills, its MMLU- and
IFEval-format files ask what the base learned. Nothing is downloaded, and a rerun writes the
same bytes.
"""
from __future__ import annotations

import json
import random
import shutil
from dataclasses import dataclass
from pathlib import Path

from synthetic_data.base_model import PROVENANCE, SHIPPED, BaseSettings, check
from synthetic_data.curriculum import build_experiment_data
from synthetic_data.files import write_byod, write_ifeval, write_jsonl, write_mmlu

from openforge_contract.s3_layout import BASE_MODELS_PREFIX, CURATED_PREFIX, EVALUATION_PREFIX, RAW_PREFIX
from pipeline.local.s3 import LocalS3

ROOT = Path(__file__).resolve().parents[2]
MESSY_SAMPLE = ROOT / "examples" / "messy-sample.jsonl"
BASE_MODEL = ROOT / SHIPPED

DATASETS_BUCKET = "openforge-local-datasets"
ARTIFACTS_BUCKET = "openforge-local-artifacts"
BASE_MODEL_S3_URI = f"s3://{ARTIFACTS_BUCKET}/{BASE_MODELS_PREFIX}/openforge-tiny/"
RAW_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/{RAW_PREFIX}/demo-tickets/"
CURATED_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/{CURATED_PREFIX}/"
EVALUATION_DATA_S3_URI = f"s3://{DATASETS_BUCKET}/{EVALUATION_PREFIX}/demo-tickets/"


@dataclass(frozen=True)
class DemoSizes:
    """How much of the curriculum is written; None: all of it (``make demo``). Tests take less."""

    customer: int | None = None  # clean ticket records in the raw export (the messy sample's 13 lines come on top)
    per_category: int | None = None  # curated records per category
    held_out: int | None = None  # BYOD held-out tickets
    mmlu_questions: int | None = None  # scored questions per MMLU subject (its 5 dev rows are the few-shot examples)
    ifeval_items: int | None = None


@dataclass(frozen=True)
class DemoData:
    base_model_s3_uri: str
    raw_data_s3_uri: str
    curated_data_s3_uri: str
    evaluation_data_s3_uri: str
    counts: dict


def write_demo_data(store: LocalS3, sizes: DemoSizes = DemoSizes()) -> DemoData:
    """Every object the demo input needs, under ``store``'s root."""
    copy_base_model(BASE_MODEL, store.path(BASE_MODEL_S3_URI))
    settings = BaseSettings(**json.loads((BASE_MODEL / PROVENANCE).read_text())["settings"])
    data = build_experiment_data(seed=settings.data_seed, scale=settings.data_scale)
    raw = write_raw_tickets(store.path(RAW_DATA_S3_URI), random.Random(settings.data_seed), data.customer[: sizes.customer])
    curated = {category: write_jsonl(store.path(CURATED_DATA_S3_URI) / category / "part-000.jsonl", records[: sizes.per_category])
               for category, records in data.curated.items()}
    eval_dir = store.path(EVALUATION_DATA_S3_URI)
    mmlu = {subject: (dev, test[: sizes.mmlu_questions]) for subject, (dev, test) in data.mmlu.items()}
    write_mmlu(eval_dir, mmlu)
    counts = {"raw_lines": raw, "curated": curated, "mmlu_questions": sum(len(test) for _, test in mmlu.values()),
              "ifeval_prompts": write_ifeval(eval_dir, data.ifeval_items()[: sizes.ifeval_items]),
              "held_out": write_byod(eval_dir, data.byod[: sizes.held_out], "held-out.jsonl")}
    return DemoData(BASE_MODEL_S3_URI, RAW_DATA_S3_URI, CURATED_DATA_S3_URI, EVALUATION_DATA_S3_URI, counts)


def copy_base_model(source: Path, target: Path) -> None:
    """The shipped weights, refused if they are not the ones their provenance.json describes."""
    problems = check(source)
    if problems:
        raise ValueError(f"the base model in {source} is not what its {PROVENANCE} says made it: {'; '.join(problems)} "
                         "(restore it from git, or remake it with make base-model)")
    if target.exists():
        shutil.rmtree(target)
    shutil.copytree(source, target)


def write_raw_tickets(folder: Path, rng: random.Random, tickets: list[dict]) -> int:
    """Two export files of ticket records; the first has the messy sample's lines scattered
    through it (its cut-off last line stays last, as an interrupted export leaves it).
    Returns the number of lines written."""
    messy = MESSY_SAMPLE.read_bytes().split(b"\n")
    truncated = messy.pop() if messy and messy[-1] else None
    half = len(tickets) // 2
    first = [json.dumps(ticket).encode() for ticket in tickets[:half]]
    for line in messy:
        first.insert(rng.randint(0, len(first)), line)
    folder.mkdir(parents=True, exist_ok=True)
    body = b"\n".join(first) + b"\n" + (truncated or b"")
    (folder / "tickets-2024-05.jsonl").write_bytes(body)
    second = [json.dumps(ticket) for ticket in tickets[half:]]
    (folder / "tickets-2024-06.jsonl").write_text("".join(line + "\n" for line in second))
    return len(first) + (1 if truncated else 0) + len(second)
