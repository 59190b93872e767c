"""General benchmarks through lm-evaluation-harness, on files from the ``eval`` channel.

MMLU-style multiple choice is lm-eval's ``multiple_choice`` task (log-likelihood of each
answer letter after the question; the best one counts), one task per subject, scored as
the share of all questions answered right. IFEval-style items run lm-eval's own IFEval
scoring (Google's instruction checkers, strict and loose). The data are local CSV/JSONL
files: nothing is fetched from a hub.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .layout import IFEVAL_FILE, LETTERS, MMLU_COLUMNS, MMLU_DIR, mmlu_description, mmlu_file, mmlu_prompt, mmlu_subjects

log = logging.getLogger(__name__)
IFEVAL_METRICS = ("prompt_level_strict_acc", "prompt_level_loose_acc", "inst_level_strict_acc", "inst_level_loose_acc")


@dataclass(frozen=True)
class Score:
    """One benchmark's headline number for one model, plus its other numbers."""

    metric: str
    value: float
    count: int  # questions or prompts scored
    details: dict


def refuse_downloads() -> None:
    """lm-eval's IFEval module asks nltk for punkt_tab on import and downloads it if
    missing. The image ships it; a run must never reach out (there is no internet in the
    VPC), so a missing resource fails where it is used, with nltk's own message."""
    import nltk

    nltk.download = lambda *args, **kwargs: False


def language_model(model, tokenizer, *, batch_size: int, max_length: int):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length, device=str(model.device))


def check_files(eval_dir: Path, benchmarks: list[str]) -> None:
    if "mmlu" in benchmarks and not mmlu_subjects(eval_dir):
        raise InputError(f"no MMLU files: expected {eval_dir / MMLU_DIR}/test/<subject>_test.csv")
    if "ifeval" in benchmarks and not (eval_dir / IFEVAL_FILE).is_file():
        raise InputError(f"no IFEval file: expected {eval_dir / IFEVAL_FILE}")


def mmlu(lm, eval_dir: Path, *, shots: int, chat: bool, limit: int | None = None) -> Score:
    subjects = mmlu_subjects(eval_dir)
    tasks = [_mmlu_task(eval_dir, subject) for subject in subjects]
    results = _evaluate(lm, tasks, shots=shots, chat=chat, limit=limit)
    per_subject = {subject: results[f"openforge_mmlu_{subject}"] for subject in subjects}
    counts = {subject: _rows(eval_dir / mmlu_file("test", subject), limit) for subject in subjects}
    total = sum(counts.values())
    accuracy = sum(per_subject[s]["acc,none"] * counts[s] for s in subjects) / total
    return Score("acc", accuracy, total, {"per_subject": {s: round(per_subject[s]["acc,none"], 4) for s in subjects}, "shots": shots})


def ifeval(lm, eval_dir: Path, *, chat: bool, max_new_tokens: int, limit: int | None = None) -> Score:
    path = eval_dir / IFEVAL_FILE
    from lm_eval.tasks.ifeval import utils

    task = {
        "task": "openforge_ifeval",
        "dataset_path": "json",
        "dataset_kwargs": {"data_files": {"test": str(path)}},
        "test_split": "test",
        "output_type": "generate_until",
        "doc_to_text": "prompt",
        "doc_to_target": 0,
        "generation_kwargs": {"until": [], "do_sample": False, "max_gen_toks": max_new_tokens},
        "process_results": utils.process_results,
        "metric_list": [
            {"metric": name, "aggregation": "mean" if name.startswith("prompt") else utils.agg_inst_level_acc, "higher_is_better": True}
            for name in IFEVAL_METRICS
        ],
    }
    result = _evaluate(lm, [task], shots=0, chat=chat, limit=limit)["openforge_ifeval"]
    details = {name: round(result[f"{name},none"], 4) for name in IFEVAL_METRICS}
    return Score("prompt_level_strict_acc", result["prompt_level_strict_acc,none"], _rows(path, limit), details)


def _mmlu_task(eval_dir: Path, subject: str) -> dict:
    files = {"test": str(eval_dir / mmlu_file("test", subject))}
    dev = eval_dir / mmlu_file("dev", subject)
    if dev.is_file():
        files["dev"] = str(dev)
    return {
        "task": f"openforge_mmlu_{subject}",
        "dataset_path": "csv",
        # Every column a string: a file whose options are all numbers would otherwise be read
        # as integers and clash with another split's words (or lose "07"'s zero).
        "dataset_kwargs": {"data_files": files, "column_names": MMLU_COLUMNS, "features": _string_columns()},
        "test_split": "test",
        "fewshot_split": "dev" if "dev" in files else "test",
        "output_type": "multiple_choice",
        "description": mmlu_description(subject),
        "doc_to_text": lambda doc: mmlu_prompt(str(doc["question"]), [str(doc[letter]) for letter in LETTERS]),
        "doc_to_choice": list(LETTERS),
        "doc_to_target": lambda doc: LETTERS.index(str(doc["answer"]).strip()),
        "metric_list": [{"metric": "acc", "aggregation": "mean", "higher_is_better": True}],
    }


def _string_columns():
    from datasets import Features, Value

    return Features({column: Value("string") for column in MMLU_COLUMNS})


def _evaluate(lm, tasks: list[dict], *, shots: int, chat: bool, limit: int | None) -> dict:
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    # Our tasks are configs given here: skip indexing lm-eval's own task library (~12 s a call).
    output = simple_evaluate(
        model=lm, tasks=tasks, task_manager=TaskManager(include_defaults=False), num_fewshot=shots, limit=limit or None, apply_chat_template=chat, fewshot_as_multiturn=chat and shots > 0,
        bootstrap_iters=0, log_samples=False, random_seed=0, numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0,
    )
    return output["results"]


def _rows(path: Path, limit: int | None) -> int:
    with open(path, newline="") as handle:
        count = sum(1 for row in (csv.reader(handle) if path.suffix == ".csv" else handle) if row)
    return min(count, limit) if limit else count
