"""The console's equivalent for a terminal: start a fine-tuning run, follow it state by
state, read its summary.

    python -m pipeline.cli start FILE --env ENV [--name NAME] [--follow]
    python -m pipeline.cli follow EXECUTION_ARN
    python -m pipeline.cli summary EXECUTION_ARN
    python -m pipeline.cli stop EXECUTION_ARN

``start`` reads the pipeline input (JSON, docs/pipeline-input.md), checks it here first,
finds the environment's state machine (``OpenForge-<env>-FineTune`` in the account and region
of ``cdk.json``'s ``environments.<env>``, or ``--state-machine-arn``), starts an execution
named ``<job_name>-<UTC timestamp>`` unless ``--name`` says otherwise, and prints the
execution's ARN and its console URL.

The check before starting is the schema (``openforge_lambda.pipeline_input``: a missing
required field, an unknown field, a wrong type or a value out of range) plus the rules across
fields that do not depend on the environment (curated weights sum to 100, batch sizes divide,
HyperPod worker types), so a typo fails here, naming the field, before anything is sent. What
depends on the environment (its default base model, curated and evaluation data, its
instance-type and instance-count limits) is not known here: ``ValidateInput`` checks that
in the cloud, and a refusal there fails the run at its first state with the field named.
The input is sent as written; the defaults are filled in the cloud.

``follow`` polls the execution's history (every page, newest first, until what it has
already seen) and prints one line per state as it is entered and as it finishes, with its
entry time (UTC) and how long it took; the Map's iterations are labelled by their mix, and
the polling states (Wait, Check, Choice) are folded into the job they poll, so
"Start training [mix 75%] ... done (4m 12s)" is the training job's time. While a SageMaker
training job runs, its status, secondary status and latest status message are printed as
they change (the SageMaker SDK's ``TrainingJob`` resource when ``sagemaker-core`` is
installed, boto3 otherwise). At the end it prints the summary: the execution's output
(sanitisation counts, validation run, each mix's row, the gate's verdict and cause, the
chosen model, MLflow run ids, the endpoint), or the error and cause of a failed run.
``summary`` prints only that. ``stop`` stops a running execution and then does what its
failure path would have (a stop runs none of its states): stops this run's jobs still
running and rolls back a deployment that had started.

Exit status: 0 the run succeeded (or was started, without ``--follow``); 1 it failed, was
aborted or timed out; 2 the command could not be carried out (a missing or unreadable file,
bad JSON, an input the check refuses, an unknown environment, an execution that does not
exist, or AWS refusing the call), with one line on standard error naming what is wrong;
3 ``summary`` of a run that has not finished; 130 ``follow`` stopped with Ctrl-C (the run
goes on).

Everything that turns history and output into text (``Progress`` here, ``summary_lines`` and
``failure_lines`` in pipeline/summary.py, which the local runner prints too) is pure, so it is
tested without AWS.
"""
from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import TextIO

from openforge_contract import execution_data, naming, states
from openforge_contract.execution_data import (DEPLOYMENT_LOOP, ERROR, FAILED, FAILURE, MIX, PLAN, ROLLBACK, RUN, SANITISATION, SANITISATION_SUMMARY,
                                               SELECTION, VALID, JobLoop)
from pipeline.summary import ENDED_AS, failure_lines, key_values, summary_lines
from pipeline.summary import percent as _percent

ROOT = Path(__file__).resolve().parent.parent
CDK_JSON = ROOT / "cdk.json"
DEFAULT_POLL_SECONDS = 10.0
EXECUTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"
CAUSE_CHARACTERS = 300  # of a cause shown inside a progress line; the summary shows all of it

EXIT_OK, EXIT_RUN_FAILED, EXIT_USAGE, EXIT_NOT_FINISHED, EXIT_INTERRUPTED = 0, 1, 2, 3, 130
FINISHED = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionAborted": "ABORTED", "ExecutionTimedOut": "TIMED_OUT"}


class UsageError(Exception):
    """The command cannot be carried out; the message is the one line a person reads."""


# ---------------------------------------------------------------------------------------
# The input, the state machine, the execution's name


