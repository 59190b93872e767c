"""Read the lines of one byte range of a large object, so several Lambdas can share it.

A line belongs to the range in which it starts. The reader is opened at ``start - 1``
(or 0) and drops everything up to the first newline, so a line starting exactly at
``start`` is kept and one started earlier is left to the previous range; it stops after
the line that contains ``end``. Ranges ``[0, a], [a+1, b], ...`` therefore see every line
exactly once.

Every byte of the range is accounted for: ``before`` (the end of a line that started in an
earlier range) + the bytes handed on - ``after`` (the rest of the last line, past ``end``)
is the range's size, unless the object ended before ``end`` (see ``accounted``).
"""
from __future__ import annotations

import io


class RangeLines(io.RawIOBase):
    def __init__(self, stream, start: int, end: int):
        """``stream`` must begin at byte ``max(start - 1, 0)`` of the object."""
        self._stream, self._start, self._end = stream, start, end
        self._position = max(start - 1, 0)
        self._skipping = start > 0
        self._done = False
        self.before = 0  # bytes of the range in a line that started before it
        self.handed = 0  # bytes handed on: the lines that start in the range
        self.after = 0  # bytes handed on that lie past ``end``

    @property
    def size(self) -> int:
        return self._end - self._start + 1

    def accounted(self, read: int) -> int:
        """The range's bytes the reader and its consumer account for, when the consumer read
        ``read`` bytes: ``size`` exactly when everything in the range was read."""
        return self.before + read - self.after

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        # Emits the bytes from the first line start at or after `start` through the first
        # newline at or after `end`; nothing if that first line starts after `end`.
        while not self._done:
            data = self._stream.read(len(buffer))
            if not data:
                self._done = True
                if self._skipping:  # the object ended inside a line that started earlier
                    self.before = max(min(self._position, self._end + 1) - self._start, 0)
                return 0
            begin = self._position
            self._position += len(data)
            if self._skipping:
                newline = data.find(b"\n")
                if newline < 0:
                    if self._position > self._end:  # no line starts in the range: it is all inside an earlier one
                        self.before, self._done = self.size, True
                        return 0
                    continue
                self._skipping = False
                data, begin = data[newline + 1 :], begin + newline + 1
                self.before = min(begin, self._end + 1) - self._start
                if begin > self._end:
                    self._done = True
                    return 0
            if begin + len(data) > self._end:
                cut = data.find(b"\n", max(self._end - begin, 0))
                if cut >= 0:
                    data = data[: cut + 1]
                    self._done = True
            if data:
                self.handed += len(data)
                self.after += max(begin + len(data) - max(begin, self._end + 1), 0)
                buffer[: len(data)] = data
                return len(data)
        return 0
