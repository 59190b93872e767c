"""The fine-tuning pipeline end to end on this machine (``make demo``): no AWS account, a
folder for S3, the training container as a subprocess, a local MLflow server.

    python -m pipeline.local [--input FILE] [--work DIR] [--execution-name NAME] [--no-mlflow]

With no ``--input`` it runs examples/pipeline-input-demo.json. It first writes what the
account would hold (``pipeline.demo_data``: a tiny base model, a raw ticket export with
messy lines, the curated pool, the evaluation files) under ``WORK/s3/<bucket>/<key>``, then
visits the state machine's steps (constructs/fine_tuning_pipeline.py) in its order, under
the names in ``openforge_contract.states``, each through the code the cloud runs:

    Validate the input         openforge_lambda.pipeline_input.normalise + run_plan.plan_run
    Sanitise the data          the sanitiser on the raw prefix -> sanitised/<job>/<execution>/clean/
    Start the validation run   openforge_lambda.training_job.training_job_request, run locally
    Start training / Start the evaluation   the same, once per mix (pipeline.local_jobs)
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
import os
import shutil
import sys
import time
import traceback
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from openforge_contract import states
from openforge_contract.execution_data import (DEPLOYMENT, ENDPOINT, ERROR, EVALUATION, EXECUTION_NAME, FAILED, FAILURE, JOB_NAME, MIX, OUTPUT, PLAN,
                                               RESULTS, RUN, SANITISATION, SANITISATION_SUMMARY, SELECTION, TRAINING, VALID, VALIDATION,
                                               VALIDATION_RUN)
from openforge_contract.run_record import COMPARISON_CHART, COMPARISON_REPORT, COMPARISON_RESULTS, EVALUATION_REPORT, EVALUATION_RESULTS, RUN_RECORD
from pipeline.demo_data import ARTIFACTS_BUCKET, DATASETS_BUCKET, DemoData, DemoSizes, write_demo_data
from pipeline.local_s3 import LocalS3
from pipeline.summary import key_values, summary_lines

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_INPUT = ROOT / "examples" / "pipeline-input-demo.json"
DEFAULT_ENVIRONMENT = "dev"
WORK_MARKER = ".openforge-local-run"  # a work folder this runner made, and may empty again
SMOKE_TEST_TOKENS = 24


@dataclass(frozen=True)
class Options:
    work: Path
    execution_name: str | None = None  # default: local-<date>-<time>
    mlflow: str = "start"  # start (a local server for this run), off, or the http URI of a running server
    environment: str = DEFAULT_ENVIRONMENT  # whose limits (cdk.json) ValidateInput applies
    sizes: DemoSizes = DemoSizes()
    threads: int = max(1, min(os.cpu_count() or 1, 8))


@dataclass
class RunFailed(Exception):
    """Ends the run at ``state`` with the error and cause the state machine's Fail shows."""

    state: str
    error: str
    cause: str
    clean_up: bool = True  # through "Clean up after the failure" first

    def __str__(self) -> str:
        return f"{self.error}: {self.cause}"


@dataclass
class LocalRunResult:
    visited: list[str]  # the work steps visited, in order (openforge_contract.states names)
    succeeded: bool
    end_state: str  # states.SUCCEEDED, states.FAILED or states.INPUT_INVALID
    error: dict | None  # {"error", "cause"} of a failed run
    summary: dict  # the execution's output (Summarise's shape) plus "local": where things are
    work: Path


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