def check_input(path: str | Path) -> dict:
    """The pipeline input in ``path``, checked as far as it can be without the environment
    (see the module's docstring); UsageError names the file and the field."""
    from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError, normalise

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot be read ({error})") from None
    try:
        pipeline_input = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None
    # Stand-ins for the environment's defaults, so only the environment-independent rules
    # apply; the stand-ins never leave this function (the input is sent as written).
    unknown_here = "s3://environment-default/"
    policy = EnvironmentPolicy(base_model_s3_uri=unknown_here, curated_data_s3_uri=unknown_here, evaluation_data_s3_uri=unknown_here)
    try:
        normalise(pipeline_input, policy)
    except PipelineInputError as error:
        raise UsageError(f"{path}: {error}") from None
    return pipeline_input




def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def state_machine_arn(env: str, cdk_json: Path = CDK_JSON) -> str:
    """arn:<partition>:states:<region>:<account>:stateMachine:OpenForge-<env>-FineTune, with
    the account and region of cdk.json's environments.<env>."""
    try:
        environments = json.loads(cdk_json.read_text())["context"]["environments"]
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"{cdk_json}: cannot read context.environments ({error})") from None
    if env not in environments:
        raise UsageError(f"unknown environment {env!r}: {cdk_json.name} defines {', '.join(sorted(environments))}")
    account, region = environments[env].get("account"), environments[env].get("region")
    if not account or not region:
        raise UsageError(f"{cdk_json.name}: environments.{env} has no account or region")
    return f"arn:{partition_of(region)}:states:{region}:{account}:stateMachine:{naming.fine_tuning_state_machine(env)}"


def execution_name(job_name: str, now: datetime) -> str:
    """<job_name>-<UTC timestamp>, e.g. support-tickets-20261201T143633Z."""
    return f"{job_name}-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"


