"""The text the PII rules read, and the way back to the text they change.

Written PII hides behind characters that look the same or nothing at all: a soft hyphen
inside a card number, '＠' for '@', full-width digits, a non-breaking hyphen or an en dash
in a phone number, a zero-width space anywhere. The rules match on a *view* of each text in
which every such character is what it stands for:

- format characters (Unicode category Cf: soft hyphen, zero-width marks, tags) are removed;
- every separator (Zs, Zl, Zp) is a space; every dash (Pd, and U+2212 MINUS SIGN) is '-';
- a decimal digit of any script (Nd) is its ASCII digit;
- any other character whose compatibility form (NFKC) holds an ASCII letter or digit or
  one of ``@ : . + ( ) / -`` is that form ('＠' -> '@', '５' -> '5', '①' -> '1').

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

DASH_EXTRAS = "\u2212"  # MINUS SIGN is Sm, not Pd, but stands between digit groups as often as a hyphen
STANDS_FOR = frozenset("0123456789@:.+()/-abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")


@cache
def view_of_char(char: str) -> str | None:
    """What a non-ASCII character is in the view, or None where it is itself (cached: a
    text has few distinct characters and Unicode's tables are slow to ask)."""
    category = unicodedata.category(char)
    if category == "Cf":
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


def changed_chars(text: str) -> list[str]:
    """The characters of ``text`` the view changes (none for ASCII text)."""
    if text.isascii():
        return []
    return [char for char in set(text) if not char.isascii() and view_of_char(char) is not None]


class View:
    """A text as the PII rules read it. Segments alternate between runs copied from the
    source and single source characters replaced (by zero or more characters)."""

    __slots__ = ("text", "_view_starts", "_source_starts", "_copied")

    def __init__(self, source: str):
        changed = changed_chars(source)
        if not changed:
            self.text, self._view_starts = source, None
            return
        pieces, view_starts, source_starts, copied = [], [], [], []
        length, done = 0, 0
        for match in re.finditer("[" + re.escape("".join(changed)) + "]", source):
            if match.start() > done:
                view_starts.append(length), source_starts.append(done), copied.append(True)
                pieces.append(source[done : match.start()])
                length += match.start() - done
            replacement = view_of_char(match.group(0))
            view_starts.append(length), source_starts.append(match.start()), copied.append(False)
            pieces.append(replacement)
            length += len(replacement)
            done = match.end()
        view_starts.append(length), source_starts.append(done), copied.append(True)
        pieces.append(source[done:])
        self.text = "".join(pieces)
        self._view_starts, self._source_starts, self._copied = view_starts, source_starts, copied

    def _source_index(self, index: int) -> int:
        """The source character behind view character ``index``."""
        segment = bisect_right(self._view_starts, index) - 1  # past removed characters: they own no view index
        if self._copied[segment]:
            return self._source_starts[segment] + index - self._view_starts[segment]
        return self._source_starts[segment]

    def source_span(self, start: int, end: int) -> tuple[int, int]:
        """The source characters view[start:end] was made from (end > start)."""
        if self._view_starts is None:
            return start, end
        return self._source_index(start), self._source_index(end - 1) + 1
