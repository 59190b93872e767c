"""A local run from the start: an empty work folder, the account's data written into the
S3 stand-in (pipeline/local/demo_data.py), a local MLflow server started meanwhile
(pipeline/local/tracking.py), then one execution (pipeline/local/execution.py)."""
from __future__ import annotations

import shutil
import sys
import time
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO

from pipeline.local.console import Console, quiet_hub, shown_path
from pipeline.local.demo_data import write_demo_data
from pipeline.local.execution import Execution, LocalRunResult, Options
from pipeline.local.s3 import LocalS3

WORK_MARKER = ".openforge-local-run"  # a work folder this runner made, and may empty again


def run_pipeline(pipeline_input, options: Options, out: TextIO | None = None) -> LocalRunResult:
    """Generate the account's data, then every step; never raises for a failed run.
    Progress goes to ``out`` (default: standard output)."""
    console = Console(out or sys.stdout)
    work = prepare_work(options.work)
    store = LocalS3(work / "s3")
    execution_name = options.execution_name or time.strftime("local-%Y%m%d-%H%M%S")
    console.say(f"OpenForge local run {execution_name}: work folder {shown_path(work)} (S3 stand-in {shown_path(store.root)})")
    with _tracking(options, work, console) as tracking:  # the server starts while the data is written
        began = time.monotonic()
        with quiet_hub():
            data = write_demo_data(store, options.sizes)
        console.say(f"Account data written in {time.monotonic() - began:.1f} s: base model {data.base_model_s3_uri}, "
                    f"raw export {data.raw_data_s3_uri} ({data.counts['raw_lines']} lines), curated {data.curated_data_s3_uri}, "
                    f"evaluation {data.evaluation_data_s3_uri}")
        runner = Execution(console, work, store, execution_name, options, tracking())
        result = runner.run(pipeline_input, data)
    if options.mlflow == "start":
        console.say("MLflow tracking server stopped")
    return result


@contextmanager
def _tracking(options: Options, work: Path, console: Console):
    """Yields a function giving the tracking URI ("" for none) once the server answers."""
    if options.mlflow == "off":
        yield lambda: ""
    elif options.mlflow == "start":
        from pipeline.local.tracking import mlflow_server

        began = time.monotonic()
        with mlflow_server(work / "mlflow") as server:
            def ready() -> str:
                uri = server.ready()
                console.say(f"MLflow tracking server {uri} up after {time.monotonic() - began:.1f} s "
                            f"(store {shown_path(work / 'mlflow' / 'mlflow.db')}); it stops when the run ends")
                return uri
            yield ready
    else:
        yield lambda: options.mlflow


def prepare_work(work: Path) -> Path:
    """An empty work folder (absolute: the jobs run in their own folders): made here, or one
    an earlier local run made (emptied)."""
    work = Path(work).resolve()
    if work.exists() and any(work.iterdir()):
        if not (work / WORK_MARKER).is_file():
            raise SystemExit(f"pipeline.local: {work} is not empty and was not made by a local run; choose another --work folder")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / WORK_MARKER).write_text("made by python -m pipeline.local; emptied by the next local run\n")
    return work