def arn_parts(arn: str) -> tuple[str, str]:
    """(partition, region) of a Step Functions ARN; UsageError if it is not one."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "states" or not parts[3]:
        raise UsageError(f"{arn!r} is not a Step Functions ARN (arn:aws:states:<region>:<account>:execution:<machine>:<name>)")
    return parts[1], parts[3]


def console_url(execution_arn: str) -> str:
    partition, region = arn_parts(execution_arn)
    host = {"aws-cn": f"{region}.console.amazonaws.cn", "aws-us-gov": "console.amazonaws-us-gov.com"}.get(
        partition, f"{region}.console.aws.amazon.com")
    return f"https://{host}/states/home?region={region}#/v2/executions/details/{execution_arn}"


# ---------------------------------------------------------------------------------------
# Progress: the execution's history as lines a person reads


# The states that start something, and the Wait/Check/Choice loops that poll it.
JOB_LOOPS = {loop.start: loop for loop in execution_data.JOB_LOOPS}
KINDS = {states.VALIDATION_RUN: "validation run", states.TRAIN: "training job", states.EVALUATE: "evaluation job", states.DEPLOY: "endpoint"}
POLLED_BY = {loop.check: start for start, loop in JOB_LOOPS.items()}
# Not shown on their own: a job's Check is part of its start state's line, a mix's result is
# in the summary, and a shard is one of many inside the Distributed Map.
HIDDEN = {*POLLED_BY, states.MIX_RESULT, states.SANITISE_SHARD}
HIDDEN_TYPES = ("Wait", "Choice", "Succeed", "Fail")
# Pass states that carry a cause worth a line: where they put it.
PASS_CAUSES = {states.QUARANTINE_EXCEEDED: (ERROR, "Cause"), states.VALIDATION_FAILED: (ERROR, "Cause"),
               states.GATE_FAILED: (FAILURE, "cause"), states.ENDPOINT_FAILED: (FAILURE, "cause"),
               states.MIX_ERROR: (FAILED, "cause"), **{name: (FAILED, "cause") for name in states.MIX_FAILED.values()}}


@dataclass
class Job:
    """A job (or endpoint) a start state made, while its loop polls it."""

    name: str
    kind: str
    target: str | None  # training-job or hyperpod; None for an endpoint
    label: str | None
    status: str | None = None
    detail: str | None = None  # the last SageMaker detail line printed

    @property
    def is_training_job(self) -> bool:
        return self.target == "training-job"


@dataclass
class Record:
    name: str
    state_type: str  # Task, Map, Pass, ...
    label: str | None  # the mix, inside the Map
    entered: datetime
    announced: bool = False
    job: Job | None = None
    failure: tuple[str, str] | None = None  # (error, cause) of a failed attempt, until a retry or the end

    @property
    def depth(self) -> int:
        return 1 if self.label else 0


@dataclass
class Progress:
    """Feed it the history's events (in any batches, each event once); it returns the lines
    to print. Pure: no AWS, no clock."""

    started: datetime | None = None
    status: str | None = None  # SUCCEEDED / FAILED / ABORTED / TIMED_OUT once the run has ended
    error: str | None = None
    cause: str | None = None
    output: dict | None = None  # the execution's output, from its last event
    selection: dict | None = None  # the Pick state's result, for a failure's summary
    visited: list[str] = field(default_factory=list)  # every state entered, in order
    _open: list[Record] = field(default_factory=list)
    _states: dict[int, tuple[str, str | None]] = field(default_factory=dict)  # event id -> (state, lane)
    _lines: list[str] = field(default_factory=list)

    @property
    def finished(self) -> bool:
        return self.status is not None

    def feed(self, events: Iterable[Mapping]) -> list[str]:
        self._lines = []
        for event in sorted(events, key=lambda e: e["id"]):
            self._event(event)
        for record in self._open:
            self._announce(record)
        return self._lines

    def running_jobs(self) -> list[Job]:
        """The SageMaker training jobs being polled now (not HyperPod's Slurm jobs, not endpoints)."""
        return [record.job for record in self._open if record.job and record.job.is_training_job]

    def job_detail(self, job: Job, detail: Mapping | None) -> list[str]:
        """A line when a running training job's SageMaker status has changed."""
        text = training_job_text(job.name, detail)
        if text is None or text == job.detail:
            return []
        job.detail = text
        record = next((r for r in self._open if r.job is job), None)
        return [_detail_line(record.depth if record else 0, text)]

    # --- events ------------------------------------------------------------------------

    def _event(self, event: Mapping) -> None:
        kind, at = event["type"], _timestamp(event["timestamp"])
        previous = self._states.get(event.get("previousEventId") or 0)
        if kind == "ExecutionStarted":
            self.started = at
        elif kind == "ExecutionRedriven":
            self.status = self.error = self.cause = None
            self._emit(f"  {_clock(at)}  Run redriven")
        elif kind in FINISHED:
            self._ended(FINISHED[kind], _details(event), at)
        elif kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails", {})
            lane = _lane(details.get("input"), previous)
            self._states[event["id"]] = (details.get("name"), lane)
            self._entered(details.get("name"), kind[: -len("StateEntered")], lane, at)
            return
        elif kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails", {})
            output = _json(details.get("output"))
            lane = _lane(details.get("output"), previous) if output is not None else self._lane_of_open(details.get("name"), previous)
            self._states[event["id"]] = (details.get("name"), lane)
            self._exited(details.get("name"), lane, output, at)
            return
        elif kind in ("LambdaFunctionScheduled", "TaskScheduled"):
            record = self._record_for(previous)
            if record:
                record.failure = None  # a retry: the earlier attempt's failure no longer counts
        elif kind.endswith(("Failed", "TimedOut")) and not kind.startswith("Execution"):
            details = _details(event)
            if "error" in details or "cause" in details:
                record = self._open_map() if kind.startswith("Map") else self._record_for(previous)
                if record:
                    record.failure = (details.get("error") or kind, details.get("cause") or "")
        self._states[event["id"]] = previous

    def _entered(self, name: str, state_type: str, lane: str | None, at: datetime) -> None:
        self.visited.append(name)
        # A caught failure may go straight to the next state: the failed record ends here.
        for record in [r for r in self._open if r.label == lane and r.failure and r.state_type != "Map"]:
            self._close(record, at, _failed(record.failure))
        # So may a failed Map: a state at the top level after it, without its exit, ends it.
        if lane is None and name != states.SANITISE_SHARD:
            for record in [r for r in self._open if r.state_type == "Map"]:
                self._close(record, at, _failed(record.failure) if record.failure else "failed")
        if name in HIDDEN or state_type in HIDDEN_TYPES:
            return
        same = self._find(name, lane)
        if same:
            self._close(same, at, "done")
        self._open.append(Record(name, state_type, lane, at))

    def _exited(self, name: str, lane: str | None, output, at: datetime) -> None:
        output = output if isinstance(output, Mapping) else {}
        if name in POLLED_BY:
            self._checked(self._find(POLLED_BY[name], lane), JOB_LOOPS[POLLED_BY[name]], output, at)
            return
        record = self._find(name, lane)
        if record is None:
            return
        if record.failure:
            self._close(record, at, _failed(record.failure))
        elif name in JOB_LOOPS:
            self._job_started(record, JOB_LOOPS[name], output.get(JOB_LOOPS[name].started), at)
        elif record.state_type == "Pass":
            cause = _path(output, *PASS_CAUSES[name]) if name in PASS_CAUSES else None
            self._open.remove(record)
            self._emit(_state_line(record, f": {_short(cause)}" if cause else ""))
        else:
            if name == states.PICK:
                self.selection = output.get(SELECTION)
            self._close(record, at, _outcome(name, output))

    def _job_started(self, record: Record, loop: JobLoop, started, at: datetime) -> None:
        started = started if isinstance(started, Mapping) else {}
        if loop is DEPLOYMENT_LOOP:
            name = started.get("endpoint_name") or "?"
            record.job = Job(name, KINDS[loop.start], None, record.label)
            action = started.get("action") or "deploying"
            self._emit(_detail_line(record.depth, f"endpoint {name}: {action}, model {started.get('model_name') or '?'}"))
            return
        name, target = started.get("job_name") or "?", started.get("target")
        record.job = Job(name, KINDS[loop.start], target, record.label)
        where = {"training-job": "SageMaker training job", "hyperpod": "Slurm job on the HyperPod cluster"}.get(target, target or "job")
        self._emit(_detail_line(record.depth, f"{KINDS[loop.start]} {name} started ({where})"))

    def _checked(self, record: Record | None, loop: JobLoop, output: Mapping, at: datetime) -> None:
        status = output.get(loop.status)
        if record is None or not isinstance(status, Mapping):
            return
        job = record.job or Job(str(status.get("job_name") or status.get("endpoint_name") or "?"), KINDS[loop.start], status.get("target"),
                                record.label)
        record.job = job
        settled = status.get("settled") if loop is DEPLOYMENT_LOOP else status.get("done") or status.get("status") == "Completed"
        if status.get("status") != job.status and not settled:  # a settled status is in the state's closing line
            job.status = status.get("status")
            self._emit(_detail_line(record.depth, f"{job.name}: {job.status}"))
        if loop is DEPLOYMENT_LOOP:
            if status.get("in_service"):
                self._close(record, at, f"done: endpoint {job.name} in service")
            elif status.get("settled"):
                self._close(record, at, f"endpoint {job.name} {status.get('status')}: {_short(status.get('failure_reason') or 'no reason given')}")
        elif status.get("status") == "Completed":
            self._close(record, at, "done")
        elif status.get("done"):
            self._close(record, at, f"{status.get('status')}: {_short(status.get('failure_reason') or 'no reason given')}")

    def _ended(self, status: str, details: Mapping, at: datetime) -> None:
        self.status = status
        self.error, self.cause = details.get("error"), details.get("cause")
        self.output = _json(details.get("output")) if status == "SUCCEEDED" else None
        for record in list(self._open):
            outcome = _failed(record.failure) if record.failure else ("done" if status == "SUCCEEDED" else f"stopped: the run {status.lower().replace('_', ' ')}")
            self._close(record, at, outcome)
        took = f" after {_elapsed((at - self.started).total_seconds())}" if self.started else ""
        ending = f": {self.error}" if status != "SUCCEEDED" and self.error else ""
        self._emit(f"  {_clock(at)}  {ENDED_AS[status]}{took}{ending}")

    # --- records and lines ----------------------------------------------------------------

    def _find(self, name: str, lane: str | None) -> Record | None:
        return next((r for r in self._open if r.name == name and r.label == lane), None)

    def _open_map(self) -> Record | None:
        return next((r for r in reversed(self._open) if r.state_type == "Map"), None)

    def _record_for(self, state: tuple[str, str | None] | None) -> Record | None:
        """The open record an event belongs to, from the state it follows."""
        if not state:
            return None
        name, lane = state
        return self._find(POLLED_BY.get(name, name), lane)

    def _lane_of_open(self, name: str, previous) -> str | None:
        lanes = {r.label for r in self._open if r.name == name}
        return lanes.pop() if len(lanes) == 1 else (previous[1] if previous else None)

    def _close(self, record: Record, at: datetime, outcome: str) -> None:
        self._open.remove(record)
        self._emit(_state_line(record, f" ... {outcome} ({_elapsed((at - record.entered).total_seconds())})"))

    def _announce(self, record: Record) -> None:
        if not record.announced:
            record.announced = True
            self._lines.append(_state_line(record, " ..."))

    def _emit(self, line: str) -> None:
        """A line, after the states still open have said they started: a job's details come
        after its state's first line."""
        for record in self._open:
            self._announce(record)
        self._lines.append(line)


def render(events: Iterable[Mapping]) -> list[str]:
    """The whole history at once, as ``follow`` prints it."""
    return Progress().feed(events)


def training_job_text(name: str, detail: Mapping | None) -> str | None:
    """One training job's SageMaker status in words: "tickets-t75-1a2b: InProgress, Training -
    Training image download completed. Training in progress."."""
    if not detail or not detail.get("status"):
        return None
    text = f"{name}: {detail['status']}"
    if detail.get("secondary_status") and detail["secondary_status"] != detail["status"]:
        text += f", {detail['secondary_status']}"
    if detail.get("message"):
        text += f" - {detail['message']}"
    if detail.get("failure_reason"):
        text += f" ({_short(detail['failure_reason'])})"
    return text


def _outcome(name: str, output: Mapping) -> str:
    if name == states.VALIDATE:
        if output.get(VALID) is False:
            return f"invalid: {_short(_path(output, ERROR, 'cause') or 'no cause given')}"
        return "done" + (f": {_run_in_words(output)}" if isinstance(output.get(PLAN), Mapping) else "")
    if name == states.SUMMARISE_SANITISATION:
        summary = _path(output, SANITISATION, SANITISATION_SUMMARY)
        if isinstance(summary, Mapping) and "lines_in" in summary:
            verdict = "" if summary.get("passed", True) else ", over the quarantine limit"
            return (f"done: {summary.get('lines_in')} lines in, {summary.get('clean')} clean, {summary.get('quarantined')} quarantined, "
                    f"{summary.get('duplicates')} duplicates{verdict}")
    if name == states.PICK:
        selection = output.get(SELECTION)
        if isinstance(selection, Mapping):
            chosen = selection.get("chosen")
            if selection.get("passed") and isinstance(chosen, Mapping):
                return f"done: gate passed, mix {_percent(chosen.get('customer_data_percent'))} chosen"
            return "done: no mix passed the gate"
    if name == states.CLEAN_UP:
        stopped = _path(output, FAILURE, "stopped_jobs")
        if stopped:
            return f"done: stopped {', '.join(map(str, stopped))}"
    if name == states.ROLL_BACK:
        actions = _path(output, ROLLBACK, "actions")
        if actions:
            return f"done: {'; '.join(map(str, actions))}"
    return "done"


def _run_in_words(output: Mapping) -> str:
    run, plan = output.get(RUN) or {}, output[PLAN]
    mixes = [m.get("customer_data_percent") for m in plan.get("mixes") or [] if isinstance(m, Mapping)]
    text = f"{len(mixes)} mix{'es' if len(mixes) != 1 else ''} ({', '.join(_percent(p) for p in mixes)})"
    compute = run.get("compute") or {}
    if compute:
        text += f", {compute.get('instance_type')} x{compute.get('instance_count')} ({compute.get('target')})"
    deploy = run.get("deploy") or {}
    text += f", then deploy on {deploy.get('instance_type')}" if deploy.get("enabled") else ", no deployment"
    return text


def _failed(failure: tuple[str, str]) -> str:
    error, cause = failure
    return f"failed: {error}" + (f": {_short(cause)}" if cause else "")


def _state_line(record: Record, suffix: str) -> str:
    label = f" [{record.label}]" if record.label else ""
    return f"  {_clock(record.entered)}  {'  ' * record.depth}{record.name}{label}{suffix}"


def _detail_line(depth: int, text: str) -> str:
    return f"{'':12}{'  ' * depth}  {text}"


def _lane(document: str | None, previous) -> str | None:
    """The mix a state runs for (inside the Map its input has one), or None at the top level;
    an input that is not there (truncated, or left out) is in the previous event's lane."""
    data = _json(document)
    if data is None:
        return previous[1] if previous else None
    mix = data.get(MIX) if isinstance(data, Mapping) else None
    if isinstance(mix, Mapping) and "customer_data_percent" in mix:
        return f"mix {_percent(mix['customer_data_percent'])}"
    return None


def _details(event: Mapping) -> Mapping:
    return next((value for key, value in event.items() if key.endswith("EventDetails") and isinstance(value, Mapping)), {})


def _json(text):
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None


def _path(data, *keys):
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


def _timestamp(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value))


