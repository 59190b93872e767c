"""What the local runner prints: a line as each step starts and one as it ends, what only a
local run has after the summary (the validation run's record, the smoke test, the MLflow
runs, where the files are), and paths shown relative to the current folder."""
from __future__ import annotations

import json
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import TextIO

from openforge_contract.execution_data import ENDPOINT, SELECTION, VALIDATION_RUN
from openforge_contract.run_record import COMPARISON_CHART, COMPARISON_REPORT, COMPARISON_RESULTS, EVALUATION_REPORT, RUN_RECORD
from pipeline.local.plot import COMPARISON_PNG
from pipeline.summary import key_values


class Console:
    """One line as a step starts and one as it ends, with the time it took."""

    def __init__(self, out: TextIO):
        self.out, self.started = out, time.monotonic()

    def say(self, text: str = "") -> None:
        print(text, file=self.out, flush=True)

    def detail(self, text: str) -> None:
        self.say(f"{'':11}{text}")

    @contextmanager
    def step(self, name: str, visited: list[str]):
        visited.append(name)
        self.say(f"[{self.clock()}] ▶ {name}")
        began = time.monotonic()
        outcome = {"detail": "", "failed": False}
        try:
            yield outcome
        except BaseException:
            self.say(f"[{self.clock()}] ✗ {name} failed after {time.monotonic() - began:.1f} s")
            raise
        detail = f": {outcome['detail']}" if outcome["detail"] else ""
        mark = "✗" if outcome["failed"] else "✓"
        self.say(f"[{self.clock()}] {mark} {name} ({time.monotonic() - began:.1f} s){detail}")

    def clock(self) -> str:
        elapsed = int(time.monotonic() - self.started)
        return f"{elapsed // 60:02d}:{elapsed % 60:02d}"


def local_lines(summary: dict) -> list[str]:
    """What only a local run has, after the summary the cloud would show: the validation run's
    record, the smoke test in place of the endpoint, the MLflow runs and where the files are."""
    validation, local, endpoint = summary[VALIDATION_RUN], summary["local"], summary[ENDPOINT]
    rows = []
    record = Path(local["files"].get(validation["job_name"], "/nonexistent")) / RUN_RECORD
    if record.is_file():
        run_record = json.loads(record.read_text())
        rows.append(("Validation run", f"{run_record.get('steps')} steps, final loss {run_record.get('final_loss') or 0:.3f}: "
                                       "data, model and container work together"))
    smoke = endpoint.get("local_smoke_test")
    if smoke:
        rows.append(("Smoke test", f"{one_line(smoke['prompt'])!r} -> {one_line(smoke['answer'])!r} (reference {smoke['reference']!r})"))
    mlflow = local["mlflow"]
    if mlflow["tracking_uri"]:
        rows += [("MLflow" if index == 0 else "", f"{name} {run_id}") for index, (name, run_id) in enumerate(mlflow["runs"].items())]
        if mlflow["store"]:
            rows.append(("", f"browse: .venv/bin/mlflow ui --backend-store-uri sqlite:///{shown_path(Path(mlflow['store']))}"))
    files = local["files"]
    chosen = summary[SELECTION].get("chosen")
    shown = [("S3 stand-in", f"{shown_path(Path(local['s3_root']))}/"),
             ("sanitised", f"{shown_path(Path(files['sanitised']))}/ (clean/, quarantine/, duplicates/, report.md)")]
    shown += [(name, shown_path(Path(files[name]))) for name in (COMPARISON_PNG, COMPARISON_REPORT, COMPARISON_CHART, COMPARISON_RESULTS)
              if name in files]
    if chosen:
        shown.append(("chosen model", f"{shown_path(Path(files.get(chosen['training_job_name'], '')))}/"))
        if chosen["evaluation_job_name"] in files:
            shown.append(("evaluation", f"{shown_path(Path(files[chosen['evaluation_job_name']]))}/{EVALUATION_REPORT}"))
    shown += [("job logs", f"{shown_path(Path(local['work']) / 'logs')}/"), ("summary", shown_path(Path(local["work"]) / "summary.json"))]
    return ["", "On this machine:", *key_values(rows + shown)]


@contextmanager
def quiet_hub():
    """No Hugging Face progress bars in the runner's own output."""
    try:
        from huggingface_hub.utils import are_progress_bars_disabled, disable_progress_bars, enable_progress_bars
    except ImportError:
        with nullcontext():
            yield
        return
    was_disabled = are_progress_bars_disabled()
    disable_progress_bars()
    try:
        yield
    finally:
        if not was_disabled:
            enable_progress_bars()


def shown_path(path: Path) -> str:
    """A path relative to the current folder when it lies under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def one_line(text: str) -> str:
    return " ".join(str(text).split())
