"""The fine-tuning pipeline end to end on this machine (``make demo``): no AWS account, a
folder for S3, the training container as a subprocess, a local MLflow server.

    python -m pipeline.local [--input FILE] [--work DIR] [--execution-name NAME] [--no-mlflow]

With no ``--input`` it runs examples/pipeline-input-demo.json. It first writes what the
account would hold (``pipeline.local.demo_data``: a tiny base model, a raw ticket export with
messy lines, the curated pool, the evaluation files) under ``WORK/s3/<bucket>/<key>``, then
visits the state machine's steps (constructs/fine_tuning_pipeline/) in its order, under
the names in ``openforge_contract.states``, each through the code the cloud runs:

    Validate the input         openforge_lambda.pipeline_steps.validate_input (the Lambda's own)
    Sanitise the data          the sanitiser on the raw prefix -> sanitised/<job>/<execution>/clean/
    Start the validation run   openforge_lambda.training_job.training_job_request, run locally
    Start training / Start the evaluation   the same, once per mix (pipeline.local.jobs)
    Pick the model             openforge_lambda.selection.pick on the local S3 folder
    Deploy the private endpoint    in place of an endpoint: the chosen model loaded with
                               transformers, answering one held-out prompt
    Summarise the run          the execution's output, printed

A failure ends the run as the state machine's Fail would: the error and its cause, printed,
and a non-zero exit status.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from pipeline.local.execution import DEFAULT_ENVIRONMENT, Options
from pipeline.local.runner import run_pipeline

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_INPUT = ROOT / "examples" / "pipeline-input-demo.json"


def load_input(path: Path | None) -> dict:
    source = path or DEFAULT_INPUT
    try:
        return json.loads(Path(source).read_text())
    except (OSError, json.JSONDecodeError) as error:
        raise SystemExit(f"pipeline.local: cannot read the pipeline input {source}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m pipeline.local", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--input", type=Path, help=f"pipeline input JSON (default: {DEFAULT_INPUT.relative_to(ROOT)})")
    parser.add_argument("--work", type=Path, default=Path("work/demo"), help="work folder, emptied first (default: work/demo)")
    parser.add_argument("--execution-name", help="the execution's name (default: local-<date>-<time>)")
    parser.add_argument("--environment", default=DEFAULT_ENVIRONMENT, help="cdk.json environment whose limits apply (default: dev)")
    tracking = parser.add_mutually_exclusive_group()
    tracking.add_argument("--no-mlflow", action="store_true", help="track nothing (no MLflow server)")
    tracking.add_argument("--mlflow-uri", help="track in this running MLflow server instead of starting one")
    parser.add_argument("--threads", type=int, default=Options.threads, help="CPU threads per job (default: this machine's cores)")
    args = parser.parse_args(argv)
    options = Options(work=args.work, execution_name=args.execution_name, environment=args.environment, threads=args.threads,
                      mlflow="off" if args.no_mlflow else (args.mlflow_uri or "start"))
    try:
        result = run_pipeline(load_input(args.input), options)
    except RuntimeError as error:  # the local MLflow server did not start: nothing of the run ran
        print(f"pipeline.local: {error}", file=sys.stderr)
        return 2
    return 0 if result.succeeded else 1
