"""Fixtures for the training container: a tiny base model built here (never downloaded),
generated data laid out as SageMaker channels, and a real local MLflow server."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from openforge_training import sandbox


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


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def mlflow_server(tmp_path_factory):
    """``mlflow server`` on loopback with a SQLite store, shared by the whole session."""
    root = tmp_path_factory.mktemp("mlflow")
    port = _free_port()
    mlflow = Path(sys.executable).with_name("mlflow")
    process = subprocess.Popen(
        [str(mlflow), "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{root / 'mlflow.db'}", "--artifacts-destination", str(root / "artifacts")],
        stdout=open(root / "server.log", "wb"), stderr=subprocess.STDOUT, env={**os.environ, "MLFLOW_TRACKING_URI": ""},
    )
    uri = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 90
    while True:
        try:
            if urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200:
                break
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"mlflow server did not start:\n{(root / 'server.log').read_text()[-3000:]}")
        time.sleep(0.5)
    yield uri
    process.terminate()
    process.wait(timeout=30)
