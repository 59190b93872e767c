"""The text the PII rules read, and the way back to the text they change.

Written PII hides behind characters that look the same or nothing at all: a soft hyphen
inside a card number, '＠' for '@', full-width digits, a non-breaking hyphen or an en dash
in a phone number, a zero-width space anywhere. The rules match on a *view* of each text in
which every such character is what it stands for:

- format characters (Unicode category Cf: soft hyphen, zero-width marks, bidi controls, tags)
  and every other default-ignorable code point (variation selectors, fillers) are removed;
- every separator (Zs, Zl, Zp) is a space; every dash (Pd, and U+2212 MINUS SIGN) is '-';
- a decimal digit of any script (Nd) is its ASCII digit;
- any other character whose compatibility form (NFKC) holds an ASCII letter or digit or
  one of ``@ : . + ( ) / -`` is that form ('＠' -> '@', '５' -> '5', '①' -> '1');
- a combining mark on printable ASCII (or on what the view made it) is removed: '4\u0301111'
  hides a card number as well as a soft hyphen does; a mark on a letter of another script
  stays part of its word (and normalisation's NFC composes accented Latin letters first).

Every other character is itself, so an ASCII text, or one with none of these characters, is
its own view at no cost. A match in the view maps back to the characters it covers in the
original text (``View.source_span``), so the replacement lands on exactly those, including
removed characters inside it, and nothing else of the text changes.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from functools import cache

# Unicode's Default_Ignorable_Code_Point (DerivedCoreProperties.txt): characters that render
# as nothing, format characters (Cf) among them but also variation selectors, the combining
# grapheme joiner, Hangul fillers and unassigned code points kept for more.
DEFAULT_IGNORABLE = ((0x00AD, 0x00AD), (0x034F, 0x034F), (0x061C, 0x061C), (0x115F, 0x1160), (0x17B4, 0x17B5), (0x180B, 0x180F),
                     (0x200B, 0x200F), (0x202A, 0x202E), (0x2060, 0x206F), (0x3164, 0x3164), (0xFE00, 0xFE0F), (0xFEFF, 0xFEFF),
                     (0xFFA0, 0xFFA0), (0xFFF0, 0xFFF8), (0x1BCA0, 0x1BCA3), (0x1D173, 0x1D17A), (0xE0000, 0xE0FFF))
DASH_EXTRAS = "\u2212"  # MINUS SIGN is Sm, not Pd, but stands between digit groups as often as a hyphen
MARKS = ("Mn", "Mc", "Me")
MARKED = frozenset(map(chr, range(0x20, 0x7F)))  # a combining mark on one of these (printable ASCII) is dropped from the view
STANDS_FOR = frozenset("0123456789@:.+()/-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@cache
def view_of_char(char: str) -> str | None:
    """What a non-ASCII character is in the view, or None where it is itself (cached: a
    text has few distinct characters and Unicode's tables are slow to ask)."""
    category = unicodedata.category(char)
    if category == "Cf" or any(low <= ord(char) <= high for low, high in DEFAULT_IGNORABLE):
        return ""
    if category[0] == "Z":  # space, line and paragraph separators
        return " "
    if category == "Pd" or char in DASH_EXTRAS:
        return "-"
    if category == "Nd":
        return str(unicodedata.decimal(char))
    compatible = unicodedata.normalize("NFKC", char)
    if compatible != char and not STANDS_FOR.isdisjoint(compatible):
        return compatible
    return None


# Unicode assigns every character the view changes in these planes (a test checks the
# rest): scanning them takes ~65 ms, once per process, where all of Unicode takes ~1.4 s.
PLANES_WITH_THEM = (range(0x80, 0x20000), range(0xE0000, 0xE1000))


@cache
def changed_utf8() -> bytes:
    """A byte pattern matching the UTF-8 form of every character the view changes (and the
    rest of WHOLE_BLOCKS), for the Hyperscan passes over raw lines and texts (prefilter.py,
    textgate.py): a text without one is its own view."""
    view_of = view_of_char.__wrapped__  # uncached: 130,000 characters asked once
    ranges = _ranges([code for plane in PLANES_WITH_THEM for code in plane if _may_change(code) and view_of(chr(code)) is not None])
    return _utf8_pattern(_coarse(ranges))


# Scripts where nearly every line holds a character the view changes or a combining mark
# (Indic and South-East Asian vowel signs, other scripts' digits; historic scripts and
# mathematical letters in plane 1, emoji excluded): the byte patterns take these blocks whole.
# A superset flags no line that matters more, and Hyperscan compiles the patterns in ~0.04 s
# instead of ~0.4 s (a Lambda's cold start).
WHOLE_BLOCKS = ((0x0900, 0x109F), (0x1700, 0x1CFF), (0xA800, 0xABFF), (0x10000, 0x1EFFF))


def _coarse(ranges) -> list[tuple[int, int]]:
    return sorted([(low, high) for low, high in ranges if not any(first <= low and high <= last for first, last in WHOLE_BLOCKS)]
                  + list(WHOLE_BLOCKS))


def _utf8_pattern(ranges) -> bytes:
    """Byte-range sequences, not thousands of literals (which Hyperscan compiles in ~0.6 s)."""
    return b"|".join(b"".join(b"[\\x%02x-\\x%02x]" % pair for pair in sequence)
                     for low, high in ranges for sequence in utf8_sequences(low, high))


def utf8_sequences(low: int, high: int):
    """The code points low..high as sequences of byte ranges, one byte range per byte of
    their UTF-8 form (the split Go's and Rust's regex engines use)."""
    for edge in (0x7F, 0x7FF, 0xFFFF):  # where the encoded length changes
        if low <= edge < high:
            yield from utf8_sequences(low, edge)
            yield from utf8_sequences(edge + 1, high)
            return
    for continuation_bytes in range(1, len(chr(low).encode("utf-8"))):
        mask = (1 << (6 * continuation_bytes)) - 1
        if low & ~mask != high & ~mask:  # the range spans several values of a leading byte
            if low & mask:
                yield from utf8_sequences(low, low | mask)
                yield from utf8_sequences((low | mask) + 1, high)
                return
            if high & mask != mask:
                yield from utf8_sequences(low, (high & ~mask) - 1)
                yield from utf8_sequences(high & ~mask, high)
                return
    yield list(zip(chr(low).encode("utf-8"), chr(high).encode("utf-8")))


IGNORABLE = frozenset(code for low, high in DEFAULT_IGNORABLE for code in range(low, high + 1))
CHANGED_CATEGORIES = frozenset({"Cf", "Zs", "Zl", "Zp", "Pd", "Nd"})


def _may_change(code: int) -> bool:
    """A cheap superset of what view_of_char changes (5x faster to scan with): NFKC changes
    only a character that has a decomposition."""
    char = chr(code)
    return code in IGNORABLE or bool(unicodedata.decomposition(char)) or unicodedata.category(char) in CHANGED_CATEGORIES or char in DASH_EXTRAS


def _ranges(codes: list[int]) -> list[tuple[int, int]]:
    ranges, first = [], codes[0]
    for previous, code in zip(codes, codes[1:] + [-1]):
        if code != previous + 1:
            ranges.append((first, previous))
            first = code
    return ranges


@cache
def mark_ranges() -> tuple[tuple[int, int], ...]:
    """Combining marks (Mn, Mc, Me) the view can drop (default-ignorable ones it always drops)."""
    return tuple(_ranges([code for plane in PLANES_WITH_THEM for code in plane
                          if unicodedata.category(chr(code)) in MARKS and view_of_char.__wrapped__(chr(code)) is None]))


@cache
def mark_pattern() -> str:
    """A regex of one mark. re tests a class of characters above U+FFFF range by range, so the
    marks past it are a second class tried only on such a character (~7x faster on prose)."""
    def ranges(low_limit: int, high_limit: int) -> str:
        return "".join(f"{re.escape(chr(max(low, low_limit)))}-{re.escape(chr(min(high, high_limit)))}"
                       for low, high in mark_ranges() if low <= high_limit and high >= low_limit)
    return f"(?:[{ranges(0, 0xFFFF)}]|(?=[\U00010000-\U0010ffff])[{ranges(0x10000, 0x10FFFF)}])"


@cache
def _mark_after_ascii() -> re.Pattern:
    return re.compile(f"[ -~]{mark_pattern()}")


def marks_utf8() -> bytes:
    """The byte pattern of any combining mark the view may drop: the prefilter flags every line
    with one (cheap for Hyperscan; with a context before it, 2x the whole scan), the text gate
    then gives the PII rules only to texts with a mark after printable ASCII."""
    return b"(?:" + _utf8_pattern(_coarse(mark_ranges())) + b")"


def mark_after_ascii_utf8() -> bytes:
    """The byte pattern of a combining mark straight after a character of MARKED."""
    return b"[\\x20-\\x7e]" + marks_utf8()


def changed_chars(text: str) -> list[str]:
    """The characters of ``text`` the view changes (none for ASCII text)."""
    if text.isascii():
        return []
    return [char for char in set(text) if not char.isascii() and view_of_char(char) is not None]


class View:
    """A text as the PII rules read it. Segments alternate between runs copied from the
    source and single source characters replaced (by zero or more characters)."""

    __slots__ = ("text", "_view_starts", "_source_starts", "_copied", "_source_length")

    def __init__(self, source: str):
        changed = changed_chars(source)
        if not changed and (source.isascii() or _mark_after_ascii().search(source) is None):
            self.text, self._view_starts = source, None
            return
        pieces, view_starts, source_starts, copied = [], [], [], []
        length, done, last = 0, 0, ""  # last: the view's last character so far
        for match in re.finditer(("[" + re.escape("".join(changed)) + "]|" if changed else "") + mark_pattern(), source):
            if match.start() > done:
                view_starts.append(length), source_starts.append(done), copied.append(True)
                pieces.append(source[done : match.start()])
                length += match.start() - done
                last = source[match.start() - 1]
            char = match.group(0)
            if char in changed:
                replacement = view_of_char(char)
            elif last in MARKED:  # a mark on a digit, a separator or a letter of an address: it hides nothing, and breaks it up
                replacement = ""
            else:
                replacement = char  # a mark on a letter of another script: part of the word
            last = replacement[-1:] or last
            view_starts.append(length), source_starts.append(match.start()), copied.append(False)
            pieces.append(replacement)
            length += len(replacement)
            done = match.end()
        view_starts.append(length), source_starts.append(done), copied.append(True)
        pieces.append(source[done:])
        self.text = "".join(pieces)
        self._view_starts, self._source_starts, self._copied, self._source_length = view_starts, source_starts, copied, len(source)

    def _source_index(self, index: int) -> int:
        """The source character behind view character ``index``."""
        segment = bisect_right(self._view_starts, index) - 1  # past removed characters: they own no view index
        if self._copied[segment]:
            return self._source_starts[segment] + index - self._view_starts[segment]
        return self._source_starts[segment]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source characters view[start:end] was made from (end > start), with the removed
        characters straight after them: a mark on the last digit goes with it ('…1111\u0332'
        leaves no stray accent after the placeholder)."""
        if self._view_starts is None:
            return start, end
        following = self._source_index(end) if end < len(self.text) else self._source_length
        return self._source_index(start), max(self._source_index(end - 1) + 1, following)
