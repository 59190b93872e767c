"""The prefilter names each line holding a match, with the rules the match concerns."""
import re

from hypothesis import given, settings
from hypothesis import strategies as st

from sanitiser.prefilter import Prefilter

PIECES = [b"System:", b"\\u00e9", b"a@b.io", b"555-123-4567", b'{"x": " y"}', b'"a \\n"', b"\xc2\xa0", b"\n", b"\r\n", b" ", b"plain",
          b"555\\/123\\/4567", b"j\xc3\xb6@b\xc3\xbc.de", b"2001:db8::1", b"12:30:45", b"4111/1111/1111/1111"]


@settings(max_examples=300, deadline=None)
@given(chunk=st.lists(st.sampled_from(PIECES) | st.binary(max_size=6), max_size=30).map(b"".join))
def test_every_match_flags_the_line_holding_its_last_byte(chunk):
    prefilter = Prefilter()
    expected: dict[int, frozenset] = {}
    for pattern, rules in zip(prefilter.patterns, prefilter._rules):
        for match in re.finditer(b"(?=(" + pattern + b"))", chunk):  # every start, so overlapping matches too
            for end in range(match.start() + 1, len(chunk) + 1):
                if re.fullmatch(pattern, chunk[match.start():end]):
                    line = chunk.count(b"\n", 0, end - 1)
                    expected[line] = expected.get(line, frozenset()) | rules
    assert prefilter.flagged(chunk) == expected
    assert prefilter.flagged(chunk, chunk.split(b"\n")) == expected
