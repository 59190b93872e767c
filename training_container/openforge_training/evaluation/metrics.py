"""Scores for the customer's held-out set (BYOD): labels pulled out of free answers, then
exact match, accuracy, macro-F1 (scikit-learn) and, for free text, ROUGE-L (rouge-score)."""
from __future__ import annotations

import re
from collections.abc import Sequence

from ..errors import InputError

BYOD_METRICS = ("accuracy", "exact_match", "macro_f1", "rougeL")


class LabelExtractor:
    """The label in an answer: the first capture group of ``pattern`` (the whole match if
    it has none), else the answer's first line; stripped and lower-cased, so "Billing." and
    "billing" are the same label. A pattern that does not match gives an empty label."""

    def __init__(self, pattern: str = ""):
        try:
            self.pattern = re.compile(pattern) if pattern else None
        except re.error as error:
            raise InputError(f"byod_label_pattern is not a valid regular expression ({error}): {pattern!r}") from None

    def __call__(self, answer: str) -> str:
        if self.pattern is None:
            text = answer.strip().split("\n", 1)[0]
        else:
            match = self.pattern.search(answer)
            if match is None:
                return ""
            text = match.group(1) if match.groups() else match.group(0)
        return text.strip().strip(".!").strip().lower()


def exact_match(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Whole answers equal after stripping surrounding whitespace."""
    _same_length(predictions, references)
    return sum(p.strip() == r.strip() for p, r in zip(predictions, references)) / len(references)


def accuracy(predicted_labels: Sequence[str], reference_labels: Sequence[str]) -> float:
    _same_length(predicted_labels, reference_labels)
    return sum(p == r for p, r in zip(predicted_labels, reference_labels)) / len(reference_labels)


def macro_f1(predicted_labels: Sequence[str], reference_labels: Sequence[str]) -> float:
    """F1 per reference label, averaged with equal weight (a rare label counts as much as a
    common one). A predicted label that is no reference label only costs precision."""
    from sklearn.metrics import f1_score

    _same_length(predicted_labels, reference_labels)
    labels = sorted(set(reference_labels))
    return float(f1_score(list(reference_labels), list(predicted_labels), labels=labels, average="macro", zero_division=0))


def rouge_l(predictions: Sequence[str], references: Sequence[str]) -> float:
    """Mean ROUGE-L F-measure."""
    from rouge_score import rouge_scorer

    _same_length(predictions, references)
    scorer = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=False)
    return sum(scorer.score(r, p)["rougeL"].fmeasure for p, r in zip(predictions, references)) / len(references)


def _same_length(predictions: Sequence, references: Sequence) -> None:
    if not references:
        raise InputError("nothing to score: the held-out set is empty")
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