def run_pipeline(pipeline_input, options: Options, out: TextIO | None = None) -> LocalRunResult:
    """Generate the account's data, then every step; never raises for a failed run.
    Progress goes to ``out`` (default: standard output)."""
    console = Console(out or sys.stdout)
    work = prepare_work(options.work)
    store = LocalS3(work / "s3")
    execution_name = options.execution_name or time.strftime("local-%Y%m%d-%H%M%S")
    console.say(f"OpenForge local run {execution_name}: work folder {_shown(work)} (S3 stand-in {_shown(store.root)})")
    with _tracking(options, work, console) as tracking:  # the server starts while the data is written
        began = time.monotonic()
        with _quiet_hub():
            data = write_demo_data(store, options.sizes)
        console.say(f"Account data written in {time.monotonic() - began:.1f} s: base model {data.base_model_s3_uri}, "
                    f"raw export {data.raw_data_s3_uri} ({data.counts['raw_lines']} lines), curated {data.curated_data_s3_uri}, "
                    f"evaluation {data.evaluation_data_s3_uri}")
        runner = _Runner(console, work, store, execution_name, options, tracking())
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
        from pipeline.local_mlflow import mlflow_server

        began = time.monotonic()
        with mlflow_server(work / "mlflow") as server:
            def ready() -> str:
                uri = server.ready()
                console.say(f"MLflow tracking server {uri} up after {time.monotonic() - began:.1f} s "
                            f"(store {_shown(work / 'mlflow' / 'mlflow.db')}); it stops when the run ends")
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


