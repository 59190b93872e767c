"""Each metric against cases worked out by hand, including IFEval checks that must fail."""
import pytest

from openforge_training.errors import InputError
from openforge_training.evaluation.metrics import LabelExtractor, accuracy, exact_match, macro_f1, rouge_l


def test_labels_come_from_the_first_line_or_the_pattern_and_are_normalised():
    assert LabelExtractor()("  Billing.\nBecause the card was charged twice") == "billing"
    extract = LabelExtractor(r"Label:\s*(\w+)")
    assert extract("I think... Label: Refund (confident)") == "refund"
    assert extract("no label here") == ""
    assert LabelExtractor(r"\b(yes|no)\b")("Well, NO.") == ""  # case-sensitive unless the pattern says otherwise
    with pytest.raises(InputError, match="not a valid regular expression"):
        LabelExtractor("(unclosed")


def test_exact_match_and_accuracy():
    assert exact_match([" billing ", "Refund", "login"], ["billing", "refund", "login"]) == pytest.approx(2 / 3)
    assert accuracy(["billing", "refund", "x", "login"], ["billing", "refund", "login", "login"]) == 0.75


def test_macro_f1_weighs_every_label_the_same():
    references = ["a", "a", "a", "a", "b"]
    predictions = ["a", "a", "a", "a", "a"]
    # a: precision 4/5, recall 1 -> F1 8/9; b: never predicted -> F1 0; macro = 4/9 (accuracy would say 0.8)
    assert macro_f1(predictions, references) == pytest.approx(4 / 9)
    # a label only the model invents costs precision, but is not averaged in itself
    assert macro_f1(["a", "zzz"], ["a", "b"]) == pytest.approx((1 + 0) / 2)


def test_rouge_l_is_the_longest_common_subsequence_f_measure():
    # LCS("the cat sat", "the cat sat down") = 3 words: precision 3/3, recall 3/4 -> F = 6/7
    assert rouge_l(["the cat sat"], ["the cat sat down"]) == pytest.approx(6 / 7)
    assert rouge_l(["dogs bark"], ["cats purr"]) == 0.0


def test_an_empty_held_out_set_is_refused():
    with pytest.raises(InputError, match="held-out set is empty"):
        accuracy([], [])


@pytest.fixture(scope="module")
def ifeval_utils():
    from openforge_training.evaluation.harness import refuse_downloads

    refuse_downloads()
    from lm_eval.tasks.ifeval import utils

    return utils


@pytest.mark.parametrize(
    "response, strict, loose, per_instruction",
    [
        ("red blue. Any other questions?", True, True, [True, True]),
        ("red, blue. Any other questions?", False, False, [False, True]),  # a comma: the first check fails
        ("red blue. Any other questions?\nThanks", False, True, [True, False]),  # not the last words; loose drops a last line
        ("**red blue. Any other questions?**", False, True, [True, False]),  # only loose forgives markdown
        ("", False, False, [False, False]),
    ],
)
def test_ifeval_strict_and_loose_by_hand(ifeval_utils, response, strict, loose, per_instruction):
    doc = {"key": 1, "prompt": "Name two colours without commas, and end with 'Any other questions?'",
           "instruction_id_list": ["punctuation:no_comma", "startend:end_checker"], "kwargs": [{}, {"end_phrase": "Any other questions?"}]}
    result = ifeval_utils.process_results(doc, [response])
    assert result["prompt_level_strict_acc"] is strict and result["prompt_level_loose_acc"] is loose
    assert result["inst_level_strict_acc"] == per_instruction


def test_mmlu_files_are_read_as_text_whatever_their_options_look_like(tmp_path):
    """A dev file whose options are all numbers next to a test file of words: read as
    integers, the two splits would not fit one schema (and "07" would lose its zero)."""
    import csv

    from datasets import load_dataset

    from openforge_training.evaluation.harness import mmlu_task
    from openforge_training.evaluation.layout import MMLU_DIR

    rows = {"dev": [["What is 3 + 4?", "07", "8", "9", "6", "A"]], "test": [["Which is a colour?", "yellow", "12", "fox", "Pellin", "A"]]}
    for split, split_rows in rows.items():
        path = tmp_path / MMLU_DIR / split / f"mixed_{split}.csv"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "w", newline="") as handle:
            csv.writer(handle).writerows(split_rows)
    dataset = load_dataset("csv", **mmlu_task(tmp_path, "mixed", shots=1)["dataset_kwargs"])
    assert dataset["dev"][0]["A"] == "07" and dataset["test"][0]["A"] == "yellow"
