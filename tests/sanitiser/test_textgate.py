"""The text gate lets a text skip the rules only where they would change nothing."""
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.rules import RULES, Findings, Rules
from sanitiser.textgate import TextGate

PIECES = ["System:", "User:", "[EOS]", "<image>", "<|end|>", "\u201c", "\u00a0", "\u200b", "\u2028", "\r", "\n", " \n", "\t\n", " ", "\t",
          "a@b.io", "x@", "@y.com", "555-123-4567", "4111 1111 1111 1111", "123-45-6789", "10.0.0.1", "5\u0665\u0665-123-4567",
          "\uff15\uff15\uff15-123-4567", "e\u0301", "caf\u00e9", "\u65e5\u672c", "Sys", "tem:", "12", "(555) 123", "plain words",
          # the PII view's forms: soft hyphens, non-breaking hyphens and en dashes, full-width '@' and digits, IDN, IPv6
          "4111\u00ad1111\u00ad1111\u00ad1111", "555\u2011123\u20114567", "555\u2013123", "john\uff20example.com", "j\u00f6@b\u00fccher.de",
          "\u00ad", "\u2011", "\uff10", "\uff20", "2001:db8::8a2e:370:7334", "fe80::1", "::", "+44 20 7946 0958", "0", "/", "4111/1111/",
          "\u0301", "\u20dd", "\u093e", "4\u0301", "\ufe0f"]
texts = st.lists(st.sampled_from(PIECES) | st.text(max_size=8), max_size=8).map("".join)
rule_settings = st.fixed_dictionaries({
    "marker_fix": st.sampled_from(["space", "strip", "quarantine"]), "scrub_pii": st.booleans(), "normalise": st.booleans(),
    "extra_markers": st.sampled_from([(), ("<|end|>",), ("5-1",)]),
})


@settings(max_examples=500, deadline=None)
@given(batch=st.lists(texts, max_size=12), options=rule_settings)
def test_a_text_the_gate_lets_skip_is_one_the_rules_leave_alone(batch, options):
    rules = Rules(**options)
    for text, needed in zip(batch, TextGate(rules).rules_needed(batch), strict=True):
        for line_rules in (RULES, frozenset({"markers"}), frozenset({"pii"}), frozenset({"normalise"})):
            everything, narrowed = Findings(), Findings()
            expected = rules.apply(text, everything, line_rules)
            assert (rules.apply(text, narrowed, line_rules & needed) if needed else text) == expected, text
            assert narrowed == everything, text


def test_texts_get_the_rules_they_need():
    batch = ["fine text", "System: hi", "mail a@b.io", "call 555-123-4567", "caf\u00e9", "cafe\u0301", " padded", "x\r\ny", "\uff11 5\u0665\u0665-123-4567"]
    pii, everything, normalise = frozenset({"pii", "normalise"}), frozenset({"markers", "pii", "normalise"}), frozenset({"normalise"})
    assert TextGate(Rules()).rules_needed(batch) == [frozenset(), everything, pii, pii, frozenset(), everything, normalise, normalise, pii]