class _Runner:
    """One execution: the state it carries from step to step, as the state machine's JSON does."""

    def __init__(self, console: Console, work: Path, store: LocalS3, execution_name: str, options: Options, tracking_uri: str):
        self.console, self.work, self.store, self.execution_name, self.options = console, work, store, execution_name, options
        self.tracking_uri = tracking_uri
        self.visited: list[str] = []
        self.state: dict = {}
        self.jobs: list = []

    # --- the execution -------------------------------------------------------------------

    def run(self, pipeline_input, data: DemoData) -> LocalRunResult:
        try:
            self.validate(pipeline_input, data)
            self.sanitise()
            self.validation_run()
            self.mixes()
            self.pick()
            self.deploy()
            summary = self.summarise()
        except RunFailed as failure:
            return self.fail(failure)
        except Exception as error:  # a bug or an unreadable file: the Catch -> clean up -> Fail path
            self.console.say(traceback.format_exc().rstrip())
            return self.fail(RunFailed(states.FAILED, type(error).__name__, str(error)))
        self.add_tracked_runs(summary)
        self.write_summary(summary)
        self.print_summary(summary)
        self.console.say(f"[{self.console.clock()}] {states.SUCCEEDED}")
        return LocalRunResult(self.visited, True, states.SUCCEEDED, None, summary, self.work)

    def fail(self, failure: RunFailed) -> LocalRunResult:
        if failure.clean_up:
            with self.console.step(states.CLEAN_UP, self.visited) as step:
                step["detail"] = "nothing left running (local jobs run to the end or are stopped on their timeout)"
        error = {"error": failure.error, "cause": failure.cause}
        summary = self.partial_summary(error)
        self.write_summary(summary)
        self.console.say("")
        self.console.say(f"{states.FAILED if failure.state != states.INPUT_INVALID else states.INPUT_INVALID}: {failure.error}")
        self.console.say(f"  {failure.cause}")
        self.console.say(f"  (work folder {_shown(self.work)}; logs in {_shown(self.work / 'logs')})")
        end = states.INPUT_INVALID if failure.state == states.INPUT_INVALID else states.FAILED
        return LocalRunResult(self.visited, False, end, error, summary, self.work)

    # --- the steps -----------------------------------------------------------------------

    def validate(self, pipeline_input, data: DemoData) -> None:
        from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError, normalise
        from openforge_lambda.run_plan import PlatformLocations, plan_run

        with self.console.step(states.VALIDATE, self.visited) as step:
            config = environment_config(self.options.environment)
            policy = EnvironmentPolicy(
                base_model_s3_uri=data.base_model_s3_uri, curated_data_s3_uri=data.curated_data_s3_uri,
                evaluation_data_s3_uri=data.evaluation_data_s3_uri,
                training_instance_types=tuple(config.limits.training_instance_types), max_instance_count=config.limits.max_instance_count,
                endpoint_instance_types=tuple(config.serving.endpoint_instance_types))
            platform = PlatformLocations(DATASETS_BUCKET, ARTIFACTS_BUCKET, max_quarantine_percent=config.sanitisation.max_quarantine_percent)
            # What ValidateInput does with its event, returning a verdict rather than raising.
            try:
                run = normalise(pipeline_input, policy)
                plan = plan_run(run, self.execution_name, platform)
            except PipelineInputError as error:
                step.update(failed=True, detail=f"invalid: {error}")
                self.state = {VALID: False, ERROR: {"field": error.field, "cause": str(error)}}
            else:
                self.state = {VALID: True, ERROR: None, RUN: run, PLAN: plan}
                mixes = ", ".join(f"{mix['customer_data_percent']:g}%" for mix in plan["mixes"])
                step["detail"] = f"{run['job_name']}, {run['method']}, mix {mixes}, run {plan['run_id']} ({self.options.environment}'s limits)"
        if not self.state[VALID]:
            raise RunFailed(states.INPUT_INVALID, "InvalidInput", self.state[ERROR]["cause"], clean_up=False)

    def sanitise(self) -> None:
        from pipeline.local_sanitise import sanitise

        plan = self.state[PLAN]
        job, datasets = plan["sanitisation"], plan["buckets"]["datasets"]
        with self.console.step(states.SANITISE, self.visited) as step:
            summary = sanitise(self.store, datasets, job)
            self.state[SANITISATION] = {SANITISATION_SUMMARY: summary}
            step["failed"] = not summary["passed"]
            step["detail"] = (f"{summary['lines_in']} lines: {summary['clean']} clean, {summary['quarantined']} quarantined "
                              f"({summary['quarantined_percent']:.2f}%, limit {job['max_quarantine_percent']:g}%), {summary['duplicates']} duplicates")
        if not summary["passed"]:  # "Quarantined share within the limit?" -> "Too much data quarantined"
            raise RunFailed(states.FAILED, "QuarantineLimitExceeded", summary["cause"])

    def validation_run(self) -> None:
        from openforge_lambda.training_job import TrainingRequestRefused

        plan = self.state[PLAN]
        with self.console.step(states.VALIDATION_RUN, self.visited) as step:
            try:
                check = self.job("validation", plan["mixes"][0])
            except TrainingRequestRefused as error:  # the Lambda raised: Catch -> clean up -> Fail
                raise RunFailed(states.FAILED, "TrainingRequestRefused", str(error)) from None
            self.state[VALIDATION] = check
            step.update(detail=self.job_detail(check), failed=check["status"] != "Completed")
        if check["status"] != "Completed":
            raise RunFailed(states.FAILED, "ValidationRunFailed", check["failure_reason"] or "the validation run failed")

    def mixes(self) -> None:
        """Each mix in turn (the state machine's Map runs them in parallel); a failed mix is a
        result for the gate, not a failed run."""
        results = []
        for mix in self.state[PLAN]["mixes"]:
            results.append(self.one_mix(mix))
        self.state[RESULTS] = results

    def one_mix(self, mix: dict) -> dict:
        from openforge_lambda.training_job import TrainingRequestRefused

        outcome = {MIX: mix}
        for name, step_kind in ((states.TRAIN, TRAINING), (states.EVALUATE, EVALUATION)):
            with self.console.step(name, self.visited) as step:
                try:
                    check = self.job(step_kind, mix)
                except TrainingRequestRefused as error:  # the Lambda raised: the Map's Catch
                    step.update(detail=f"refused: {error}", failed=True)
                    return {MIX: mix, FAILED: {"step": "error", "error": "TrainingRequestRefused", "cause": str(error)}}
                step.update(detail=f"mix {mix['customer_data_percent']:g}%: " + self.job_detail(check), failed=check["status"] != "Completed")
            outcome[step_kind] = check
            if check["status"] != "Completed":
                return {MIX: mix, FAILED: {"step": step_kind, "job_name": check["job_name"], "cause": check["failure_reason"]}}
        return outcome

    def pick(self) -> None:
        from openforge_lambda.selection import pick

        with self.console.step(states.PICK, self.visited) as step:
            selection = pick(self.store.client(), self.state[RUN], self.state[PLAN], self.state[RESULTS], kms_key_id="local-no-kms")
            self.state[SELECTION] = selection
            step.update(detail=_first_sentence(selection["cause"]), failed=not selection["passed"])
        if not selection["passed"]:
            raise RunFailed(states.GATE_FAILED, selection["error"], selection["cause"], clean_up=False)

    def deploy(self) -> None:
        run, plan = self.state[RUN], self.state[PLAN]
        if not run["deploy"]["enabled"]:
            self.state[ENDPOINT] = {"status": "not requested"}
            self.console.say(f"[{self.console.clock()}]   {states.NO_DEPLOYMENT}")
            return
        chosen = self.state[SELECTION]["chosen"]
        with self.console.step(states.DEPLOY, self.visited) as step:
            smoke = smoke_test(self.store.path(chosen["model_s3_uri"]), self.store.path(plan["evaluation_data_s3_uri"]), self.options.threads)
            self.state[DEPLOYMENT] = {"endpoint_name": plan["endpoint_name"], "model_data_s3_uri": chosen["model_s3_uri"],
                                        "instance_type": run["deploy"]["instance_type"]}
            # CheckEndpoint's shape; locally the "endpoint" is the model loaded in this process.
            self.state[ENDPOINT] = {"endpoint_name": plan["endpoint_name"], "status": "InService", "failure_reason": None,
                                      "endpoint_config_name": None, "in_service": True, "settled": True, "local_smoke_test": smoke}
            step["detail"] = f"local smoke test in place of endpoint {plan['endpoint_name']} ({run['deploy']['instance_type']}): {smoke['seconds']:.1f} s"
            self.console.detail(f"prompt:    {_one_line(smoke['prompt'])}")
            self.console.detail(f"answer:    {_one_line(smoke['answer']) or '(empty; generated ' + repr(smoke['raw']) + ')'}")
            self.console.detail(f"reference: {_one_line(smoke['reference'])}")

    def summarise(self) -> dict:
        with self.console.step(states.SUMMARISE, self.visited):
            # The state machine's Summarise (a Pass state) in the same shape.
            summary = {name: _at(self.state, source) for name, source in OUTPUT.items()}
            summary["local"] = self.local_section()
        return summary

    # --- jobs ----------------------------------------------------------------------------

    def environment(self):
        """The StartTrainingJob function's environment, with local placeholders; the MLflow
        "ARN" is this run's own server (or none)."""
        from openforge_contract.environment_variables import TrainingEnvironment

        hours = environment_config(self.options.environment).limits.max_training_hours
        return TrainingEnvironment(
            gpu_image_uri="local/openforge-training:this-checkout", neuron_image_uri="local/openforge-training-neuron:this-checkout",
            role_arn="arn:aws:iam::000000000000:role/openforge-local-training", subnet_ids=("subnet-local",),
            security_group_ids=("sg-local",), kms_key_id="arn:aws:kms:local:000000000000:key/local",
            mlflow_tracking_server_arn=self.tracking_uri, max_runtime_seconds=hours * 3600)

    def job(self, step_kind: str, mix: dict) -> dict:
        """Build the request as the Lambda does, run it here, and return CheckTrainingJob's result."""
        from openforge_lambda.training_job import training_job_request

        from pipeline.local_jobs import LocalJobSettings, LocalRunRefused, run_job

        run, plan = self.state[RUN], self.state[PLAN]
        if run["compute"]["target"] != "training-job":
            raise RunFailed(states.FAILED, "LocalRunRefused", f"compute.target: {run['compute']['target']} runs on the environment's "
                                                            "HyperPod cluster; the local runner runs training-job targets only")
        request = training_job_request(step_kind, run, plan, mix, self.environment())
        self.console.detail(f"job {request['TrainingJobName']}: log {_shown(self.work / 'logs' / (request['TrainingJobName'] + '.log'))}")
        try:
            job = run_job(request, self.store, self.work, LocalJobSettings(threads=self.options.threads))
        except LocalRunRefused as error:
            raise RunFailed(states.FAILED, "LocalRunRefused", f"{request['TrainingJobName']}: {error}") from None
        self.jobs.append((step_kind, job))
        if job.status != "Completed":
            self.console.detail(f"{job.status}: {job.failure_reason}")
            tail = job.log_tail()
            if tail:
                self.console.detail(f"last lines of {_shown(job.log)}:")
                for line in tail.splitlines():
                    self.console.detail(f"  | {line}")
        return job.check_result(step_kind)

    def job_detail(self, check: dict) -> str:
        job = next(job for _, job in reversed(self.jobs) if job.name == check["job_name"])
        text = f"{check['job_name']} {check['status']} in {job.seconds:.0f} s"
        if check["status"] == "Completed" and check["output_s3_uri"]:
            record = self.store.path(check["output_s3_uri"]) / RUN_RECORD
            evaluation = self.store.path(check["output_s3_uri"]) / EVALUATION_RESULTS
            if record.is_file():
                run_record = json.loads(record.read_text())
                loss = run_record.get("final_loss")
                text += f", {run_record.get('steps')} steps, final loss {loss:.3f}" if isinstance(loss, (int, float)) else ""
            elif evaluation.is_file():
                gate = json.loads(evaluation.read_text())["gate"]
                text += f", gate {'passed' if gate['passed'] else 'failed'}"
        return text

    # --- the summary ---------------------------------------------------------------------

    def local_section(self) -> dict:
        plan = self.state.get(PLAN) or {}
        section = {
            "work": str(self.work),
            "s3_root": str(self.store.root),
            "logs": {job.name: str(job.log) for _, job in self.jobs},
            "mlflow": {"tracking_uri": self.tracking_uri or None, "store": str(self.work / "mlflow" / "mlflow.db") if self.options.mlflow == "start" else None,
                       "runs": {}},
            "files": {},
        }
        if plan:
            files = section["files"]
            files["sanitised"] = str(self.store.path(f"s3://{plan['buckets']['datasets']}/{plan['sanitisation']['output_prefix']}"))
            files["report"] = str(self.store.path(plan["report_s3_uri"]))
            for name in (COMPARISON_REPORT, COMPARISON_RESULTS, COMPARISON_CHART):
                path = self.store.path(plan["report_s3_uri"]) / name
                if path.is_file():
                    files[name] = str(path)
            for step_kind, job in self.jobs:
                if job.output_s3_uri:
                    files[job.name] = str(self.store.path(job.output_s3_uri))
        return section

    def partial_summary(self, error: dict) -> dict:
        summary = {JOB_NAME: (self.state.get(RUN) or {}).get(JOB_NAME), EXECUTION_NAME: self.execution_name, FAILURE: error}
        for key in (SANITISATION, VALIDATION_RUN, SELECTION):  # as far as the run got
            try:
                summary[key] = _at(self.state, OUTPUT[key])
            except KeyError:
                pass
        summary["local"] = self.local_section()
        return summary

    def add_tracked_runs(self, summary: dict) -> None:
        """The MLflow run of every job, by its name (the container names runs after the job)."""
        if not self.tracking_uri:
            return
        import logging

        from mlflow.tracking import MlflowClient

        # The sagemaker-mlflow plugin's header provider warns on every request to an http server.
        logging.getLogger("mlflow.tracking.request_header.registry").setLevel(logging.ERROR)
        client = MlflowClient(tracking_uri=self.tracking_uri)
        runs = summary["local"]["mlflow"]["runs"]
        experiments = [experiment.experiment_id for experiment in client.search_experiments()]
        for _, job in self.jobs:
            found = client.search_runs(experiments, filter_string=f"attributes.run_name = '{job.name}'", max_results=1)
            runs[job.name] = found[0].info.run_id if found else None

    def write_summary(self, summary: dict) -> None:
        (self.work / "summary.json").write_text(json.dumps(summary, indent=2, default=str) + "\n")

    def print_summary(self, summary: dict) -> None:
        for line in ["", f"=== {summary[JOB_NAME]}, execution {summary[EXECUTION_NAME]}: {states.SUCCEEDED} ===", "",
                     *summary_lines(summary), *local_lines(summary)]:
            self.console.say(line)


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
        rows.append(("Smoke test", f"{_one_line(smoke['prompt'])!r} -> {_one_line(smoke['answer'])!r} (reference {smoke['reference']!r})"))
    mlflow = local["mlflow"]
    if mlflow["tracking_uri"]:
        rows += [("MLflow" if index == 0 else "", f"{name} {run_id}") for index, (name, run_id) in enumerate(mlflow["runs"].items())]
        if mlflow["store"]:
            rows.append(("", f"browse: .venv/bin/mlflow ui --backend-store-uri sqlite:///{_shown(Path(mlflow['store']))}"))
    files = local["files"]
    chosen = summary[SELECTION].get("chosen")
    shown = [("S3 stand-in", f"{_shown(Path(local['s3_root']))}/"),
             ("sanitised", f"{_shown(Path(files['sanitised']))}/ (clean/, quarantine/, duplicates/, report.md)")]
    shown += [(name, _shown(Path(files[name]))) for name in (COMPARISON_REPORT, COMPARISON_CHART, COMPARISON_RESULTS) if name in files]
    if chosen:
        shown.append(("chosen model", f"{_shown(Path(files.get(chosen['training_job_name'], '')))}/"))
        if chosen["evaluation_job_name"] in files:
            shown.append(("evaluation", f"{_shown(Path(files[chosen['evaluation_job_name']]))}/{EVALUATION_REPORT}"))
    shown += [("job logs", f"{_shown(Path(local['work']) / 'logs')}/"), ("summary", _shown(Path(local["work"]) / "summary.json"))]
    return ["", "On this machine:", *key_values(rows + shown)]


