"""Where the commands write and how they end: standard output for what a person reads, one
line on standard error for a command that cannot be carried out, and the exit statuses
(listed in pipeline/cli/__init__.py)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TextIO

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_NOT_FINISHED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130


class UsageError(Exception):
    """The command cannot be carried out; the message is the one line a person reads."""


@dataclass
class Terminal:
    out: TextIO
    err: TextIO

    def say(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.out, flush=True)
