"""Find, in one pass over a whole chunk of raw JSONL, the lines a rule might change.

The patterns are a superset of what the rules act on, written against raw JSON bytes:
reserved markers, the characters the Unicode fixes replace, escapes (which could hide
anything), PII shapes, and whitespace at either end of a string value. Each match also says which rules it
concerns, so a flagged line runs only those. Lines with no match are written out as they
came in without any rule running on them. Other non-ASCII text is not a pattern here
(a callback per byte of Japanese would cost more than the rules): core asks
``bytes.isascii`` of each line and checks such text is NFC with no Unicode whitespace at
its ends. Hyperscan (a native multi-pattern regex engine) scans all patterns at once at
hundreds of MB/s; without it Python's ``re`` does the same job, slower. Being a superset is what makes skipping safe, and a property test
checks the fast and slow paths agree.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable
from functools import lru_cache, partial
from itertools import accumulate, repeat
from operator import add

import orjson

from .pii import IPV6_GATE
from .pii_view import changed_utf8, marks_utf8
from .rules import NOVA_RESERVED_MARKERS

try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where hyperscan is not installed
    hyperscan = None

# (pattern, rules a match can concern); "all" where an escape could hide anything.
ALWAYS = [
    # The characters the Unicode fixes replace (curly quotes, exotic and zero-width spaces, BOM):
    # "all", because dropping a zero-width character can reveal a marker.
    (rb"\xe2\x80[\x80-\x8d\x98-\x9e\xaf\xb2\xb3]|\xe2\x81[\x9f\xa0]|\xc2\xa0|\xe3\x80\x80|\xef\xbb\xbf", "all"),
    (rb"\\[urtfb]", "all"),  # escapes that may hide any character, carriage returns, tabs, form feeds
    # pii.py's gates on raw JSON: an e-mail's '@', a digit run, IPv6's colons; and any
    # character the PII view changes, behind which other forms hide.
    (rb"@", "pii"),  # a literal: Hyperscan scans for it at memchr speed, where a class either side costs ~40 % of the pass
    (rb"[0-9][0-9 .()/+\\-]{5,}[0-9]", "pii"),  # phone, card, SSN, IPv4 (a backslash: JSON may write '/' as '\/')
    (IPV6_GATE.encode(), "pii"),
    (changed_utf8(), "pii"),  # a character the PII view changes (pii_view.py): soft hyphens, '＠', other scripts' digits ...
    (marks_utf8(), "pii"),  # ... or a combining mark it may drop
    (rb'[:\[,{]\s*"(?:\s|\\n)', "normalise"),  # a string value starting with whitespace
    (rb'(?:\s|\\n)"\s*[,}\]]', "normalise"),  # ... or ending with it
    (rb" \\n", "normalise"),  # a space before a newline inside a string
]
ALL_RULES = frozenset({"markers", "pii", "normalise"})


@lru_cache(maxsize=64)
def compiled(patterns: tuple[bytes, ...]):
    """One Hyperscan database per set of patterns per process: compiling takes ~0.1 s (the
    PII view's character classes), and a run, a test or a Lambda makes many sanitisers."""
    database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
    database.compile(expressions=list(patterns), ids=list(range(len(patterns))), elements=len(patterns), flags=[0] * len(patterns))
    return database


def marker_patterns(markers: Iterable[str]) -> list[bytes]:
    """Each marker as a JSON string holds it ('"' and '\\' escaped), a '/' written either way
    ('</s>' may come as '<\\/s>'); a \\u escape of any character flags its line anyway."""
    return [re.escape(orjson.dumps(marker)[1:-1]).replace(b"/", rb"(?:/|\\/)") for marker in markers]


class Prefilter:
    def __init__(self, extra_markers: Iterable[str] = ()):
        markers = [(pattern, "markers") for pattern in marker_patterns(dict.fromkeys([*NOVA_RESERVED_MARKERS, *filter(None, extra_markers)]))]
        self.patterns = [pattern for pattern, _ in ALWAYS + markers]
        self._rules = [ALL_RULES if concern == "all" else frozenset({concern}) for _, concern in ALWAYS + markers]
        if hyperscan is not None:
            self._database = compiled(tuple(self.patterns))
        else:
            self._regexes = [re.compile(pattern) for pattern in self.patterns]

    @property
    def engine(self) -> str:
        return "hyperscan" if hyperscan is not None else "re"

    def flagged(self, chunk: bytes, lines: list[bytes] | None = None) -> dict[int, frozenset]:
        """{index of a line with a match: the rules that may change it}, ``lines`` being
        ``chunk.split(b"\\n")`` (passed in where the caller has it already)."""
        ends_by_pattern: list[list[int]] = [[] for _ in self.patterns]
        if hyperscan is not None:
            appenders = [ends.append for ends in ends_by_pattern]  # the callback runs per match: keep it to one append
            self._database.scan(chunk, match_event_handler=lambda pattern_id, _start, end, _flags, _context: appenders[pattern_id](end - 1))
        else:
            for ends, regex in zip(ends_by_pattern, self._regexes):
                ends.extend(match.end() - 1 for match in regex.finditer(chunk))
        if lines is None:
            lines = chunk.split(b"\n")
        # A match belongs to the line holding its last byte: a binary search in the lines'
        # start offsets, as C-level maps (matches come a few per flagged line).
        starts = list(accumulate(map(add, map(len, lines[:-1]), repeat(1)), initial=0)) if any(ends_by_pattern) else []
        line_of = partial(bisect_right, starts)
        hits: dict[int, frozenset] = {}
        for pattern_id, ends in enumerate(ends_by_pattern):
            rules = self._rules[pattern_id]
            for line in set(map(line_of, ends)):
                hits[line - 1] = hits[line - 1] | rules if line - 1 in hits else rules
        return dict(sorted(hits.items()))
