"""General benchmarks through lm-evaluation-harness, on files from the ``eval`` channel.

MMLU-style multiple choice is lm-eval's ``multiple_choice`` task (log-likelihood of each
answer letter after the question; the best one counts), one task per subject, scored as
the share of all questions answered right. IFEval-style items run lm-eval's own IFEval
scoring (Google's instruction checkers, strict and loose). The data are local CSV/JSONL
files: nothing is fetched from a hub.

Both tasks take their settings from the installed lm-eval's own task files (IFEval's
generation length, MMLU's few-shot split and first-n sampler), so our scores are
comparable with published lm-evaluation-harness numbers.
"""
from __future__ import annotations

import csv
import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import InputError
from .layout import IFEVAL_FILE, LETTERS, MMLU_COLUMNS, MMLU_DIR, mmlu_description, mmlu_file, mmlu_prompt, mmlu_subjects

log = logging.getLogger(__name__)
# lm-evaluation-harness's own task configs, in its tasks/ folder.
IFEVAL_CONFIG, MMLU_CONFIG = "ifeval/ifeval.yaml", "mmlu/default/_default_template_yaml"
IFEVAL_HEADLINE = "prompt_level_strict_acc"


@dataclass(frozen=True)
class Score:
    """One benchmark's headline number for one model, plus its other numbers."""

    metric: str
    value: float
    count: int  # questions or prompts scored
    details: dict
    items: str | None = None  # the headline metric per item, "1" right / "0" wrong, in a fixed order: what pairs base with tuned


def item_string(outcomes) -> str:
    """Per-item outcomes (bools, 0/1 numbers) as a compact string for evaluation.json."""
    return "".join("1" if outcome else "0" for outcome in outcomes)


def refuse_downloads() -> None:
    """lm-eval's IFEval module asks nltk for punkt_tab on import and downloads it if
    missing. The image ships it; a run must never reach out (there is no internet in the
    VPC), so a missing resource fails where it is used, with nltk's own message."""
    import nltk

    nltk.download = lambda *args, **kwargs: False


def harness_config(name: str, *, functions: bool = False) -> dict:
    """One of the installed lm-eval's task configs, read with lm-eval's own loader.
    ``functions``: resolve its ``!function`` entries (IFEval's imports nltk, see
    refuse_downloads); otherwise they stay as names."""
    import lm_eval
    from lm_eval.tasks._yaml_loader import load_yaml

    path = Path(lm_eval.__file__).parent / "tasks" / name
    if not path.is_file():
        raise RuntimeError(f"lm-eval {lm_eval.__version__} has no tasks/{name}: the evaluation reads the harness's settings from it; "
                           "install the lm-eval version the project pins")
    return load_yaml(path, resolve_func=functions, recursive=False)


def ifeval_generation() -> dict:
    """IFEval's generation settings as lm-evaluation-harness runs it (max_gen_toks and all)."""
    return harness_config(IFEVAL_CONFIG)["generation_kwargs"]


def language_model(model, tokenizer, *, batch_size: int, max_length: int):
    from lm_eval.models.huggingface import HFLM

    return HFLM(pretrained=model, tokenizer=tokenizer, batch_size=batch_size, max_length=max_length, device=str(model.device))


def check_context(model_dirs: list[Path], max_length: int) -> None:
    """HFLM feeds up to ``max_length`` tokens whatever the model was built for: past its
    position limit a Llama scores garbage without an error. Read from the configs, before
    any model loads, as lm-eval reads a model's length."""
    from lm_eval.models.utils import resolve_max_length
    from transformers import AutoConfig

    for model_dir in model_dirs:
        try:
            config = AutoConfig.from_pretrained(model_dir)
        except (OSError, ValueError) as error:
            raise InputError(f"cannot read the model config in {model_dir}: {error}") from None
        limit = resolve_max_length(config, default=max_length)  # no length in the config: nothing to check
        if max_length > limit:
            raise InputError(f"max_length={max_length} is longer than the model in {model_dir} takes "
                             f"({limit} tokens, its max_position_embeddings): give max_length <= {limit}")


def check_files(eval_dir: Path, benchmarks: list[str], shots: list[int]) -> None:
    """Every benchmark file the run needs, before any model loads. Few-shot MMLU takes its
    examples from each subject's dev file (the first ``shots`` rows, as the harness does),
    never from the scored questions."""
    if "mmlu" in benchmarks:
        subjects = mmlu_subjects(eval_dir)
        if not subjects:
            raise InputError(f"no MMLU files: expected {eval_dir / MMLU_DIR}/test/<subject>_test.csv")
        most = max(shots, default=0)
        for subject in subjects if most > 0 else ():
            dev = eval_dir / mmlu_file("dev", subject)
            if not dev.is_file():
                raise InputError(f"MMLU subject {subject} has no few-shot examples for mmlu_shots={most}: expected {dev}")
            if (rows := _rows(dev, None)) < most:
                raise InputError(f"MMLU subject {subject} has {rows} few-shot examples in {dev}, fewer than mmlu_shots={most}")
    if "ifeval" in benchmarks and not (eval_dir / IFEVAL_FILE).is_file():
        raise InputError(f"no IFEval file: expected {eval_dir / IFEVAL_FILE}")


