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


class LineEndings(io.RawIOBase):
    """The stream with every carriage return that is not followed by a newline turned into
    a newline: CR-only files (classic Mac, some exports) split into their lines instead of
    arriving as one truncated line, the same lines ``str.splitlines`` and Python's universal
    newlines see. Byte for byte (a CR becomes an LF), so offsets, byte ranges and byte counts
    are the object's own; and byte-local (what a CR becomes depends on the next byte only),
    so every byte range of an object splits the same way. CRLF is left alone (the
    sanitiser drops the CR). A lone CR inside a valid JSON line, where JSON allows it as
    whitespace, splits that line too: both halves are quarantined, nothing is lost.

    ``stream`` needs only ``read(size)``; wrap this in ``io.BufferedReader``."""

    def __init__(self, stream):
        self._stream = stream
        self._held = b""  # the byte read ahead to settle a CR at the end of a read

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        size = len(buffer)
        data = self._held + (self._stream.read(size - len(self._held)) if size > len(self._held) else b"")
        self._held = b""
        if not data:
            return 0
        following = b""
        if data.endswith(b"\r"):
            following = self._stream.read(1)  # empty at the end: a last lone CR ends the last line
        if b"\r" in data:  # LF files stop here; CRLF ones after one regex search
            ahead = data + following if following else data
            if LONE_CR.search(ahead):
                data = LONE_CR.sub(b"\n", ahead)[: len(data)]
        if following and following != b"\r" and len(data) < size:
            data += following  # known now: only a CR's fate waits on the byte after it
        else:
            self._held = following
        buffer[: len(data)] = data
        return len(data)
