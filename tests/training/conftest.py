"""Fixtures for the training container: generated data laid out as SageMaker channels
around the tiny base model (tests/conftest.py builds it, and the MLflow server)."""
from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from synthetic_data import sandbox


@pytest.fixture
def job(tmp_path, tiny_model):
    """A SageMaker-shaped job folder: input/data/<channel>, model, checkpoints."""
    return Job(tmp_path, tiny_model)


class Job:
    def __init__(self, root: Path, model: Path):
        self.root = root
        self.input = root / "input"
        self.data = self.input / "data"
        self.output = root / "model"
        self.checkpoints = root / "checkpoints"
        self.data.mkdir(parents=True)
        shutil.copytree(model, self.data / "model")

    def write_data(self, **kwargs) -> Job:
        sandbox.write_data(self.data, **kwargs)
        return self

    def argv(self, **flags) -> list[str]:
        args = ["--input_dir", str(self.input), "--output_dir", str(self.output), "--checkpoint_dir", str(self.checkpoints)]
        for key, value in flags.items():
            args += [f"--{key}", str(value)]
        return args


