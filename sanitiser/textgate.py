"""Which decoded texts a rule could change, for a whole batch of texts at once.

A line the prefilter flags usually has one text that needs a rule and two or three that do
not; running every rule's own test on each text costs ~5 us a text (a dozen substring
searches for markers, a regex for digit runs, the whitespace checks). Here one Hyperscan
pass over all the texts of a chunk finds the markers, '@', ASCII digit runs, carriage
returns and spaces before a newline; a few C-level maps do the rest (non-ASCII text that
is not NFC or has a character the Unicode fixes replace, whitespace at either end).

A text is let through only when ``Rules.apply`` would return it unchanged and find
nothing: every test here is a superset of the test in rules.py that guards a change, and
earlier rules cannot have changed such a text (the Unicode fixes would have been needed).
A property test checks this against ``Rules.apply``.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from itertools import accumulate, compress, repeat
from operator import itemgetter, not_

from .rules import DIGITS, FIXABLE, NUMERIC_TRIGGER, Rules

try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where hyperscan is not installed
    hyperscan = None

ASCII_DIGIT_RUN = rb"[0-9][0-9 .()-]{5,}[0-9]"  # NUMERIC_TRIGGER on ASCII text (its \d is Unicode)
TIDY = (rb"\r", rb"[ \t]\n")  # what Rules._tidy replaces inside a text
FIRST, LAST = itemgetter(slice(None, 1)), itemgetter(slice(-1, None))


class TextGate:
    def __init__(self, rules: Rules):
        self.rules = rules
        # Markers are looked for whatever a line's flags say: a superset is all it takes.
        patterns = [re.escape(marker.encode("utf-8")) for marker in rules.markers]
        if rules.scrub_pii:
            patterns += [rb"@", ASCII_DIGIT_RUN]
        if rules.normalise:
            patterns += list(TIDY)
        self._database = None
        if hyperscan is not None:
            self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._database.compile(expressions=patterns, ids=list(range(len(patterns))), elements=len(patterns), flags=[0] * len(patterns))

    def needs_rules(self, texts: list[str]) -> list[bool]:
        """For each text, False only where no rule can change it or find anything in it."""
        if not texts:
            return []
        if self.rules.comprehend is not None or self._database is None:
            return [True] * len(texts)  # Comprehend sees every text; without Hyperscan every rule runs
        needed = bytearray(len(texts))
        self._scan(texts, needed)
        ascii_text = list(map(str.isascii, texts))
        for index in compress(range(len(texts)), map(not_, ascii_text)):
            if not needed[index] and self._non_ascii_needs_rules(texts[index]):
                needed[index] = 1
        if self.rules.normalise:
            for index in compress(range(len(texts)), map(str.isspace, map(FIRST, texts))):
                needed[index] = 1
            for index in compress(range(len(texts)), map(str.isspace, map(LAST, texts))):
                needed[index] = 1
        return list(map(bool, needed))

    def _scan(self, texts: list[str], needed: bytearray) -> None:
        """One pass over all the texts back to back. A match that straddles two texts only
        lets the second through the slow way; a match inside a text always ends inside it."""
        encoded = list(map(str.encode, texts, repeat("utf-8"), repeat("surrogatepass")))
        starts = list(accumulate(map(len, encoded), initial=0))[:-1]
        ends: list[int] = []
        self._database.scan(b"".join(encoded), match_event_handler=lambda _id, _start, end, _flags, _context: ends.append(end))
        for end in ends:
            needed[bisect_right(starts, end - 1) - 1] = 1

    def _non_ascii_needs_rules(self, text: str) -> bool:
        """The tests Hyperscan cannot do on its own for non-ASCII text: the Unicode fixes,
        and digit runs, whose \\d in rules.py matches any script's digits."""
        if self.rules.normalise and (FIXABLE.search(text) or not unicodedata.is_normalized("NFC", text)):
            return True
        return self.rules.scrub_pii and any(map(text.__contains__, DIGITS)) and NUMERIC_TRIGGER.search(text) is not None
