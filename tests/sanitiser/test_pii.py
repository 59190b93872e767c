"""PII found on the normalised view of a text and replaced where it stands in the original;
each evasion the issue reproduced, and what only looks like PII, left alone."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.pii import PATTERNS, PiiScrubber, card_at, luhn_valid
from sanitiser.pii_view import View, view_of_char
from sanitiser.rules import Findings, Rules
from sanitiser.settings import SettingsError, user_settings


def clean(text, **options):
    findings = Findings()
    return Rules(normalise=False, **options).apply(text, findings), findings


@pytest.mark.parametrize(
    "before, after, kind",
    [
        ("write to jane.doe+tag@mail.example.co.uk today", "write to [EMAIL] today", "EMAIL"),
        ("call (555) 123-4567 or +44 20 7946 0958", "call [PHONE] or [PHONE]", "PHONE"),
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


# The list and more forms of it: all but five reached the clean output before the view (those five guard forms that did not).
@pytest.mark.parametrize(
    "before, after, kind",
    [
        ("card 4111\u00ad1111\u00ad1111\u00ad1111 ok", "card [CREDIT_CARD] ok", "CREDIT_CARD"),  # soft hyphens
        ("card 4111.1111.1111.1111", "card [CREDIT_CARD]", "CREDIT_CARD"),
        ("card 4111/1111/1111/1111", "card [CREDIT_CARD]", "CREDIT_CARD"),
        ("card 4111 - 1111 - 1111 - 1111!", "card [CREDIT_CARD]!", "CREDIT_CARD"),
        ("card 4111\u00a01111\u00a01111\u00a01111", "card [CREDIT_CARD]", "CREDIT_CARD"),
        ("card 3782 822463 10005", "card [CREDIT_CARD]", "CREDIT_CARD"),  # Amex 4-6-5
        ("card \uff14\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11 \uff11\uff11\uff11\uff11", "card [CREDIT_CARD]", "CREDIT_CARD"),
        ("mail john\uff20example.com now", "mail [EMAIL] now", "EMAIL"),  # full-width @
        ("\uff4a\uff4f\uff48\uff4e\uff20\uff45\uff58\uff41\uff4d\uff50\uff4c\uff45\uff0e\uff43\uff4f\uff4d", "[EMAIL]", "EMAIL"),  # all full-width
        ("to user@b\u00fccher.de!", "to [EMAIL]!", "EMAIL"),  # IDN domain
        ("to \u043f\u0440\u0438\u043c\u0435\u0440@\u043f\u043e\u0447\u0442\u0430.\u0440\u0444", "to [EMAIL]", "EMAIL"),
        ("hi j\u00f6hn.smith@example.com", "hi [EMAIL]", "EMAIL"),  # was scrubbed to 'j\u00f6hn[EMAIL]'
        ("hi john_smith@example.com", "hi [EMAIL]", "EMAIL"),
        ("hi o'brien@example.com", "hi [EMAIL]", "EMAIL"),
        ("jo\u00adhn@exam\u00adple.com", "[EMAIL]", "EMAIL"),
        ("card 4111\ufe0f1111\u034f1111\u202e1111\U000e0041 ok", "card [CREDIT_CARD] ok", "CREDIT_CARD"),  # invisible: selectors, CGJ, bidi, a tag after it
        ("card 4\u0301111 1111 1111 111\u20dd1 ok", "card [CREDIT_CARD] ok", "CREDIT_CARD"),  # combining marks on digits
        ("card 4111 1111 1111 1111\u0332, ok", "card [CREDIT_CARD], ok", "CREDIT_CARD"),  # on the last one too
        ("mail jos\u00e9@exa\u0308mple.com", "mail [EMAIL]", "EMAIL"),  # a mark on a letter is part of the word
        ("mail jose@\u0301example.com", "mail [EMAIL]", "EMAIL"),
        ("call 555\u2011123\u20114567", "call [PHONE]", "PHONE"),  # non-breaking hyphens
        ("call 555\u2013123\u20134567", "call [PHONE]", "PHONE"),  # en dashes
        ("call (555)123-4567", "call [PHONE]", "PHONE"),
        ("call 5551234567 today", "call [PHONE] today", "PHONE"),
        ("call +44 20 7946 0958", "call [PHONE]", "PHONE"),  # UK
        ("ruf +49 30 901820 an", "ruf [PHONE] an", "PHONE"),  # DE
        ("appelez +33 1 42 68 53 00", "appelez [PHONE]", "PHONE"),  # FR
        ("call \uff15\uff15\uff15-\uff11\uff12\uff13-\uff14\uff15\uff16\uff17", "call [PHONE]", "PHONE"),
        ("ssn 123 45 6789", "ssn [SSN]", "SSN"),
        ("ssn 123.45.6789", "ssn [SSN]", "SSN"),
        ("from 2001:db8::8a2e:370:7334 ok", "from [IP_ADDRESS] ok", "IP_ADDRESS"),
        ("from 2001:0db8:85a3:0000:0000:8a2e:0370:7334.", "from [IP_ADDRESS].", "IP_ADDRESS"),
        ("via ::ffff:192.0.2.128 ok", "via [IP_ADDRESS] ok", "IP_ADDRESS"),
        ("link [fe80::1ff:fe23:4567:890a]:8080", "link [[IP_ADDRESS]]:8080", "IP_ADDRESS"),
    ],
)
def test_evasions_of_the_old_patterns_are_caught(before, after, kind):
    text, findings = clean(before)
    assert text == after and findings.pii[kind] >= 1


@pytest.mark.parametrize(
    "before, after",
    [
        ("login (555 845 5298) now", "login ([PHONE]) now"),  # libphonenumber takes the '(' as the number's
        ("at [+34 912 34 97 80]!", "at [[PHONE]]!"),
        ("e164 +4915123459641 ok", "e164 [PHONE] ok"),  # 14 digits that pass Luhn: a + says phone, not card
    ],
)
def test_a_phone_is_replaced_without_its_brackets_and_not_as_a_card(before, after):
    assert clean(before)[0] == after


@pytest.mark.parametrize("text", ["on 09.15.2010 it shipped", "zip 49693-3966", "ticket 030901820"])
def test_what_is_valid_in_a_national_plan_but_not_written_as_a_phone_is_left(text):
    assert clean(text, phone_regions=("US", "GB", "DE"))[0] == text


def test_national_numbers_of_the_regions_asked_for():
    assert clean("ring 020 7946 0958")[0] == "ring 020 7946 0958"  # default: US formats only
    assert clean("ring 020 7946 0958", phone_regions=("US", "GB"))[0] == "ring [PHONE]"
    assert clean("ruf 030 901820 an", phone_regions=("DE",))[0] == "ruf [PHONE] an"


def test_an_unknown_phone_region_is_refused_by_name():
    with pytest.raises(SettingsError, match="'XX'"):
        user_settings({"phone_regions": ["US", "XX"]})
    with pytest.raises(ValueError, match="'UK'"):
        Rules(phone_regions=("UK",))
    assert user_settings({"phone_regions": ["US", "GB"]}) == {"phone_regions": ("US", "GB")}


@pytest.mark.parametrize(
    "text",
    [
        "card 4111 1111 1111 1112 fails Luhn",
        "ssn 000-12-3456 and 666-12-3456 are never issued",
        "ip 999.1.1.1 is not an address",
        "order 12345678, invoice 2024-01-15, qty 1000000",
        "no email at all @ here",
        "v2.14.3, Python 3.11.7, $1,299.99, 1.299,00 \u20ac, \u20ac49.95",
        "on 15/03/2024 at 10:45:30, or 03.15.2024",
        "ORD-2024-118734, #A-48213, order 100234, ticket 482139775",
        "ISBN 978-3-16-148410-0, zip 94105-1234, INV-2024-00123",
        "std::vector<int> and a::b::c, ::1 and :: are not anyone's",
        "MAC 00:1a:2b:3c:4d:5e, time 12:30:45",
        "range 2024-03-15 - 2024-04-01",
    ],
)
def test_things_that_only_look_like_pii_are_left(text):
    assert clean(text)[0] == text


def test_the_replacement_lands_where_the_pii_stood_in_the_original():
    # characters outside the match, the view's changes included, stay as they were, but for
    # what the view removed straight after it (a mark on its last digit, a soft hyphen)
    before = "\u00ad\uff21 call 555\u2011123\u20114567\u00ad \u2013 ok\u200b"
    assert clean(before)[0] == "\u00ad\uff21 call [PHONE] \u2013 ok\u200b"


def test_pii_scrubbing_can_be_off():
    assert clean("a@b.io", scrub_pii=False)[0] == "a@b.io"


def test_luhn_and_card_layouts():
    assert luhn_valid("4111111111111111") and luhn_valid("79927398713") and not luhn_valid("79927398710")
    def whole_card(written: str) -> bool:
        return card_at(written, 0, len(written), False) == len(written)

    assert whole_card("4111 1111 1111 1111") and whole_card("378282246310005") and whole_card("3782-822463-10005")
    assert not whole_card("41 1111 1111 1111 11")  # Luhn-valid, but no card is printed so


tricky = ["\u00ad", "\u200b", "\u2011", "\u2013", "\u2212", "\u00a0", "\u3000", "\uff10", "\uff15", "\uff20", "\uff0e", "\uff41", "\u0663", "\u00bd",
          "\u2460", "\U0001d7ce", "\U000e0041", "\ufe0f", "\u034f", "\U000e0100", "\u3164", "\u0301", "\u20dd", "\u093e", "\u0915", "a", "5", "@", "-", " ", ".", ":", "\u00e9", "\u65e5"]
tricky_text = st.lists(st.sampled_from(tricky) | st.text(max_size=3), max_size=20).map("".join)


def expected_view(text: str) -> list[tuple[str, int]]:
    """The view's definition, one character at a time: (what each source character became, its index)."""
    import unicodedata

    pieces, last = [], ""
    for index, char in enumerate(text):
        mapped = view_of_char(char) if not char.isascii() else None
        if mapped is None and unicodedata.category(char) in ("Mn", "Mc", "Me") and last and " " <= last <= "~":
            mapped = ""  # a combining mark on printable ASCII
        piece = char if mapped is None else mapped
        pieces.append((piece, index))
        last = piece[-1:] or last
    return pieces


