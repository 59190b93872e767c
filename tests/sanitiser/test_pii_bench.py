"""The PII benchmark's corpus and scorer (benchmarks/pii.py, synthetic_data/pii_corpus.py):
the corpus is the same for a seed and holds what it claims; the scorer counts a planted value
left in the output as a miss and a changed distractor as a false positive."""
import ipaddress
import re
import unicodedata
from collections import defaultdict

import phonenumbers
import pytest

from benchmarks.pii import Score, bench_settings, item_outputs, outcome, sanitise, score_records, split_affixes
from sanitiser.formats import text_slots, to_messages
from sanitiser.pii import luhn_valid
from synthetic_data.pii_corpus import Field, Item, Sample, corpus
from synthetic_data.pii_forms import DISTRACTORS, KINDS, PII_FORMS, TEMPLATES


def test_same_seed_same_corpus_other_seed_other_corpus():
    assert corpus(40, seed=3) == corpus(40, seed=3)
    assert corpus(40, seed=3) != corpus(40, seed=4)


@pytest.fixture(scope="module")
def samples():
    return corpus(1500, seed=0)


def test_every_kind_form_and_format_is_planted_in_every_field_position(samples):
    items = [(item, sample.format, index) for sample in samples for index, f in enumerate(sample.fields) for item in f.items]
    assert {(i.kind, i.form) for i, _, _ in items if i.planted} == {(k, f) for k in KINDS for f in PII_FORMS[k]}
    assert {(i.kind, i.form) for i, _, _ in items if not i.planted} == {(c, f) for c in DISTRACTORS for f in DISTRACTORS[c]}
    formats = ("messages", "bedrock-conversation-2024", "input-output")
    assert {(fmt, i.kind) for i, fmt, _ in items if i.planted} == {(fmt, k) for fmt in formats for k in KINDS}
    roles = {(m["role"], item.kind) for s in samples if s.format == "messages"
             for m, f in zip(s.record["messages"], s.fields) for item in f.items if item.planted}
    assert roles == {(role, k) for role in ("system", "user", "assistant") for k in KINDS}
    fields = [f for s in samples for f in s.fields if f.items]
    assert any(f.pieces[0] == "" for f in fields) and any(f.pieces[-1] == "" for f in fields)  # an item opens / closes a text
    assert any(len(f.items) >= 3 for f in fields)


def test_records_are_valid_and_their_texts_are_the_fields(samples):
    for sample in samples:
        to_messages(sample.record)
        assert [c[k] for c, k in text_slots(sample.record)] == [f.text for f in sample.fields]


def test_planted_values_are_what_their_kind_claims(samples):
    for item in (i for s in samples for f in s.fields for i in f.items if i.planted):
        plain = unicodedata.normalize("NFKC", item.value)
        digits = "".join(filter(str.isdigit, plain))
        if item.kind == "CREDIT_CARD":
            assert 13 <= len(digits) <= 19 and digits[0] in "23456" and luhn_valid(digits), item
        elif item.kind == "SSN":
            assert len(digits) == 9 and digits[:3] not in ("000", "666") and digits[0] != "9" and digits[3:5] != "00" and digits[5:] != "0000", item
        elif item.kind == "IP_ADDRESS":  # leading zeros ('010.001.002.003') are the same address; ipaddress refuses them
            address = ipaddress.ip_address(".".join(str(int(o)) for o in plain.split(".")) if item.form == "ipv4_leading_zeros" else plain)
            assert not (address.is_loopback or address.is_unspecified), item
        elif item.form.startswith(("national_", "intl_")):
            region = item.form.split("_")[1] if item.form.startswith("national_") else None
            assert phonenumbers.is_valid_number(phonenumbers.parse(plain, region)), item


AFFIXED = {("CREDIT_CARD", "cvv_after"): ("", r" \d{3,4}"), ("CREDIT_CARD", "expiry_after"): ("", r" \d\d/\d\d"),
           ("CREDIT_CARD", "letter_prefix"): (r"[A-Za-z]+", ""), ("SSN", "letter_prefix"): (r"[A-Za-z]+#?", ""),
           ("PHONE", "letter_prefix"): (r"[A-Za-z]+", ""), ("PHONE", "extension"): ("", r"(?:x|ext)\d{1,4}"),
           ("IP_ADDRESS", "letter_prefix"): (r"[A-Za-z]+", ""), ("IP_ADDRESS", "ipv6_colon_after"): ("", ":"),
           ("EMAIL", "comment_after"): ("", r"\((?:home|work)?\)")}


