"""Read JSONL lines from any binary stream with bounded memory.

A line longer than ``max_line_bytes`` is never held whole: its first bytes are kept for
the quarantine record, the rest is read and dropped in chunks.
"""
from __future__ import annotations

import io
from collections.abc import Iterator
from dataclasses import dataclass

KEEP_OF_LONG_LINE = 1024
CHUNK = 1 << 20


@dataclass(frozen=True)
class Line:
    number: int
    data: bytes  # without the newline; for an over-long line only its first bytes
    length: int  # bytes in the line as written, without the newline
    terminated: bool  # ended with a newline (a last line without one may be truncated)

    @property
    def too_long(self) -> bool:
        return self.length > len(self.data)


def read_lines(stream: io.BufferedIOBase, max_line_bytes: int) -> Iterator[Line]:
    number = 0
    while True:
        line = stream.readline(max_line_bytes + 1)
        if not line:
            return
        number += 1
        terminated = line.endswith(b"\n")
        if terminated or len(line) <= max_line_bytes:
            data = line[:-1] if terminated else line
            if data.endswith(b"\r"):
                data = data[:-1]
            yield Line(number, data, len(data), terminated)
            continue
        kept, length = line[:KEEP_OF_LONG_LINE], len(line)
        while not terminated:
            more = stream.readline(CHUNK)
            if not more:
                break
            terminated = more.endswith(b"\n")
            length += len(more) - terminated
        yield Line(number, kept, length, terminated)