@settings(max_examples=500, deadline=None)
@given(text=tricky_text)
def test_the_view_is_each_character_as_it_stands_and_maps_back_to_it(text):
    view = View(text)
    expected = expected_view(text)
    assert view.text == "".join(piece for piece, _ in expected)
    sources = [index for piece, index in expected for _ in piece]  # the source character behind each view character
    for start in range(len(view.text)):
        for end in range(start + 1, min(len(view.text), start + 4) + 1):
            following = sources[end] if end < len(sources) else len(text)  # and the removed characters after it
            assert view.source_span(start, end) == (sources[start], max(sources[end - 1] + 1, following))


pii_like = st.lists(st.sampled_from(["4111 1111 1111 1111", "4111\u00ad1111", "555-123-4567", "(555) 123-4567", "+1 555.123.4567", "123-45-6789",
                                     "123 45 6789", "10.0.0.1", "1.1.1.1", "12345678", "a@b.io", "x.y+z@mail.example.org", "2001:db8::1", "@", " ",
                                     "-", " - ", ".", "/", "(", ")", "+", ":", "::", "word", "9", "07", "\u2011", "\uff15", "\u00e9"]),
                    max_size=14).map("".join)


@settings(max_examples=500, deadline=None)
@given(text=pii_like)
def test_looking_only_around_digit_runs_finds_what_looking_everywhere_does(text):
    scrubber = PiiScrubber()
    seen = View(text).text
    which = not seen.isascii()
    runs = [run.span() for run in PATTERNS["digit_run"][which].finditer(seen)]
    if runs:
        assert scrubber._numbers(seen, which, runs, []) == scrubber._numbers(seen, which, [(0, len(seen))], [])


