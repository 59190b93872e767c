"""``follow``'s progress: the execution's history turned into the lines a person reads.

One line per state as it is entered and as it finishes, with its entry time (UTC) and how
long it took; the Map's iterations are labelled by their mix, and the polling states (Wait,
Check, Choice) are folded into the job they poll, so "Start training [mix 75%] ... done
(4m 12s)" is the training job's time. A running training job's SageMaker status is a
detail line under its state.

Pure: no AWS, no clock, so it is tested on recorded-looking histories.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone

from openforge_contract import execution_data, states
from openforge_contract.execution_data import (DEPLOYMENT_LOOP, ERROR, FAILED, FAILURE, MIX, PLAN, ROLLBACK, RUN, SANITISATION, SANITISATION_SUMMARY,
                                               SELECTION, VALID, JobLoop)
from openforge_lambda.ended_execution import json_or_none
from pipeline.cli.history import FINISHED, event_details, timestamp
from pipeline.summary import ENDED_AS
from pipeline.summary import percent as _percent

CAUSE_CHARACTERS = 300  # of a cause shown inside a progress line; the summary shows all of it


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
        return [detail_line(record.depth if record else 0, text)]

    # --- events ------------------------------------------------------------------------

    def _event(self, event: Mapping) -> None:
        kind, at = event["type"], timestamp(event["timestamp"])
        previous = self._states.get(event.get("previousEventId") or 0)
        if kind == "ExecutionStarted":
            self.started = at
        elif kind == "ExecutionRedriven":
            self.status = self.error = self.cause = None
            self._emit(f"  {_clock(at)}  Run redriven")
        elif kind in FINISHED:
            self._ended(FINISHED[kind], event_details(event), at)
        elif kind.endswith("StateEntered"):
            details = event.get("stateEnteredEventDetails", {})
            lane = _lane(details.get("input"), previous)
            self._states[event["id"]] = (details.get("name"), lane)
            self._entered(details.get("name"), kind[: -len("StateEntered")], lane, at)
            return
        elif kind.endswith("StateExited"):
            details = event.get("stateExitedEventDetails", {})
            output = json_or_none(details.get("output"))
            lane = _lane(details.get("output"), previous) if output is not None else self._lane_of_open(details.get("name"), previous)
            self._states[event["id"]] = (details.get("name"), lane)
            self._exited(details.get("name"), lane, output, at)
            return
        elif kind in ("LambdaFunctionScheduled", "TaskScheduled"):
            record = self._record_for(previous)
            if record:
                record.failure = None  # a retry: the earlier attempt's failure no longer counts
        elif kind.endswith(("Failed", "TimedOut")) and not kind.startswith("Execution"):
            details = event_details(event)
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
            self._emit(_state_line(record, f": {short(cause)}" if cause else ""))
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
            self._emit(detail_line(record.depth, f"endpoint {name}: {action}, model {started.get('model_name') or '?'}"))
            return
        name, target = started.get("job_name") or "?", started.get("target")
        record.job = Job(name, KINDS[loop.start], target, record.label)
        where = {"training-job": "SageMaker training job", "hyperpod": "Slurm job on the HyperPod cluster"}.get(target, target or "job")
        self._emit(detail_line(record.depth, f"{KINDS[loop.start]} {name} started ({where})"))

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
            self._emit(detail_line(record.depth, f"{job.name}: {job.status}"))
        if loop is DEPLOYMENT_LOOP:
            if status.get("in_service"):
                self._close(record, at, f"done: endpoint {job.name} in service")
            elif status.get("settled"):
                self._close(record, at, f"endpoint {job.name} {status.get('status')}: {short(status.get('failure_reason') or 'no reason given')}")
        elif status.get("status") == "Completed":
            self._close(record, at, "done")
        elif status.get("done"):
            self._close(record, at, f"{status.get('status')}: {short(status.get('failure_reason') or 'no reason given')}")

    def _ended(self, status: str, details: Mapping, at: datetime) -> None:
        self.status = status
        self.error, self.cause = details.get("error"), details.get("cause")
        self.output = json_or_none(details.get("output")) if status == "SUCCEEDED" else None
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
        text += f" ({short(detail['failure_reason'])})"
    return text


def _outcome(name: str, output: Mapping) -> str:
    if name == states.VALIDATE:
        if output.get(VALID) is False:
            return f"invalid: {short(_path(output, ERROR, 'cause') or 'no cause given')}"
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
    return f"failed: {error}" + (f": {short(cause)}" if cause else "")


def _state_line(record: Record, suffix: str) -> str:
    label = f" [{record.label}]" if record.label else ""
    return f"  {_clock(record.entered)}  {'  ' * record.depth}{record.name}{label}{suffix}"


def detail_line(depth: int, text: str) -> str:
    """A line under a state's (a job started, its status), indented to the state's depth."""
    return f"{'':12}{'  ' * depth}  {text}"


def _lane(document: str | None, previous) -> str | None:
    """The mix a state runs for (inside the Map its input has one), or None at the top level;
    an input that is not there (truncated, or left out) is in the previous event's lane."""
    data = json_or_none(document)
    if data is None:
        return previous[1] if previous else None
    mix = data.get(MIX) if isinstance(data, Mapping) else None
    if isinstance(mix, Mapping) and "customer_data_percent" in mix:
        return f"mix {_percent(mix['customer_data_percent'])}"
    return None


def _path(data, *keys):
    for key in keys:
        if not isinstance(data, Mapping):
            return None
        data = data.get(key)
    return data


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


def short(text, limit: int = CAUSE_CHARACTERS) -> str:
    """``text`` on one line, cut to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
