"""A local MLflow tracking server for the local runner, standing in for the environment's
SageMaker managed MLflow: ``mlflow server`` on loopback, a SQLite store and an artifact
folder under the work folder, stopped when the run ends (whatever way it ends)."""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 90


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    """A started server; ``ready()`` waits until it answers (it takes a while to start, so
    the caller can do other work first) and returns its http URI."""

    def __init__(self, uri: str, process: subprocess.Popen, log: Path):
        self.uri, self.process, self.log = uri, process, log

    def ready(self) -> str:
        _wait_until_healthy(self.uri, self.process, self.log)
        return self.uri


@contextmanager
def mlflow_server(root: Path):
    """Starts ``mlflow server`` and yields a ``Server``; the server's log is ``root/server.log``."""
    root.mkdir(parents=True, exist_ok=True)
    port = free_port()
    executable = Path(sys.executable).with_name("mlflow")
    command = [str(executable) if executable.exists() else sys.executable, *([] if executable.exists() else ["-m", "mlflow"]),
               "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
               "--backend-store-uri", f"sqlite:///{(root / 'mlflow.db').resolve()}", "--artifacts-destination", str((root / "artifacts").resolve())]
    log = open(root / "server.log", "wb")
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env, start_new_session=True)
    uri = f"http://127.0.0.1:{port}"
    try:
        yield Server(uri, process, root / "server.log")
    finally:
        _stop(process)
        log.close()


def _wait_until_healthy(uri: str, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        try:
            if urllib.request.urlopen(f"{uri}/health", timeout=2).status == 200:
                return
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"the local MLflow server did not start (log {log}):\n{log.read_text(errors='replace')[-2000:]}")
        time.sleep(0.5)


def _stop(process: subprocess.Popen) -> None:
    """The server and the workers it started (its own process group), by its id only."""
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, 15)
    except ProcessLookupError:
        return
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        process.wait(timeout=10)
