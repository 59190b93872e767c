"""Each text rule with before/after examples, including what it must leave alone."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.rules import NOVA_RESERVED_MARKERS, Findings, Rules, luhn_valid
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


@pytest.mark.parametrize(
    "before, after, kind",
    [
        ("write to jane.doe+tag@mail.example.co.uk today", "write to [EMAIL] today", "EMAIL"),
        ("call (555) 123-4567 or +44 20 7946 0958", "call [PHONE] or +44 20 7946 0958", "PHONE"),
        ("call 555-123-4567.", "call [PHONE].", "PHONE"),
        ("card 4111 1111 1111 1111 ok", "card [CREDIT_CARD] ok", "CREDIT_CARD"),
        ("card 4111-1111-1111-1111", "card [CREDIT_CARD]", "CREDIT_CARD"),
        ("ssn 123-45-6789", "ssn [SSN]", "SSN"),
        ("from 10.0.0.255 to host", "from [IP_ADDRESS] to host", "IP_ADDRESS"),
    ],
)
def test_pii_is_scrubbed(before, after, kind):
    text, findings = clean(before)
    assert text == after and findings.pii[kind] >= 1


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "ssn 000-12-3456 and 666-12-3456 are never issued",
        "ip 999.1.1.1 is not an address",
        "order 12345678, invoice 2024-01-15, qty 1000000",
        "no email at all @ here",
    ],
)
def test_things_that_only_look_like_pii_are_left(text):
    assert clean(text)[0] == text


def test_pii_scrubbing_can_be_off():
    assert clean("a@b.io", scrub_pii=False)[0] == "a@b.io"


def test_luhn():
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713") and not luhn_valid("79927398710")


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from sanitiser.rules import EMAIL, NUMERIC_PII  # noqa: E402

pii_like = st.lists(st.sampled_from(["4111 1111 1111 1111", "555-123-4567", "(555) 123-4567", "+1 555.123.4567", "123-45-6789", "10.0.0.1",
                                     "1.1.1.1", "12345678", "a@b.io", "x.y+z@mail.example.org", "@", " ", "-", ".", "(", ")", "+", "word", "9", "07"]),
                    max_size=14).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=pii_like)
def test_windowed_scrubbing_equals_one_regex_over_the_whole_text(text):
    import re

    rules = Rules(normalise=False)
    reference = NUMERIC_PII.sub(lambda m: Rules._scrub(m, Findings()), re.sub(EMAIL, "[EMAIL]", text))
    assert rules.apply(text, Findings()) == reference


@settings(max_examples=300, deadline=None)
@given(text=st.lists(st.sampled_from(["555-123-4567", "(555) 123-4567", "+1 555.123.4567", "4111 1111 1111 1111", "123-45-6789", "10.0.0.1",
                                      "999.1.1.1", "_5", "a", " ", "-", ".", "(", "+", "\n", "0", "9"]) | st.text(alphabet=st.characters(max_codepoint=127), max_size=5),
                     max_size=12).map("".join))
def test_the_ascii_patterns_match_exactly_what_the_unicode_ones_do_on_ascii_text(text):
    from sanitiser.rules import ASCII_NUMERIC_PII, ASCII_NUMERIC_TRIGGER, NUMERIC_PII, NUMERIC_TRIGGER

    for ascii_pattern, pattern in ((ASCII_NUMERIC_TRIGGER, NUMERIC_TRIGGER), (ASCII_NUMERIC_PII, NUMERIC_PII)):
        assert [(m.span(), m.lastgroup) for m in ascii_pattern.finditer(text)] == [(m.span(), m.lastgroup) for m in pattern.finditer(text)]