@settings(max_examples=300, deadline=None)
@given(text=pii_like)
def test_the_ascii_patterns_match_exactly_what_the_unicode_ones_do_on_ascii_text(text):
    if text.isascii():
        for ascii_pattern, pattern in PATTERNS.values():
            assert [m.span() for m in ascii_pattern.finditer(text)] == [m.span() for m in pattern.finditer(text)]


def test_the_byte_patterns_the_hyperscan_passes_use_match_what_the_view_changes_and_every_mark():
    import re
    import sys

    import unicodedata

    from sanitiser.pii_view import PLANES_WITH_THEM, WHOLE_BLOCKS, changed_utf8, marks_utf8

    changes = view_of_char.__wrapped__  # uncached: every code point once
    changed, marks = re.compile(changed_utf8()), re.compile(marks_utf8())
    scanned = {code for plane in PLANES_WITH_THEM for code in plane}
    for code in range(0x80, sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue  # surrogates: no UTF-8 form, and never in decoded JSON text but escaped, which the prefilter flags
        char, whole = chr(code), any(first <= code <= last for first, last in WHOLE_BLOCKS)
        if code in scanned:
            assert (changed.fullmatch(char.encode()) is not None) == (changes(char) is not None or whole), hex(code)
            if unicodedata.category(char) in ("Mn", "Mc", "Me"):
                # every mark (a superset: whole blocks); a default-ignorable one is among the changed
                assert marks.fullmatch(char.encode()) is not None or changes(char) is not None, hex(code)
        else:
            assert changes(char) is None and unicodedata.category(char) not in ("Mn", "Mc", "Me"), f"{code:#x} is outside the planes scanned"


# What the review of this change found (each wrote PII or a marker to the clean output before its fix).
@pytest.mark.parametrize(
    "before, after",
    [
        ("pay with 4111 1111 1111 1111 123", "pay with [CREDIT_CARD] 123"),  # a CVV after the card made it one long non-card
        ("pay 5500 0000 0000 0004 12/27", "pay [CREDIT_CARD] 12/27"),
        ("cards 4111111111111111/12 and 4111111111111111 12 25", "cards [CREDIT_CARD]/12 and [CREDIT_CARD] 12 25"),
        ("CC4111111111111111 and acct_4111111111111111", "CC[CREDIT_CARD] and acct_[CREDIT_CARD]"),
        ("SSN123-45-6789, tel555-123-4567x89", "SSN[SSN], tel[PHONE]x89"),
        ("ssn 123-45 6789, call 555-1234567", "ssn [SSN], call [PHONE]"),
        ("4111\t1111\t1111\t1111 and 555\t123\t4567", "[CREDIT_CARD] and [PHONE]"),
        ("from v192.168.1.1 and 010.001.002.003", "from v[IP_ADDRESS] and [IP_ADDRESS]"),
        ("ip2001:db8::1: blocked", "ip[IP_ADDRESS]: blocked"),
        ("mail \u0938\u0902\u092a\u0930\u094d\u0915@\u0921\u093e\u091f\u093e\u092e\u0947\u0932.\u092d\u093e\u0930\u0924 now", "mail [EMAIL] now"),
        ("mail john.\u1ecd\u0300la@example.com", "mail [EMAIL]"),
        ("mail john@example.com(home) or me@corp.com()", "mail [EMAIL](home) or [EMAIL]()"),  # a '(' after it no longer hides it
    ],
)
def test_what_the_review_found_is_caught(before, after):
    assert clean(before)[0] == after


@pytest.mark.parametrize("text", ["ts 1700000000 and 1000000000, 0123456789", "range 100-200-3000, dims (128) 256-1024",
                                  "a[1::2], arr[::2], 2000:1000::, dead::beef"])
def test_what_the_review_found_scrubbed_wrongly_is_left(text):
    assert clean(text)[0] == text


@pytest.mark.parametrize(
    "line, extra_markers",
    [
        (b'{"input": "mail john<image>@example.com", "output": "ok"}', ()),  # the prefilter saw a marker only
        (b'{"input": "call 555-12<image>3-4567 or ssn 123-4[EOS]5-6789", "output": "ok"}', ()),
        (b'{"input": "hello <\\/s> world", "output": "ok"}', ("</s>",)),  # JSON may escape '/'
        (b'{"input": "a <ima<image>ge> b and Sys<image>tem: hi", "output": "ok"}', ()),  # a marker left by removing one
        ('{"input": "[MAS\u212aK] hello there", "output": "ok"}'.encode(), ("[MASK]",)),  # NFC makes KELVIN SIGN a K: a marker
    ],
)
def test_a_marker_fixed_leaves_neither_pii_nor_a_marker_and_the_fast_path_agrees(line, extra_markers):
    from sanitiser.core import Settings
    from tests.sanitiser.conftest import sanitise

    _, fast = sanitise(line + b"\n", Settings(extra_markers=extra_markers))
    _, slow = sanitise(line + b"\n", Settings(extra_markers=extra_markers, fast_path=False))
    assert fast.clean_lines == slow.clean_lines
    _, again = sanitise(fast.clean_lines[0] + b"\n", Settings(extra_markers=extra_markers))
    assert again.clean_lines == fast.clean_lines  # nothing left for a second pass
    for leftover in (b"john", b"4567", b"6789", b"<image>", b"</s>", b"<\\/s>", b"System:", b"[MASK]"):
        assert leftover not in fast.clean_lines[0]


def test_a_marker_its_own_fix_contains_does_not_loop():
    findings = Findings()
    assert Rules(extra_markers=(":",)).apply("x : y", findings) == "x  : y" and findings.markers[":"] == 1  # 'space' fix: once
