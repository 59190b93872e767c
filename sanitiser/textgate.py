"""Which decoded texts a rule could change, for a whole batch of texts at once.

A line the prefilter flags usually has one text that needs a rule and two or three that do
not; running every rule's own test on each text costs ~5 us a text (a dozen substring
searches for markers, a regex for digit runs, the whitespace checks). Here one Hyperscan
pass over all the texts of a chunk finds the markers, '@', ASCII digit runs, carriage
returns and spaces before a newline, IPv6's colons; a few C-level maps do the rest (non-ASCII text that
is not NFC or has a character the Unicode fixes replace, whitespace at either end).

Each text gets the rules that could change it (none: it is left alone). Every test here
is a superset of the test in rules.py that guards a change; a text the Unicode fixes change
gets every rule, and one with a marker every rule after the markers, since fixing a marker
can make what a later rule looks for. A property test checks this against ``Rules.apply``.
"""
from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from itertools import accumulate, chain, compress, repeat
from operator import itemgetter, not_

from .prefilter import ALL_RULES, compiled
from .pii import DIGIT_RUN, IPV6_GATE
from .pii_view import changed_utf8, mark_after_ascii_utf8
from .rules import FIXABLE, Rules

try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where hyperscan is not installed
    hyperscan = None

# pii.py's gates (the texts are decoded here: no JSON escapes); a text with a character its
# view changes gets the PII rules whatever else it holds.
ASCII_DIGIT_RUN = DIGIT_RUN.encode()
ASCII_IPV6_GATE = IPV6_GATE.encode()
TIDY = (rb"\r", rb"[ \t]\n")  # what Rules._tidy replaces inside a text
FIRST, LAST = itemgetter(slice(None, 1)), itemgetter(slice(-1, None))


NOTHING: frozenset = frozenset()
MARKERS_AND_AFTER = frozenset({"markers", "pii", "normalise"})  # removing a marker can join a digit run or reveal an address
PII = frozenset({"pii", "normalise"})
NORMALISE = frozenset({"normalise"})  # Rules.apply tidies whatever the rules say; this only says the text must go through it


class TextGate:
    def __init__(self, rules: Rules):
        self.rules = rules
        # Markers are looked for whatever a line's flags say: a superset is all it takes.
        patterns = [(re.escape(marker.encode("utf-8")), MARKERS_AND_AFTER) for marker in rules.markers]
        if rules.scrub_pii:
            patterns += [(rb"@", PII), (ASCII_DIGIT_RUN, PII), (ASCII_IPV6_GATE, PII), (changed_utf8(), PII),
                         (mark_after_ascii_utf8(), PII)]
        if rules.normalise:
            patterns += [(pattern, NORMALISE) for pattern in TIDY]
        self._concerns = [concern for _, concern in patterns]
        self._database = None
        if hyperscan is not None:
            self._database = compiled(tuple(pattern for pattern, _ in patterns))

    def rules_needed(self, texts: list[str]) -> list[frozenset]:
        """For each text, the rules ``Rules.apply`` needs to be given for it (empty: none, the
        text stays as it is): ``apply(text, findings, rules & needed)`` does exactly what
        ``apply(text, findings, rules)`` does."""
        if not texts:
            return []
        if self.rules.comprehend is not None or self._database is None:
            return [ALL_RULES] * len(texts)  # Comprehend sees every text; without Hyperscan every rule runs
        needed = [NOTHING] * len(texts)
        self._scan(texts, needed)
        for index in compress(range(len(texts)), map(not_, map(str.isascii, texts))):
            if self._unicode_fix_needed(texts[index]):
                needed[index] = ALL_RULES  # the fixed text is another text: every rule looks at it
        if self.rules.normalise:
            for index in chain(compress(range(len(texts)), map(str.isspace, map(FIRST, texts))),
                               compress(range(len(texts)), map(str.isspace, map(LAST, texts)))):
                needed[index] |= NORMALISE
        return needed

    def _scan(self, texts: list[str], needed: list[frozenset]) -> None:
        """One pass over all the texts back to back. A match that straddles two texts only
        sends the second the slow way; a match inside a text always ends inside it."""
        encoded = list(map(str.encode, texts, repeat("utf-8"), repeat("surrogatepass")))
        starts = list(accumulate(map(len, encoded), initial=0))[:-1]
        matches: list[tuple[int, int]] = []
        self._database.scan(b"".join(encoded), match_event_handler=lambda pattern_id, _start, end, _flags, _context: matches.append((pattern_id, end)))
        for pattern_id, end in matches:
            index = bisect_right(starts, end - 1) - 1
            needed[index] |= self._concerns[pattern_id]

    def _unicode_fix_needed(self, text: str) -> bool:
        return self.rules.normalise and (FIXABLE.search(text) is not None or not unicodedata.is_normalized("NFC", text))
