"""Errors that stop a run before any compute is spent, each naming what to fix."""
from pathlib import Path


class InputError(ValueError):
    """A channel, hyperparameter or record the run cannot use. The message names it."""


class RecordError(InputError):
    """One JSONL record that cannot be used for training, located by file and line."""

    def __init__(self, path: str, line_number: int, reason: str):
        self.path, self.line_number, self.reason = path, line_number, reason
        super().__init__(f"{path}:{line_number}: {reason}")


def failure_file(input_dir: str) -> Path:
    """SageMaker shows /opt/ml/output/failure (beside the input folder) as the job's
    FailureReason."""
    return Path(input_dir).parent / "output" / "failure"


def write_failure(input_dir: str, message: str) -> None:
    path = failure_file(input_dir)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(message[:1024])
    except OSError:
        pass  # locally the SageMaker output folder may not be writable; the log has it
