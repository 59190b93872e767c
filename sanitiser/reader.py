"""One input line as the sanitiser sees it. A line longer than ``max_line_bytes`` is never
held whole: only its first bytes are kept, for the quarantine record (see core._chunks)."""
from __future__ import annotations

import io
import re
from dataclasses import dataclass

KEEP_OF_LONG_LINE = 1024


@dataclass(frozen=True)
class Line:
    number: int
    data: bytes  # without the newline; for an over-long line only its first bytes
    length: int  # bytes in the line as written, without the newline
    terminated: bool  # ended with a newline (a last line without one may be truncated)

    @property
    def too_long(self) -> bool:
        return self.length > len(self.data)


LONE_CR = re.compile(rb"\r(?!\n)")
STRAY_CRS = re.compile(rb"(?<!\r)\r\r++\n")  # CRs before a CRLF; from the run's start, no backtracking: linear in the run
BOM = b"\xef\xbb\xbf"  # UTF-8's byte order mark, which some Windows tools write at the start of a file


def _stray_to_spaces(run: re.Match) -> bytes:
    """CR CR LF (text-mode writes of CRLF on Windows) is one CRLF after a stray CR: the stray
    CRs become spaces, JSON whitespace, so the record keeps its one line break."""
    return b" " * (run.end() - run.start() - 2) + b"\r\n"


class LineEndings(io.RawIOBase):
    """The stream with its line breaks made LF or CRLF: a carriage return not followed by a
    newline becomes a newline, so CR-only files (classic Mac, some exports) split into their
    lines instead of arriving as one truncated line; and CRs before a CRLF (``\\r\\r\\n``)
    become spaces, so a record ends at one break rather than being followed by a blank line.
    Byte for byte (a CR becomes an LF or a space), so offsets, byte ranges and byte counts
    are the object's own; and what a CR becomes depends only on the bytes after it (up to the
    first that is not a CR), so every byte range of an object splits the same way. CRLF is
    left alone (the sanitiser drops the CR). A lone CR inside a valid JSON line, where JSON
    allows it as whitespace, splits that line too: both halves are quarantined, nothing is lost.

    ``stream`` needs only ``read(size)``; wrap this in ``io.BufferedReader``."""

    def __init__(self, stream):
        self._stream = stream
        self._held = b""  # bytes read ahead to settle a run of CRs at the end of a read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer)
        data = self._held + (self._stream.read(size - len(self._held)) if size > len(self._held) else b"")
        if not data:
            return 0
        while data.endswith(b"\r"):  # a CR's fate waits on the first byte after its run
            more = self._stream.read(max(size, 1))
            if not more:
                break  # at the end, a last CR ends the last line
            data += more
        if b"\r" in data:  # LF files stop here, CRLF ones after two searches; held bytes are settled already
            if b"\r\r\n" in data:
                data = STRAY_CRS.sub(_stray_to_spaces, data)
            if LONE_CR.search(data):
                data = LONE_CR.sub(b"\n", data)
        buffer[: min(size, len(data))] = data[:size]
        self._held = data[size:]
        return min(size, len(data))


class LeadingBom(io.RawIOBase):
    """The stream without a UTF-8 byte order mark at its very start (elsewhere one is data and
    stays). It would cost the first record (``invalid_json``); ``stripped`` says how many bytes
    were left out, so byte accounting still counts them. Only for a stream that starts at the
    start of its file or object: a byte range after the first one has no start of file."""

    def __init__(self, stream):
        self._stream = stream
        self._head: bytes | None = None  # the first bytes, until handed on
        self.stripped = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        if self._head is None:
            head = b""
            while len(head) < len(BOM) and (more := self._stream.read(len(BOM) - len(head))):
                head += more
            if head == BOM:
                head, self.stripped = b"", len(BOM)
            self._head = head
        if self._head:
            count = min(len(buffer), len(self._head))
            buffer[:count], self._head = self._head[:count], self._head[count:]
            return count
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)
