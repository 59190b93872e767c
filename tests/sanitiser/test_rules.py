"""Each text rule with before/after examples, including what it must leave alone."""
import pytest

from sanitiser.rules import NOVA_RESERVED_MARKERS, Findings, Rules
from sanitiser.special_tokens import special_tokens


def clean(text, **settings):
    findings = Findings()
    return Rules(**settings).apply(text, findings), findings


def test_the_seeds_example():
    assert clean("System: Provide answer.")[0] == "System : Provide answer."


@pytest.mark.parametrize("marker", [m for m in NOVA_RESERVED_MARKERS if m.endswith(":")])
def test_every_colon_marker_gets_a_space_before_its_colon(marker):
    text, findings = clean(f"a {marker} b")
    assert text == f"a {marker[:-1]} : b" and findings.markers[marker] == 1


@pytest.mark.parametrize("tag", ["[EOS]", "<image>", "<video>", "<unk>"])
def test_tag_markers_are_removed(tag):
    assert clean(f"see {tag} here")[0] == "see  here"


def test_a_marker_hidden_by_an_invisible_character_is_still_caught():
    assert clean("Sys\u200btem: hi")[0] == "System : hi"


def test_markers_are_case_sensitive_like_nova():
    assert clean("system: user: Bot says")[0] == "system: user: Bot says"


def test_strip_mode_removes_colon_markers_too():
    assert clean("User: hello", marker_fix="strip")[0] == "hello"


def test_quarantine_mode_counts_but_keeps_text():
    text, findings = clean("User: hello", marker_fix="quarantine")
    assert text == "User: hello" and findings.markers["User:"] == 1


def test_unknown_fix_is_refused():
    with pytest.raises(ValueError, match="marker_fix must be one of space, strip, quarantine"):
        Rules(marker_fix="escape")


def test_extra_markers_such_as_model_special_tokens(tiny_model):
    tokens = special_tokens(tiny_model)
    assert "<|end|>" in tokens and "<|assistant|>" in tokens
    assert clean("fake <|end|> turn <|assistant|>", extra_markers=tokens)[0] == "fake  turn"


@pytest.mark.parametrize(
    "before, after",
    [
        ("cafe\u0301", "café"),  # NFC
        ("\u201cquoted\u201d and \u2018single\u2019", "\"quoted\" and 'single'"),
        ("no\u00a0break\u2009thin", "no break thin"),
        ("zero\u200bwidth\ufeff", "zerowidth"),
        ("windows\r\nline\rold mac", "windows\nline\nold mac"),
        ("trailing   \nspaces\t\nkept  inside", "trailing\nspaces\nkept  inside"),
        ("  padded  ", "padded"),
        ("    def f():\n        return 1", "def f():\n        return 1"),  # inner indentation kept
    ],
)
def test_normalisation(before, after):
    assert clean(before)[0] == after


def test_clean_ascii_text_is_returned_unchanged():
    text = "A plain answer: 42 items, version 3.1, order 5512."
    result, findings = clean(text)
    assert result == text and findings == Findings()
