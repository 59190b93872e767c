"""Errors that stop a run before any compute is spent, each naming what to fix."""


class InputError(ValueError):
    """A channel, hyperparameter or record the run cannot use. The message names it."""


class RecordError(InputError):
    """One JSONL record that cannot be used for training, located by file and line."""

    def __init__(self, path: str, line_number: int, reason: str):
        self.path, self.line_number, self.reason = path, line_number, reason
        super().__init__(f"{path}:{line_number}: {reason}")