def _clock(at: datetime) -> str:
    return f"{at.astimezone(timezone.utc):%H:%M:%S}"


def _elapsed(seconds: float) -> str:
    total = max(0, int(round(seconds)))
    if total < 60:
        return f"{total}s"
    minutes, secs = divmod(total, 60)
    if minutes < 60:
        return f"{minutes}m {secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h {minutes:02d}m"


def _short(text, limit: int = CAUSE_CHARACTERS) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"



# ---------------------------------------------------------------------------------------
# AWS: history pages, training job details, the commands


def new_events(sfn, execution_arn: str, after: int, page_size: int | None = None) -> list[dict]:
    """The history's events with an id above ``after``, oldest first (openforge_lambda.ended_execution)."""
    from openforge_lambda.ended_execution import events_after

    return events_after(sfn, execution_arn, after, **({"page_size": page_size} if page_size else {}))


def training_job_describer(session) -> Callable[[str], dict]:
    """name -> {"status", "secondary_status", "message", "failure_reason"}: the SageMaker
    SDK's TrainingJob resource when sagemaker-core is installed (imported here, on first
    need: it takes seconds), boto3's DescribeTrainingJob otherwise."""
    region, resource = session.region_name, []

    def describe(name: str) -> dict:
        if not resource:
            try:
                from sagemaker.core.resources import TrainingJob
            except ImportError:
                TrainingJob = None
            resource.append(TrainingJob)
        TrainingJob = resource[0]
        if TrainingJob is not None:
            job = TrainingJob.get(training_job_name=name, session=session, region=region)
            transitions = job.secondary_status_transitions or []
            return {"status": job.training_job_status, "secondary_status": job.secondary_status,
                    "message": transitions[-1].status_message if transitions else None, "failure_reason": job.failure_reason or None}
        job = session.client("sagemaker").describe_training_job(TrainingJobName=name)
        transitions = job.get("SecondaryStatusTransitions") or []
        return {"status": job.get("TrainingJobStatus"), "secondary_status": job.get("SecondaryStatus"),
                "message": transitions[-1].get("StatusMessage") if transitions else None, "failure_reason": job.get("FailureReason") or None}

    return describe


