"""The customer's own held-out set: each record's conversation up to its last assistant
turn is the prompt, that turn is the reference. Answers are generated greedily in
batches with the model's chat template, the same rendering training used."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sanitiser.formats import FormatError, parse_line

from ..errors import InputError, RecordError
from .layout import BYOD_DIR
from .metrics import LabelExtractor, accuracy, exact_match, macro_f1, rouge_l


@dataclass(frozen=True)
class HeldOut:
    prompts: list[list[dict]]  # messages before the reference
    references: list[str]


def load(eval_dir: Path, limit: int | None = None) -> HeldOut:
    files = sorted((eval_dir / BYOD_DIR).glob("*.jsonl"))
    if not files:
        raise InputError(f"no held-out set: expected JSONL files in {eval_dir / BYOD_DIR}")
    prompts, references = [], []
    for path in files:
        with open(path, "rb") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    messages = parse_line(line)
                except FormatError as error:
                    raise RecordError(str(path), number, str(error)) from None
                prompts.append(messages[:-1])
                references.append(messages[-1]["content"])
                if limit and len(references) >= limit:
                    return HeldOut(prompts, references)
    return HeldOut(prompts, references)


def generate(model, tokenizer, prompts: list[list[dict]], *, chat: bool, max_new_tokens: int, batch_size: int) -> list[str]:
    import torch

    texts = [
        tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True) if chat
        else "\n\n".join(m["content"] for m in messages) + "\n\n"
        for messages in prompts
    ]
    side, tokenizer.padding_side = tokenizer.padding_side, "left"  # generation continues at the right end
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    answers = []
    try:
        for start in range(0, len(texts), batch_size):
            # The template already wrote any BOS token: do not add another.
            batch = tokenizer(texts[start : start + batch_size], return_tensors="pt", padding=True, add_special_tokens=not chat).to(model.device)
            with torch.no_grad():
                output = model.generate(**batch, max_new_tokens=max_new_tokens, do_sample=False, pad_token_id=pad)
            answers += tokenizer.batch_decode(output[:, batch["input_ids"].shape[1] :], skip_special_tokens=True)
    finally:
        tokenizer.padding_side = side
    return [answer.strip() for answer in answers]


def score(answers: list[str], references: list[str], *, extract: LabelExtractor, rouge: bool) -> dict[str, float]:
    predicted, expected = [extract(a) for a in answers], [extract(r) for r in references]
    scores = {"accuracy": accuracy(predicted, expected), "exact_match": exact_match(answers, references), "macro_f1": macro_f1(predicted, expected)}
    if rouge:
        scores["rougeL"] = rouge_l(answers, references)
    return scores


def per_item(answers: list[str], references: list[str], *, extract: LabelExtractor, metric: str) -> list[bool] | None:
    """Each answer right or wrong under ``metric``, where the metric is a mean over items
    (accuracy, exact match); None for macro-F1 and ROUGE-L, which are not."""
    if metric == "accuracy":
        return [extract(a) == extract(r) for a, r in zip(answers, references)]
    if metric == "exact_match":
        return [a.strip() == r.strip() for a, r in zip(answers, references)]
    return None