def smoke_test(model_dir: Path, eval_dir: Path, threads: int) -> dict:
    """What the endpoint would be asked: one held-out prompt, answered greedily by the
    chosen model's merged weights with its own chat template."""
    began = time.monotonic()
    import torch
    from openforge_training.evaluation.byod import load
    from transformers import AutoModelForCausalLM, AutoTokenizer

    torch.set_num_threads(threads)
    held_out = load(eval_dir, limit=1)
    messages, reference = held_out.prompts[0], held_out.references[0]
    with _quiet_hub():
        tokenizer = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir, local_files_only=True)
    model.eval()
    inputs = tokenizer.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
    with torch.no_grad():
        output = model.generate(**inputs, max_new_tokens=SMOKE_TEST_TOKENS, do_sample=False,
                                pad_token_id=tokenizer.pad_token_id or tokenizer.eos_token_id)
    generated = output[0][inputs["input_ids"].shape[1]:]
    answer = tokenizer.decode(generated, skip_special_tokens=True).strip()
    prompt = messages[-1]["content"] if messages else ""
    return {"model": str(model_dir), "prompt": prompt, "answer": answer, "reference": reference, "new_tokens": len(generated),
            "raw": tokenizer.decode(generated), "seconds": round(time.monotonic() - began, 2)}


def environment_config(name: str):
    """The environment's settings from cdk.json (limits, serving, sanitisation), as the stack
    hands them to the pipeline's functions."""
    from stacks.environment_config import load_environment

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return load_environment(context, name)


@contextmanager
def _quiet_hub():
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


def _at(document: dict, fields: tuple[str, ...]):
    """The value at ``fields`` of the execution's JSON; KeyError where a step has not written it."""
    for field in fields:
        document = document[field]
    return document


def _shown(path: Path) -> str:
    """A path relative to the current folder when it lies under it."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path)


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


def _first_sentence(text: str) -> str:
    return text.split("; ")[0]


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


if __name__ == "__main__":
    sys.exit(main())