@dataclass
class Terminal:
    out: TextIO
    err: TextIO

    def say(self, *lines: str) -> None:
        for line in lines:
            print(line, file=self.out, flush=True)


def follow(sfn, execution_arn: str, terminal: Terminal, *, poll_seconds: float = DEFAULT_POLL_SECONDS,
           describe_job: Callable[[str], dict] | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Print the run's progress until it ends, then its summary; the exit status."""
    described = sfn.describe_execution(executionArn=execution_arn)
    started = _timestamp(described["startDate"])
    machine = described.get("stateMachineArn", "").rsplit(":", 1)[-1]
    terminal.say(f"{described.get('name')} ({machine}), started {started.astimezone(timezone.utc):%Y-%m-%d %H:%M:%S} UTC; times are UTC")
    progress, seen, unavailable = Progress(), 0, set()
    while True:
        events = new_events(sfn, execution_arn, seen)
        if events:
            seen = events[-1]["id"]
        terminal.say(*progress.feed(events))
        if progress.finished:
            break
        for job in progress.running_jobs() if describe_job else []:
            if job.name in unavailable:
                continue
            try:
                terminal.say(*progress.job_detail(job, describe_job(job.name)))
            except Exception as error:  # details are a courtesy: the run's own history goes on
                unavailable.add(job.name)
                terminal.say(_detail_line(1 if job.label else 0, f"{job.name}: no SageMaker details ({_aws_problem(error)})"))
        sleep(poll_seconds)
    terminal.say("")
    return _print_result(sfn.describe_execution(executionArn=execution_arn), progress, terminal)


def summary(sfn, execution_arn: str, terminal: Terminal) -> int:
    described = sfn.describe_execution(executionArn=execution_arn)
    if described["status"] in ("RUNNING", "PENDING_REDRIVE"):
        progress = Progress()
        progress.feed(new_events(sfn, execution_arn, 0))
        now_at = [name for name in progress.visited if name][-1:] or ["(not started)"]
        terminal.say(f"{described.get('name')} is still running (status {described['status']}), last state entered: {now_at[0]}")
        return EXIT_NOT_FINISHED
    progress = Progress()
    if described["status"] != "SUCCEEDED":
        progress.feed(new_events(sfn, execution_arn, 0))  # the gate's rows, when it got that far
    return _print_result(described, progress, terminal)


STOPPED_ERROR, STOPPED_CAUSE = "StoppedByUser", "stopped from the command line (pipeline.cli stop)"


def stop(session, sfn, execution_arn: str, terminal: Terminal) -> int:
    """Stop a running execution, then what it started: a stop runs no state of the
    execution's own, so this does its clean-up at once (openforge_lambda.ended_execution, which the
    CleanUpEndedRun Lambda also runs on the stop's EventBridge event): this run's jobs still
    running stopped, a started deployment rolled back."""
    described = sfn.describe_execution(executionArn=execution_arn)
    if described["status"] != "RUNNING":
        terminal.say(f"{described.get('name')} has already ended ({described['status']}): nothing to stop")
        return EXIT_OK
    sfn.stop_execution(executionArn=execution_arn, error=STOPPED_ERROR, cause=STOPPED_CAUSE)
    terminal.say(f"Stopped {execution_arn}")
    from openforge_lambda.ended_execution import clean_up_execution

    environment = naming.environment_of_execution(execution_arn)
    result = clean_up_execution(session.client, execution_arn, {"Error": STOPPED_ERROR, "Cause": STOPPED_CAUSE}, validate_state=states.VALIDATE,
                                deploy_state=states.DEPLOY, hyperpod_cluster=naming.cluster_name(environment))
    rows = [("Stopped jobs", ", ".join(result["stopped_jobs"]) or "none running")]
    rows += [("Removed", item) for item in result["removed"]]
    rows += [("Problem", problem) for problem in result["cleanup_problems"]]
    terminal.say(*key_values(rows))
    return EXIT_RUN_FAILED if result["cleanup_problems"] else EXIT_OK


def _aws_problem(error: Exception) -> str:
    problem = getattr(error, "response", {}).get("Error", {}) if hasattr(error, "response") else {}
    text = f"{problem.get('Code')}: {problem.get('Message')}" if problem else str(error)
    return _short(text, 160)


def _print_result(described: Mapping, progress: Progress, terminal: Terminal) -> int:
    status = described["status"]
    if status == "SUCCEEDED":
        output = _json(described.get("output")) or progress.output or {}
        terminal.say(*summary_lines(output))
        return EXIT_OK
    error = described.get("error") or progress.error
    cause = described.get("cause") or progress.cause
    terminal.say(*failure_lines(status, error, cause, progress.selection))
    return EXIT_RUN_FAILED


def start(sfn, arn: str, name: str, pipeline_input: Mapping, terminal: Terminal) -> str:
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(pipeline_input))["executionArn"]
    terminal.say(f"Started {execution}", f"Console: {console_url(execution)}")
    return execution


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m pipeline.cli", description="Start and follow OpenForge fine-tuning runs from a terminal.")
    aws = argparse.ArgumentParser(add_help=False)
    aws.add_argument("--profile", help="AWS profile to use (default: the usual credential chain)")
    commands = parser.add_subparsers(dest="command", required=True)
    begin = commands.add_parser("start", parents=[aws], help="check a pipeline input file and start a run")
    begin.add_argument("file", help="the pipeline input, JSON (examples/pipeline-input*.json)")
    begin.add_argument("--env", help="environment in cdk.json: its account and region name the state machine")
    begin.add_argument("--state-machine-arn", help="the state machine, when it is not OpenForge-<env>-FineTune of cdk.json's account")
    begin.add_argument("--name", help="execution name (default: <job_name>-<UTC timestamp>)")
    begin.add_argument("--follow", action="store_true", help="then follow it as `follow` does")
    begin.add_argument("--poll", type=float, default=DEFAULT_POLL_SECONDS, help=argparse.SUPPRESS)
    track = commands.add_parser("follow", parents=[aws], help="print a run's progress until it ends, then its summary")
    track.add_argument("execution_arn")
    track.add_argument("--poll", type=float, default=DEFAULT_POLL_SECONDS, help="seconds between looks at the history (default 10)")
    report = commands.add_parser("summary", parents=[aws], help="print a run's summary, or why it failed")
    report.add_argument("execution_arn")
    halt = commands.add_parser("stop", parents=[aws], help="stop a running run and the jobs it started")
    halt.add_argument("execution_arn")
    return parser


