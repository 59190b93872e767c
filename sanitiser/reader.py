"""One input line as the sanitiser sees it. A line longer than ``max_line_bytes`` is never
held whole: only its first bytes are kept, for the quarantine record (see core._chunks)."""
from __future__ import annotations

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