def mmlu(lm, eval_dir: Path, *, shots: int, chat: bool, limit: int | None = None) -> Score:
    subjects = mmlu_subjects(eval_dir)
    tasks = [mmlu_task(eval_dir, subject, shots=shots) for subject in subjects]
    results, samples = _evaluate(lm, tasks, shots=shots, chat=chat, limit=limit)
    per_subject = {subject: results[f"openforge_mmlu_{subject}"] for subject in subjects}
    items = item_string(outcome for subject in subjects for outcome in _outcomes(samples[f"openforge_mmlu_{subject}"], "acc"))
    if not items:
        raise InputError(f"no MMLU questions were scored: the test files under {eval_dir / MMLU_DIR}/test are empty")
    accuracy = items.count("1") / len(items)
    return Score("acc", accuracy, len(items), {"per_subject": {s: round(per_subject[s]["acc,none"], 4) for s in subjects}, "shots": shots}, items)


def ifeval(lm, eval_dir: Path, *, chat: bool, limit: int | None = None) -> Score:
    path = eval_dir / IFEVAL_FILE
    task = ifeval_task(path)
    results, samples = _evaluate(lm, [task], shots=0, chat=chat, limit=limit)
    result = results[task["task"]]
    details = {name: round(result[f"{name},none"], 4) for name in (metric["metric"] for metric in task["metric_list"])}
    items = item_string(_outcomes(samples[task["task"]], IFEVAL_HEADLINE))
    return Score(IFEVAL_HEADLINE, result[f"{IFEVAL_HEADLINE},none"], len(items), details, items)


def ifeval_task(path: Path) -> dict:
    """lm-eval's IFEval task as the harness ships it (prompt, generation settings, Google's
    checkers, metrics), on our JSONL file instead of the hub's dataset."""
    config = harness_config(IFEVAL_CONFIG, functions=True)
    return {**config, "task": "openforge_ifeval", "dataset_path": "json", "dataset_name": None,
            "dataset_kwargs": {"data_files": {"test": str(path)}}, "test_split": "test"}


def mmlu_task(eval_dir: Path, subject: str, *, shots: int) -> dict:
    """One subject as lm-eval's MMLU template sets it up: the scored split, and for few-shot
    its fewshot split and sampler (the first n dev rows, in file order)."""
    template = harness_config(MMLU_CONFIG)
    test_split, fewshot_split = template["test_split"], template["fewshot_split"]
    files = {test_split: str(eval_dir / mmlu_file("test", subject))}
    fewshot = {}
    if shots > 0:  # check_files saw the dev file; a 0-shot run does not need one
        files[fewshot_split] = str(eval_dir / mmlu_file("dev", subject))
        fewshot = {"fewshot_split": fewshot_split, "fewshot_config": template["fewshot_config"]}
    return {
        "task": f"openforge_mmlu_{subject}",
        "dataset_path": "csv",
        # Every column a string: a file whose options are all numbers would otherwise be read
        # as integers and clash with another split's words (or lose "07"'s zero).
        "dataset_kwargs": {"data_files": files, "column_names": MMLU_COLUMNS, "features": _string_columns()},
        "test_split": test_split,
        **fewshot,
        "output_type": template["output_type"],
        "description": mmlu_description(subject),
        "doc_to_text": lambda doc: mmlu_prompt(str(doc["question"]), [str(doc[letter]) for letter in LETTERS]),
        "doc_to_choice": list(LETTERS),
        "doc_to_target": lambda doc: LETTERS.index(str(doc["answer"]).strip()),
        "metric_list": template["metric_list"],
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
        bootstrap_iters=0, log_samples=True, random_seed=0, numpy_random_seed=0, torch_random_seed=0, fewshot_random_seed=0,
    )
    return output["results"], output["samples"]  # the samples: each item's own result, so base and tuned can be paired


def _outcomes(samples: list[dict], metric: str) -> list:
    """One task's per-item results for ``metric``, in the documents' order."""
    return [sample[metric] for sample in sorted(samples, key=lambda sample: sample["doc_id"])]


def _rows(path: Path, limit: int | None) -> int:
    with open(path, newline="") as handle:
        count = sum(1 for row in (csv.reader(handle) if path.suffix == ".csv" else handle) if row)
    return min(count, limit) if limit else count