def main(argv: list[str] | None = None, *, out: TextIO | None = None, err: TextIO | None = None, session_factory=None,
         sleep: Callable[[float], None] = time.sleep, now: Callable[[], datetime] = lambda: datetime.now(timezone.utc)) -> int:
    terminal = Terminal(out or sys.stdout, err or sys.stderr)
    args = _parser().parse_args(argv)
    try:
        return _run(args, terminal, session_factory, sleep, now)
    except UsageError as error:
        print(f"error: {error}", file=terminal.err, flush=True)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nstopped following; the run goes on", file=terminal.err, flush=True)
        return EXIT_INTERRUPTED


def _run(args, terminal: Terminal, session_factory, sleep, now) -> int:
    from botocore.exceptions import BotoCoreError, ClientError

    if args.command == "start":
        pipeline_input = check_input(args.file)
        if args.state_machine_arn:
            arn = args.state_machine_arn
        elif args.env:
            arn = state_machine_arn(args.env)
        else:
            raise UsageError("start needs --env ENV (an environment in cdk.json) or --state-machine-arn ARN")
        name = args.name or execution_name(pipeline_input["job_name"], now())
        if not re.match(EXECUTION_NAME_PATTERN, name):
            raise UsageError(f"execution name {name!r}: 1-80 letters, digits, '-' or '_'")
    else:
        arn = args.execution_arn
    _, region = arn_parts(arn)
    try:
        session = _session(session_factory, args.profile, region)
        sfn = session.client("stepfunctions")
        if args.command == "start":
            execution = start(sfn, arn, name, pipeline_input, terminal)
            if not args.follow:
                return EXIT_OK
            terminal.say("")
            return follow(sfn, execution, terminal, poll_seconds=args.poll, describe_job=training_job_describer(session), sleep=sleep)
        if args.command == "follow":
            return follow(sfn, arn, terminal, poll_seconds=args.poll, describe_job=training_job_describer(session), sleep=sleep)
        if args.command == "stop":
            return stop(session, sfn, arn, terminal)
        return summary(sfn, arn, terminal)
    except ClientError as error:
        raise UsageError(f"{error.operation_name} {arn}: {_aws_problem(error)}") from None
    except BotoCoreError as error:
        raise UsageError(f"AWS: {error}") from None


def _session(session_factory, profile: str | None, region: str):
    if session_factory is not None:
        return session_factory(profile_name=profile, region_name=region)
    import boto3

    return boto3.Session(profile_name=profile, region_name=region)


if __name__ == "__main__":
    sys.exit(main())
