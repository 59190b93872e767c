"""The ``eval`` channel's layout and the prompt formats, shared by the evaluator, the
staging script and anything that generates benchmark files.

    eval/mmlu/dev/<subject>_dev.csv     few-shot examples  (the public MMLU CSV layout:
    eval/mmlu/test/<subject>_test.csv   scored questions    question,A,B,C,D,answer; no header)
                                        k-shot takes a subject's first k dev rows; no dev
                                        file is needed at 0-shot
    eval/ifeval/input_data.jsonl        {"key", "prompt", "instruction_id_list", "kwargs"} (IFEval's own)
    eval/byod/*.jsonl                   the customer's held-out records, in any training format;
                                        the last assistant turn is the reference
"""
from __future__ import annotations

from pathlib import Path

MMLU_DIR, IFEVAL_FILE, BYOD_DIR = "mmlu", "ifeval/input_data.jsonl", "byod"
MMLU_COLUMNS = ["question", "A", "B", "C", "D", "answer"]
LETTERS = ("A", "B", "C", "D")


def mmlu_description(subject: str) -> str:
    """The header MMLU's questions come under (lm-evaluation-harness's; a system turn when
    the chat template is on)."""
    return f"The following are multiple choice questions (with answers) about {subject.replace('_', ' ')}.\n\n"


def mmlu_prompt(question: str, choices: list[str] | tuple[str, ...]) -> str:
    """A multiple-choice question as the model sees it; the answer is one letter."""
    options = "\n".join(f"{letter}. {choice}" for letter, choice in zip(LETTERS, choices, strict=True))
    return f"{question.strip()}\n{options}\nAnswer:"


def mmlu_file(split: str, subject: str) -> str:
    """A subject's CSV for ``split`` ("dev" or "test"), relative to the eval channel."""
    return f"{MMLU_DIR}/{split}/{subject}_{split}.csv"


def mmlu_subjects(eval_dir: Path) -> list[str]:
    return sorted(path.name.removesuffix("_test.csv") for path in (eval_dir / MMLU_DIR / "test").glob("*_test.csv"))