def test_text_around_a_value_is_its_forms_and_never_part_of_a_longer_card(samples):
    items = [i for s in samples for f in s.fields for i in f.items]
    assert {(i.kind, i.form) for i in items if i.head or i.tail} == set(AFFIXED)
    for item in items:
        head, tail = AFFIXED.get((item.kind, item.form), ("", ""))
        assert re.fullmatch(head, item.head) and re.fullmatch(tail, item.tail), item
        assert item.text == item.head + item.value + item.tail and (item.planted or not (item.head or item.tail)), item
        if item.kind == "CREDIT_CARD" and item.tail:  # 'CVV' digits that complete a longer valid card would make it one
            digits = "".join(filter(str.isdigit, item.value + item.tail))
            assert len(digits) > 19 or not luhn_valid(digits), item
        if item.form == "ipv6_colon_after":
            assert not item.value.endswith(":"), item  # '...::' then ':' is no address


MARKS, INVISIBLE = "\u0301\u0332\u20dd", "\ufe0f\u034f\u202e"


def _marked(value: str) -> bool:  # a letter with a mark of its own
    return any(unicodedata.category(c) in ("Mn", "Mc") for c in unicodedata.normalize("NFD", value))


FORM_CHECKS = {  # (kind or class, form): what each of its values holds
    ("CREDIT_CARD", "combining_marks"): lambda v: re.search(rf"\d[{MARKS}]", v),
    ("CREDIT_CARD", "invisible_between_groups"): lambda v: re.search(rf"\d ?[{INVISIBLE}] ?\d", v),
    ("CREDIT_CARD", "tab"): lambda v: "\t" in v, ("SSN", "tab"): lambda v: "\t" in v, ("PHONE", "us_tab"): lambda v: "\t" in v,
    ("SSN", "mixed_separators"): lambda v: re.fullmatch(r"\d{3}([ .-])\d\d(?!\1)[ .-]\d{4}", v),
    ("PHONE", "us_dash_3_7"): lambda v: re.fullmatch(r"\d{3}-\d{7}", v),
    ("IP_ADDRESS", "ipv4_leading_zeros"): lambda v: re.fullmatch(r"(?:\d{1,3}\.){3}\d{1,3}", v) and re.search(r"(?<!\d)0\d", v),
    ("EMAIL", "indic_local"): lambda v: _marked(v) and not v.split("@")[0].isascii(),
    ("EMAIL", "indic_domain"): lambda v: _marked(v) and not v.split("@")[1].isascii(),
    ("EMAIL", "indic_both"): lambda v: _marked(v) and not v.split("@")[0].isascii() and not v.split("@")[1].isascii(),
    ("EMAIL", "combining_marks"): lambda v: _marked(v) and v.split("@")[1].isascii(),
    ("timestamp", "unix seconds"): lambda v: re.fullmatch(r"1\d{9}", v),
    ("digit_sequence", "0123456789"): lambda v: v == "0123456789",
}


def test_the_added_forms_hold_what_they_are_named_for(samples):
    values = defaultdict(list)
    for item in (i for s in samples for f in s.fields for i in f.items):
        values[item.kind, item.form].append(item.value)
    for key, check in FORM_CHECKS.items():
        assert values[key] and all(check(v) for v in values[key]), (key, [v for v in values[key] if not check(v)][:3])
    assert not [v for vs in values.values() for v in vs if "git@" in v]  # reads as an e-mail by design: no distractor


def test_every_phone_template_is_a_valid_number():  # the generator falls back to the template itself
    assert all(phonenumbers.is_valid_number(phonenumbers.parse(t)) for templates in TEMPLATES.values() for t in templates)


def field(*pieces) -> Field:
    return Field(tuple(pieces))


EMAIL = Item("jöhn.smith@example.com", "EMAIL", "unicode_local", True)
PHONE = Item("555-123-4567", "PHONE", "us_dash", True)
CARD = Item("4111 1111 1111 1111", "CREDIT_CARD", "space", True)
ORDER = Item("ORD-2024-118734", "order_number", "ORD-yyyy-n6", False)
VERSION = Item("v2.14.3", "version", "vX.Y.Z", False)
SOURCE = field("Mail ", EMAIL, " or call (", PHONE, ") about ", ORDER, ", card ", CARD, " and ", VERSION, "")


def scored(clean_text: str, source: Field = SOURCE) -> Score:
    return score_records([Sample({"input": source.text, "output": "ok"}, "input-output", (source, field("ok")))],
                         [{"input": clean_text, "output": "ok"}])


def test_item_outputs_reads_what_each_item_became():
    assert item_outputs(SOURCE, SOURCE.text) == [i.value for i in SOURCE.items]
    assert item_outputs(SOURCE, "Mail [EMAIL] or call ([PHONE]) about ORD-2024-118734, card [PHONE] and v2.14.3") == \
        ["[EMAIL]", "[PHONE]", "ORD-2024-118734", "[PHONE]", "v2.14.3"]
    assert item_outputs(SOURCE, "Mail [EMAIL] or call [PHONE] about x, card y and z") is None  # the '(' went with the phone


