"""A tiny base model and generated data laid out like a SageMaker job's input, so the
training entrypoint runs anywhere with no downloads:

    python -m synthetic_data.sandbox --out work/sandbox
    python -m openforge_training.train --input_dir work/sandbox/input \\
        --output_dir work/sandbox/model --checkpoint_dir work/sandbox/checkpoints ...

The model is ``synthetic_data.tiny_model``'s; the customer channel holds support tickets
(``synthetic_data.tickets``), the curated channel the basic skills
(``synthetic_data.basic_skills``), one category per training format.
"""
from __future__ import annotations

import argparse
import random
from pathlib import Path

from synthetic_data.basic_skills import CURATED_GENERATORS
from synthetic_data.files import write_jsonl
from synthetic_data.tickets import random_ticket
from synthetic_data.tiny_model import build_model


def write_data(data_dir: Path, *, customer: int = 400, per_category: int = 200, validation: int = 40, seed: int = 0) -> None:
    """``data_dir/{customer,curated/<category>,validation}`` as JSONL in all three formats."""
    rng = random.Random(seed)
    write_jsonl(data_dir / "customer" / "tickets-000.jsonl", (random_ticket(rng) for _ in range(customer // 2)))
    write_jsonl(data_dir / "customer" / "tickets-001.jsonl", (random_ticket(rng) for _ in range(customer - customer // 2)))
    for category, generate in CURATED_GENERATORS.items():
        write_jsonl(data_dir / "curated" / category / "part-000.jsonl", (generate(rng) for _ in range(per_category)))
    write_jsonl(data_dir / "validation" / "held-out.jsonl", (random_ticket(rng) for _ in range(validation)))


def build(out: Path, *, seed: int = 0, customer: int = 400, per_category: int = 200) -> Path:
    """``out/input/data/{model,customer,curated,validation}``; returns ``out/input``."""
    data = out / "input" / "data"
    build_model(data / "model", seed=seed)
    write_data(data, customer=customer, per_category=per_category, seed=seed)
    return out / "input"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder to create the sandbox in")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(build(args.out, seed=args.seed))


if __name__ == "__main__":
    main()
