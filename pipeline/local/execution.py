"""One local execution: the state machine's steps in its order (constructs/fine_tuning_pipeline/),
each through the code the cloud runs, carrying its state from step to step as the state
machine's JSON does; a failure ends it as the state machine's Fail would."""
from __future__ import annotations

import json
import os
import traceback
from dataclasses import dataclass
from pathlib import Path

from openforge_contract import states
from openforge_contract.execution_data import (DEPLOYMENT, ENDPOINT, ERROR, EVALUATION, EXECUTION_NAME, FAILED, FAILURE, JOB_NAME, MIX, OUTPUT, PLAN,
                                               RESULTS, RUN, SANITISATION, SANITISATION_SUMMARY, SELECTION, TRAINING, VALID, VALIDATION,
                                               VALIDATION_RUN)
from openforge_contract.run_record import COMPARISON_CHART, COMPARISON_REPORT, COMPARISON_RESULTS, EVALUATION_RESULTS, RUN_RECORD
from pipeline.local.console import Console, local_lines, one_line, shown_path
from pipeline.local.demo_data import ARTIFACTS_BUCKET, DATASETS_BUCKET, DemoData, DemoSizes
from pipeline.local.plot import COMPARISON_PNG, comparison_png
from pipeline.local.s3 import LocalS3
from pipeline.local.smoke_test import smoke_test
from pipeline.summary import summary_lines

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_ENVIRONMENT = "dev"


@dataclass(frozen=True)
class Options:
    """What a local run is asked to do (``python -m pipeline.local``'s options)."""

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