def test_outcomes():
    assert outcome("EMAIL", "[EMAIL]") == "caught"
    assert outcome("EMAIL", "jöhn[EMAIL]") == "partly"
    assert outcome("CREDIT_CARD", "[CREDIT_CARD]\u0301") == "partly"  # a mark of the value left behind
    assert outcome("CREDIT_CARD", "[PHONE] [PHONE]") == "wrong_kind"
    assert outcome("PHONE", "+[CREDIT_CARD]") == "wrong_kind"
    assert outcome("PHONE", "555\u2011123\u20114567") == "missed"


def test_a_planted_value_left_in_the_output_is_a_miss_and_a_scrubbed_distractor_a_false_positive():
    score = scored("Mail jöhn[EMAIL] or call (555-123-4567) about [PHONE], card [PHONE] and [IP_ADDRESS]")
    assert score.planted["EMAIL", "unicode_local"] == {"partly": 1}
    assert score.planted["PHONE", "us_dash"] == {"missed": 1}
    assert score.planted["CREDIT_CARD", "space"] == {"wrong_kind": 1}
    assert score.distractors["order_number", "ORD-yyyy-n6"] == {"changed": 1}
    assert score.distractors["version", "vX.Y.Z"] == {"changed": 1}
    assert score.recall("EMAIL") == score.recall("PHONE") == score.recall("CREDIT_CARD") == 0
    assert sum(score.placeholders.values()) == 4 and sum(score.on_pii.values()) == 2 and score.precision() == 0.5


def test_everything_caught_and_kept_scores_full_marks():
    score = scored("Mail [EMAIL] or call ([PHONE]) about ORD-2024-118734, card [CREDIT_CARD] and v2.14.3")
    assert all(score.recall(kind) == 1 for kind in ("EMAIL", "PHONE", "CREDIT_CARD")) and score.precision() == 1
    assert all(counts == {"survived": 1} for counts in score.distractors.values())


def test_a_field_whose_anchors_moved_is_scored_by_presence():
    score = scored("Mail [EMAIL] or call [PHONE] about ORD-2024-118734 card 4111 1111 1111 1111 and v2.14.3")
    assert score.misaligned_fields == 1
    assert score.planted["EMAIL", "unicode_local"] == {"misplaced": 1} and score.planted["CREDIT_CARD", "space"] == {"missed": 1}
    assert all(counts == {"survived": 1} for counts in score.distractors.values())
    assert score.precision() == 1


PREFIXED = Item("4111111111111111", "CREDIT_CARD", "letter_prefix", True, head="CC")
CVV = Item("4111 1111 1111 1111", "CREDIT_CARD", "cvv_after", True, tail=" 123")
AFFIXED_SOURCE = field("Card ", PREFIXED, " or ", CVV, " please")


def test_text_around_a_value_is_scored_as_a_distractor_and_the_value_on_what_is_between():
    assert split_affixes(CVV, "[CREDIT_CARD] 123") == ("[CREDIT_CARD]", {"CREDIT_CARD cvv_after tail": True})
    assert split_affixes(PREFIXED, "[CREDIT_CARD]") == ("[CREDIT_CARD]", {"CREDIT_CARD letter_prefix head": False})
    score = scored("Card CC[CREDIT_CARD] or [CREDIT_CARD] 123 please", AFFIXED_SOURCE)
    assert score.recall("CREDIT_CARD") == 1 and score.precision() == 1
    assert score.distractors["affix", "CREDIT_CARD letter_prefix head"] == score.distractors["affix", "CREDIT_CARD cvv_after tail"] == {"survived": 1}
    score = scored("Card [CREDIT_CARD] or [CREDIT_CARD] please", AFFIXED_SOURCE)  # the prefix and the CVV went with the cards
    assert score.recall("CREDIT_CARD") == 1
    assert score.distractors["affix", "CREDIT_CARD letter_prefix head"] == score.distractors["affix", "CREDIT_CARD cvv_after tail"] == {"changed": 1}
    score = scored("Card CC[CREDIT_CARD] or 4111 1111 1111 1111 123 please", AFFIXED_SOURCE)
    assert score.planted["CREDIT_CARD", "cvv_after"] == {"missed": 1} and score.distractors["affix", "CREDIT_CARD cvv_after tail"] == {"survived": 1}
    score = scored("Card CC[CREDIT_CARD]or [CREDIT_CARD] 123 please", AFFIXED_SOURCE)  # ' or ' is gone: scored by presence
    assert score.misaligned_fields == 1 and all(c == {"survived": 1} for (cls, _), c in score.distractors.items() if cls == "affix")


def test_sanitise_gives_each_sample_its_clean_record_or_none():
    samples = corpus(20, seed=1)
    bad = Sample({"input": "", "output": "ok"}, "input-output", (field(""), field("ok")))
    clean, sink = sanitise(samples[:10] + [bad] + samples[10:], bench_settings())
    assert clean[10] is None and [q["line"] for q in sink.quarantined] == [11]
    assert all(record is not None for record in clean[:10] + clean[11:])
    assert score_records(samples[:10] + [bad] + samples[10:], clean).missing_records == 1
