"""Find, in one pass over a whole chunk of raw JSONL, the lines a rule might change.

The patterns are a superset of what the rules act on, written against raw JSON bytes:
reserved markers, non-ASCII bytes and escapes (which could hide either), PII shapes,
and whitespace at either end of a string value. Lines with no match are written out as
they came in without any rule running on them. Hyperscan (a native multi-pattern regex
engine) scans all patterns at once at hundreds of MB/s; without it Python's ``re`` does
the same job, slower. Being a superset is what makes skipping safe, and a property test
checks the fast and slow paths agree.
"""
from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable

from .rules import NOVA_RESERVED_MARKERS

try:
    import hyperscan
except ImportError:  # pragma: no cover - exercised where hyperscan is not installed
    hyperscan = None

ALWAYS = [
    rb"[\x80-\xff]",  # non-ASCII: NFC, curly quotes, exotic spaces
    rb"\\[urtfb]",  # escapes that may hide any character, carriage returns, tabs, form feeds
    rb"[A-Za-z0-9._%+-]@[A-Za-z0-9-]",  # e-mail
    rb"\d[\d .()-]{5,}\d",  # phone, card, SSN, IPv4
    rb'[:\[,{]\s*"(?:\s|\\n)',  # a string value starting with whitespace
    rb'(?:\s|\\n)"\s*[,}\]]',  # ... or ending with it
    rb" \\n",  # a space before a newline inside a string
]


def marker_patterns(markers: Iterable[str]) -> list[bytes]:
    return [re.escape(marker.encode("utf-8")) for marker in markers]


class Prefilter:
    def __init__(self, extra_markers: Iterable[str] = ()):
        self.patterns = ALWAYS + marker_patterns(dict.fromkeys([*NOVA_RESERVED_MARKERS, *extra_markers]))
        if hyperscan is not None:
            self._database = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            self._database.compile(expressions=self.patterns, ids=list(range(len(self.patterns))), elements=len(self.patterns),
                                   flags=[hyperscan.HS_FLAG_ALLOWEMPTY * 0] * len(self.patterns))
        else:
            self._regex = re.compile(b"|".join(self.patterns))

    @property
    def engine(self) -> str:
        return "hyperscan" if hyperscan is not None else "re"

    def flagged(self, chunk: bytes, line_ends: list[int]) -> set[int]:
        """Indexes of the lines (``line_ends[i]`` = offset of line i's newline) with a match."""
        hits: set[int] = set()
        if hyperscan is not None:
            def on_match(_id, _start, end, _flags, _context):
                hits.add(bisect_right(line_ends, end - 1))

            self._database.scan(chunk, match_event_handler=on_match)
        else:
            for match in self._regex.finditer(chunk):
                hits.add(bisect_right(line_ends, match.end() - 1))
        return hits