class Execution:
    """One execution: the state it carries from step to step, as the state machine's JSON does."""

    def __init__(self, console: Console, work: Path, store: LocalS3, execution_name: str, options: Options, tracking_uri: str):
        self.console, self.work, self.store, self.execution_name, self.options = console, work, store, execution_name, options
        self.tracking_uri = tracking_uri
        self.visited: list[str] = []
        self.state: dict = {}
        self.jobs: list = []
        self.demo_counts: dict | None = None  # what write_demo_data put in the S3 stand-in

    # --- the execution -------------------------------------------------------------------

    def run(self, pipeline_input, data: DemoData) -> LocalRunResult:
        self.demo_counts = data.counts
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
        self.console.say(f"  (work folder {shown_path(self.work)}; logs in {shown_path(self.work / 'logs')})")
        end = states.INPUT_INVALID if failure.state == states.INPUT_INVALID else states.FAILED
        return LocalRunResult(self.visited, False, end, error, summary, self.work)

    # --- the steps -----------------------------------------------------------------------

    def validate(self, pipeline_input, data: DemoData) -> None:
        from openforge_lambda.capacity_check import read_model_config
        from openforge_lambda.pipeline_input import EnvironmentPolicy
        from openforge_lambda.pipeline_steps import validate_input
        from openforge_lambda.run_plan import PlatformLocations

        with self.console.step(states.VALIDATE, self.visited) as step:
            config = environment_config(self.options.environment)
            policy = EnvironmentPolicy(
                base_model_s3_uri=data.base_model_s3_uri, curated_data_s3_uri=data.curated_data_s3_uri,
                evaluation_data_s3_uri=data.evaluation_data_s3_uri,
                training_instance_types=tuple(config.limits.training_instance_types), max_instance_count=config.limits.max_instance_count,
                endpoint_instance_types=tuple(config.serving.endpoint_instance_types))
            platform = PlatformLocations(DATASETS_BUCKET, ARTIFACTS_BUCKET, max_quarantine_percent=config.sanitisation.max_quarantine_percent)
            # What ValidateInput does with its event: a verdict rather than an exception.
            self.state = validate_input({"input": pipeline_input, "execution_name": self.execution_name}, policy, platform,
                                        lambda uri: read_model_config(self.store.client(), uri))
            if not self.state[VALID]:
                step.update(failed=True, detail=f"invalid: {self.state[ERROR]['cause']}")
            else:
                run, plan = self.state[RUN], self.state[PLAN]
                mixes = ", ".join(f"{mix['customer_data_percent']:g}%" for mix in plan["mixes"])
                step["detail"] = f"{run['job_name']}, {run['method']}, mix {mixes}, run {plan['run_id']} ({self.options.environment}'s limits)"
        if not self.state[VALID]:
            raise RunFailed(states.INPUT_INVALID, "InvalidInput", self.state[ERROR]["cause"], clean_up=False)

    def sanitise(self) -> None:
        from pipeline.local.sanitise import sanitise

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
        from openforge_lambda.run import Run
        from openforge_lambda.run_plan import RunPlan
        from openforge_lambda.selection import pick

        with self.console.step(states.PICK, self.visited) as step:
            selection = pick(self.store.client(), Run.from_dict(self.state[RUN]), RunPlan.from_dict(self.state[PLAN]), self.state[RESULTS],
                             kms_key_id="local-no-kms")
            self.state[SELECTION] = selection
            comparison_png(selection, self.work / COMPARISON_PNG)  # locally also a picture, refused mixes included
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
            self.console.detail(f"prompt:    {one_line(smoke['prompt'])}")
            self.console.detail(f"answer:    {one_line(smoke['answer']) or '(empty; generated ' + repr(smoke['raw']) + ')'}")
            self.console.detail(f"reference: {one_line(smoke['reference'])}")

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
        from openforge_lambda.run import Run
        from openforge_lambda.run_plan import Mix, RunPlan
        from openforge_lambda.training_job import job_plan, training_job_request

        from pipeline.local.jobs import LocalJobSettings, LocalRunRefused, run_job

        run, plan = Run.from_dict(self.state[RUN]), RunPlan.from_dict(self.state[PLAN])  # as StartTrainingJob reads them
        if run.compute.target != "training-job":
            raise RunFailed(states.FAILED, "LocalRunRefused", f"compute.target: {run.compute.target} runs on the environment's "
                                                            "HyperPod cluster; the local runner runs training-job targets only")
        environment = self.environment()
        job = job_plan(step_kind, run, plan, Mix.from_dict(mix), mlflow_tracking_uri=environment.mlflow_tracking_server_arn)
        request = training_job_request(job, environment)
        self.console.detail(f"job {request['TrainingJobName']}: log {shown_path(self.work / 'logs' / (request['TrainingJobName'] + '.log'))}")
        try:
            job = run_job(request, self.store, self.work, LocalJobSettings(threads=self.options.threads))
        except LocalRunRefused as error:
            raise RunFailed(states.FAILED, "LocalRunRefused", f"{request['TrainingJobName']}: {error}") from None
        self.jobs.append((step_kind, job))
        if job.status != "Completed":
            self.console.detail(f"{job.status}: {job.failure_reason}")
            tail = job.log_tail()
            if tail:
                self.console.detail(f"last lines of {shown_path(job.log)}:")
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
            "demo_data": self.demo_counts,
        }
        if plan:
            files = section["files"]
            files["sanitised"] = str(self.store.path(f"s3://{plan['buckets']['datasets']}/{plan['sanitisation']['output_prefix']}"))
            files["report"] = str(self.store.path(plan["report_s3_uri"]))
            for name in (COMPARISON_REPORT, COMPARISON_RESULTS, COMPARISON_CHART):
                path = self.store.path(plan["report_s3_uri"]) / name
                if path.is_file():
                    files[name] = str(path)
            if (self.work / COMPARISON_PNG).is_file():
                files[COMPARISON_PNG] = str(self.work / COMPARISON_PNG)
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


def environment_config(name: str):
    """The environment's settings from cdk.json (limits, serving, sanitisation), as the stack
    hands them to the pipeline's functions."""
    from platform_config.environments import load_environment

    context = json.loads((ROOT / "cdk.json").read_text())["context"]
    return load_environment(context, name)


def _at(document: dict, fields: tuple[str, ...]):
    """The value at ``fields`` of the execution's JSON; KeyError where a step has not written it."""
    for field in fields:
        document = document[field]
    return document


def _first_sentence(text: str) -> str:
    return text.split("; ")[0]
