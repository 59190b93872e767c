"""The command-line client (pipeline/cli.py): its formatting on recorded-looking histories
and outputs (no AWS), the history's paging, following a live run with a training job's
SageMaker details, the input check and usage errors, and `follow` / `summary` / `start
--follow` against the synthesised pipeline run by moto."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from moto import mock_aws

from pipeline import cli
from openforge_contract import states
from tests.state_machines import ACCOUNT, MOTO_CONFIG, REGION, queue_results
from tests.test_pipeline_stack import DEPLOYED, EXECUTION, finished, run_pipeline, sanitised, started, synthesised, validated  # noqa: F401 (fixture)

from openforge_lambda.selection import choose, run_summary  # isort: skip

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


# --- a recorded-looking history ------------------------------------------------------------

class History:
    """Events as GetExecutionHistory returns them: ids, previousEventId chains, timestamps,
    each type's details under its own key."""

    def __init__(self):
        self.events: list[dict] = []

    def add(self, kind: str, after: int, at: float, **details) -> int:
        event = {"id": len(self.events) + 1, "previousEventId": after, "timestamp": T0 + timedelta(seconds=at), "type": kind}
        if kind.endswith("StateEntered"):
            event["stateEnteredEventDetails"] = details
        elif kind.endswith("StateExited"):
            event["stateExitedEventDetails"] = details
        elif details:
            event[kind[0].lower() + kind[1:] + "EventDetails"] = details
        self.events.append(event)
        return event["id"]

    def task(self, name: str, after: int, at: float, until: float, state: dict, result=None, result_path: str | None = None,
             error: tuple[str, str] | None = None, exit_on_error: bool = True, output: dict | None = None) -> int:
        """A Lambda task: entered, scheduled, started, succeeded (or failed), exited."""
        last = self.add("TaskStateEntered", after, at, name=name, input=json.dumps(state))
        last = self.add("LambdaFunctionScheduled", last, at, resource="arn:aws:lambda:us-east-1:1:function:f", input="{}")
        last = self.add("LambdaFunctionStarted", last, at)
        if error:
            last = self.add("LambdaFunctionFailed", last, until, error=error[0], cause=error[1])
            return self.add("TaskStateExited", last, until, name=name, output=json.dumps({**state, "error": {"Error": error[0]}})) if exit_on_error else last
        last = self.add("LambdaFunctionSucceeded", last, until, output=json.dumps(result))
        if output is None:
            output = {**state, result_path: result} if result_path else result
        return self.add("TaskStateExited", last, until, name=name, output=json.dumps(output))

    def state(self, kind: str, name: str, after: int, at: float, state: dict, output: dict | None = None) -> int:
        last = self.add(f"{kind}StateEntered", after, at, name=name, input=json.dumps(state))
        return self.add(f"{kind}StateExited", last, at, name=name, output=json.dumps(state if output is None else output))

    def job(self, start: str, wait: str, check: str, done: str, after: int, at: float, state: dict, step: str, job_name: str,
            statuses: list[tuple[float, str]], reason: str | None = None) -> int:
        """A start state, then Wait + Check + Choice per status until the last."""
        key = {"validation": "validation", "training": "training", "evaluation": "evaluation"}[step]
        last = self.task(start, after, at, at + 1, state, {"step": step, "target": "training-job", "job_name": job_name}, f"{key}_job")
        for when, status in statuses:
            last = self.state("Wait", wait, last, when - 1, state)
            settled = status not in ("InProgress", "Stopping")
            result = {"job_name": job_name, "step": step, "target": "training-job", "status": status, "done": settled,
                      "failure_reason": reason if settled and status != "Completed" else None}
            last = self.task(check, last, when - 1, when, state, result, key)
            last = self.state("Choice", done, last, when, state)
        return last


def mix(percent: int) -> dict:
    return {"customer_data_percent": percent, "label": str(percent), "training_job_name": f"tickets-t{percent}-1a2b",
            "evaluation_job_name": f"tickets-e{percent}-1a2b"}


def grid_history() -> list[dict]:
    """A two-mix grid, deploy off: the mixes' iterations interleave as they do in parallel;
    the 75% mix's training fails, the 50% mix's training takes 4m 12s."""
    h = History()
    top = {"run": {"job_name": "tickets"}}
    last = h.add("ExecutionStarted", 0, 0, input='{"job_name": "tickets"}')
    plan = {"valid": True, "error": None, "run": {"compute": {"instance_type": "ml.g5.12xlarge", "instance_count": 1, "target": "training-job"},
                                                   "deploy": {"enabled": False, "instance_type": "ml.g5.2xlarge"}},
            "plan": {"mixes": [mix(50), mix(75)]}}
    last = h.task(states.VALIDATE, last, 0, 1, top, plan)
    last = h.state("Choice", states.INPUT_VALID, last, 1, plan)
    last = h.task(states.PLAN_SHARDS, last, 1, 2, plan, {"items": 1}, "shards")
    last = h.add("MapStateEntered", last, 2, name=states.SANITISE, input=json.dumps(plan))
    last = h.add("MapStateStarted", last, 2, length=0)
    last = h.add("MapRunStarted", last, 2, mapRunArn="arn:aws:states:us-east-1:1:mapRun:x")
    last = h.add("MapRunSucceeded", last, 64)
    last = h.add("MapStateSucceeded", last, 64)
    last = h.add("MapStateExited", last, 64, name=states.SANITISE, output=json.dumps(plan))
    counts = {"passed": True, "lines_in": 1200, "clean": 1150, "quarantined": 30, "duplicates": 20, "cause": None}
    last = h.task(states.SUMMARISE_SANITISATION, last, 64, 66, plan, counts, output={**plan, "sanitisation": {"summary": counts}})
    last = h.state("Choice", states.QUARANTINE_CHECK, last, 66, plan)
    last = h.job(states.VALIDATION_RUN, states.WAIT_VALIDATION, states.CHECK_VALIDATION, states.VALIDATION_DONE, last, 66, plan, "validation",
                 "tickets-val-1a2b", [(127, "InProgress"), (188, "Completed")])
    last = h.add("MapStateEntered", last, 188, name=states.MIXES, input=json.dumps(plan))
    map_started = h.add("MapStateStarted", last, 188, length=2)
    a = h.add("MapIterationStarted", map_started, 188, name=states.MIXES, index=0)
    b = h.add("MapIterationStarted", map_started, 188, name=states.MIXES, index=1)
    lane_a, lane_b = {**top, "mix": mix(50)}, {**top, "mix": mix(75)}
    # Interleaved: each lane's events chain through previousEventId.
    a = h.task(states.TRAIN, a, 188, 189, lane_a, {"step": "training", "target": "training-job", "job_name": "tickets-t50-1a2b"}, "training_job")
    b = h.task(states.TRAIN, b, 188, 189, lane_b, {"step": "training", "target": "training-job", "job_name": "tickets-t75-1a2b"}, "training_job")
    for when in (250, 311):
        for lane, name in ((lane_a, "tickets-t50-1a2b"), (lane_b, "tickets-t75-1a2b")):
            status = "Failed" if (when, name) == (311, "tickets-t75-1a2b") else "InProgress"
            result = {"job_name": name, "step": "training", "target": "training-job", "status": status, "done": status == "Failed",
                      "failure_reason": "AlgorithmError: CUDA out of memory" if status == "Failed" else None}
            prev = a if lane is lane_a else b
            prev = h.state("Wait", states.WAIT_TRAINING, prev, when - 1, lane)
            prev = h.task(states.CHECK_TRAINING, prev, when - 1, when, lane, result, "training")
            prev = h.state("Choice", states.TRAINING_DONE, prev, when, lane)
            if lane is lane_a:
                a = prev
            else:
                b = prev
    b = h.state("Pass", states.MIX_FAILED["training"], b, 311, lane_b,
                {"mix": mix(75), "failed": {"step": "training", "job_name": "tickets-t75-1a2b", "cause": "AlgorithmError: CUDA out of memory"}})
    h.add("MapIterationSucceeded", b, 311, name=states.MIXES, index=1)
    a = h.task(states.CHECK_TRAINING, h.state("Wait", states.WAIT_TRAINING, a, 439, lane_a), 439, 440, lane_a,
               {"job_name": "tickets-t50-1a2b", "step": "training", "target": "training-job", "status": "Completed", "done": True,
                "failure_reason": None}, "training")
    a = h.state("Choice", states.TRAINING_DONE, a, 440, lane_a)
    a = h.job(states.EVALUATE, states.WAIT_EVALUATION, states.CHECK_EVALUATION, states.EVALUATION_DONE, a, 440, lane_a, "evaluation",
              "tickets-e50-1a2b", [(561, "Completed")])
    a = h.state("Pass", states.MIX_RESULT, a, 561, lane_a, {"mix": mix(50)})
    a = h.add("MapIterationSucceeded", a, 561, name=states.MIXES, index=0)
    last = h.add("MapStateSucceeded", a, 561)
    last = h.add("MapStateExited", last, 561, name=states.MIXES, output=json.dumps(plan))
    selection = {"passed": True, "cause": "mix 50% chosen", "chosen": {"customer_data_percent": 50, "model_s3_uri": "s3://a/m/"}, "runs": []}
    last = h.task(states.PICK, last, 561, 563, plan, selection, "selection")
    last = h.state("Choice", states.GATE, last, 563, plan)
    last = h.state("Choice", states.DEPLOY_WANTED, last, 563, plan)
    last = h.state("Pass", states.NO_DEPLOYMENT, last, 563, plan)
    last = h.state("Pass", states.SUMMARISE, last, 563, plan)
    last = h.add("TaskStateEntered", last, 563, name=states.NOTIFY_SUCCESS, input="{}")
    last = h.add("TaskScheduled", last, 563, resourceType="sns", resource="publish")
    last = h.add("TaskSucceeded", last, 564, resourceType="sns", resource="publish", output="{}")
    last = h.add("TaskStateExited", last, 564, name=states.NOTIFY_SUCCESS, output="{}")
    last = h.state("Succeed", states.SUCCEEDED, last, 564, plan)
    h.add("ExecutionSucceeded", last, 564, output=json.dumps({"job_name": "tickets"}))
    return h.events


def test_a_history_reads_as_one_line_per_state_with_each_mix_labelled_and_polling_folded_into_its_job():
    assert cli.render(grid_history()) == [
        "  12:00:00  Validate the input ... done: 2 mixes (50%, 75%), ml.g5.12xlarge x1 (training-job), no deployment (1s)",
        "  12:00:01  Plan shards (objects, or byte ranges of large ones) ... done (1s)",
        "  12:00:02  Sanitise the data ... done (1m 02s)",
        "  12:01:04  Summarise and check the quarantine share ... done: 1200 lines in, 1150 clean, 30 quarantined, 20 duplicates (2s)",
        "  12:01:06  Start the validation run (5 steps) ...",
        "              validation run tickets-val-1a2b started (SageMaker training job)",
        "              tickets-val-1a2b: InProgress",
        "  12:01:06  Start the validation run (5 steps) ... done (2m 02s)",
        "  12:03:08  Train and evaluate each mix ...",
        "  12:03:08    Start training [mix 50%] ...",
        "                training job tickets-t50-1a2b started (SageMaker training job)",
        "  12:03:08    Start training [mix 75%] ...",
        "                training job tickets-t75-1a2b started (SageMaker training job)",
        "                tickets-t50-1a2b: InProgress",
        "                tickets-t75-1a2b: InProgress",
        "  12:03:08    Start training [mix 75%] ... Failed: AlgorithmError: CUDA out of memory (2m 03s)",
        "  12:05:11    Record the failed training [mix 75%]: AlgorithmError: CUDA out of memory",
        "  12:03:08    Start training [mix 50%] ... done (4m 12s)",
        "  12:07:20    Start the evaluation [mix 50%] ...",
        "                evaluation job tickets-e50-1a2b started (SageMaker training job)",
        "  12:07:20    Start the evaluation [mix 50%] ... done (2m 01s)",
        "  12:03:08  Train and evaluate each mix ... done (6m 13s)",
        "  12:09:21  Pick the model (forgetting gate) ... done: gate passed, mix 50% chosen (2s)",
        "  12:09:23  No deployment requested",
        "  12:09:23  Summarise the run",
        "  12:09:23  Notify: run finished ... done (1s)",
        "  12:09:24  Run finished after 9m 24s",
    ]


def test_the_same_history_fed_in_polls_says_each_state_once_as_it_starts_and_once_as_it_ends():
    events, progress, printed = grid_history(), cli.Progress(), []
    for first in range(0, len(events), 7):
        printed += progress.feed(events[first:first + 7])
    assert progress.finished and progress.status == "SUCCEEDED"
    whole = cli.render(events)
    assert [line for line in printed if " ... " in line and not line.endswith(" ...")] == [line for line in whole if " ... " in line and not line.endswith(" ...")]
    assert [line for line in printed if line.endswith("Start training [mix 50%] ...")] == ["  12:03:08    Start training [mix 50%] ..."]
    assert sum("Validate the input ..." in line for line in printed) == 1, "a state entered and ended in one batch: one line"


def test_a_caught_lambda_failure_ends_its_state_as_failed_and_a_retried_one_does_not():
    h = History()
    last = h.add("ExecutionStarted", 0, 0)
    state = {"run": {}}
    # The first attempt fails with a service error and is retried; the retry succeeds.
    last = h.add("TaskStateEntered", last, 0, name=states.PICK, input=json.dumps(state))
    last = h.add("LambdaFunctionScheduled", last, 0)
    last = h.add("LambdaFunctionFailed", last, 1, error="Lambda.ServiceException", cause="throttled")
    last = h.add("LambdaFunctionScheduled", last, 3)
    last = h.add("LambdaFunctionSucceeded", last, 4, output=json.dumps({"passed": False}))
    last = h.add("TaskStateExited", last, 4, name=states.PICK, output=json.dumps({"selection": {"passed": False, "chosen": None}}))
    # Deploy fails and is caught: no StateExited, the catch goes straight to the clean-up.
    last = h.add("TaskStateEntered", last, 5, name=states.DEPLOY, input=json.dumps(state))
    last = h.add("LambdaFunctionScheduled", last, 5)
    last = h.add("LambdaFunctionFailed", last, 9, error="ValidationException", cause="Could not find model data at s3://a/m/.")
    last = h.task(states.CLEAN_UP, last, 9, 10, state, {"error": "ValidationException", "stopped_jobs": ["tickets-t50-1a2b"]}, "failure")
    h.add("ExecutionFailed", last, 11, error="ValidationException", cause="Could not find model data at s3://a/m/.")
    progress = cli.Progress()
    assert progress.feed(h.events) == [
        "  12:00:00  Pick the model (forgetting gate) ... done: no mix passed the gate (4s)",
        "  12:00:05  Deploy the private endpoint ... failed: ValidationException: Could not find model data at s3://a/m/. (4s)",
        "  12:00:09  Clean up after the failure ... done: stopped tickets-t50-1a2b (1s)",
        "  12:00:11  Run failed after 11s: ValidationException",
    ]
    assert (progress.status, progress.error) == ("FAILED", "ValidationException")


def test_a_map_that_fails_and_is_caught_ends_at_the_clean_up():
    h = History()
    last = h.add("ExecutionStarted", 0, 0)
    last = h.add("MapStateEntered", last, 0, name=states.MIXES, input="{}")
    last = h.add("MapStateStarted", last, 0, length=1)
    last = h.add("MapStateFailed", last, 3)
    last = h.task(states.CLEAN_UP, last, 3, 4, {}, {"stopped_jobs": []}, "failure")
    assert cli.render(h.events) == ["  12:00:00  Train and evaluate each mix ... failed (3s)", "  12:00:03  Clean up after the failure ... done (1s)"]


ROW_PASSED = run_summary(mix(50), {"benchmarks": {"mmlu": {"kind": "general", "base": 0.5, "tuned": 0.49},
                                                  "ifeval": {"kind": "general", "base": 0.5, "tuned": 0.495},
                                                  "byod": {"kind": "domain", "metric": "macro_f1", "base": 0.412, "tuned": 0.655}},
                                   "gate": {"passed": True, "cause": "passed", "limits": {"min_general_retention": 0.97, "min_domain_gain": 0.02}}},
                         {"mlflow_run_id": "6f0c2d9e8b7a4c1d", "steps": 120, "final_loss": 0.81234}, None, "s3://artifacts/training/tickets/t50/model/")
ROW_FORGOT = run_summary(mix(75), {"benchmarks": {"mmlu": {"kind": "general", "base": 0.62, "tuned": 0.521},
                                                  "byod": {"kind": "domain", "metric": "macro_f1", "base": 0.412, "tuned": 0.701}},
                                   "gate": {"passed": False, "cause": "mmlu kept 84.0% < 97%"}},
                         {"mlflow_run_id": "a1b2c3d4e5f60718", "steps": 120, "final_loss": 0.7}, None, "s3://artifacts/training/tickets/t75/model/")


def test_the_summary_is_a_small_table_of_the_execution_output():
    choice = choose([ROW_PASSED, ROW_FORGOT])
    output = {"job_name": "tickets", "execution_name": "tickets-20261201T120000Z",
              "sanitisation": {"passed": True, "lines_in": 1200, "clean": 1150, "quarantined": 30, "duplicates": 20, "quarantined_percent": 2.5,
                               "report_key": "s3://datasets/sanitised/tickets/x/clean/report.md"},
              "validation_run": {"job_name": "tickets-val-1a2b", "status": "Completed"},
              "selection": {**choice, "runs": [ROW_PASSED, ROW_FORGOT], "report_s3_uri": "s3://artifacts/reports/tickets/x/"},
              "endpoint": {"endpoint_name": "tickets", "status": "InService"}}
    lines = cli.summary_lines(output)
    assert lines[:9] == [
        "Run tickets, execution tickets-20261201T120000Z: succeeded",
        "  Sanitisation    1200 lines in: 1150 clean, 30 quarantined (2.50%), 20 duplicates removed",
        "                  report s3://datasets/sanitised/tickets/x/clean/report.md",
        "  Validation run  tickets-val-1a2b: Completed",
        f"  Gate            passed: {choice['cause']}",
        "  Chosen model    mix 50%: s3://artifacts/training/tickets/t50/model/",
        "  Comparison      s3://artifacts/reports/tickets/x/",
        "  Endpoint        tickets: InService",
        "",
    ]
    header, rule, passed, forgot, why = lines[9:]
    assert header.split()[:5] == ["mix", "status", "general", "skills", "kept"] and set(rule.strip()) == {"-", " "}
    assert passed.split() == ["50%", "passed", "mmlu", "98.0%,", "ifeval", "99.0%", "macro_f1", "0.412", "->", "0.655", "(+0.243)", "120", "0.8123",
                              "6f0c2d9e8b7a4c1d"]
    assert forgot.split()[:3] == ["75%", "failed", "gate"] and forgot.split()[-1] == "a1b2c3d4e5f60718"
    assert header.index("MLflow run") == passed.index("6f0c2d9e8b7a4c1d"), "columns line up"
    assert why == "  mix 75%: mmlu kept 84.0% < 97%"


def test_a_failure_reads_as_its_error_and_cause_with_the_mixes_the_gate_saw():
    cause = "no mix passed the forgetting gate: mix 75%: mmlu kept 84.0% < 97%."
    lines = cli.failure_lines("FAILED", "ForgettingGateFailed", cause, {"runs": [ROW_FORGOT]})
    assert lines[:2] == ["Run failed: ForgettingGateFailed", f"  Cause  {cause}"]
    assert lines[3].split()[:2] == ["mix", "status"] and lines[5].split()[:3] == ["75%", "failed", "gate"]
    assert cli.failure_lines("ABORTED", None, None) == ["Run aborted: ABORTED"]


# --- paging, following a live run ----------------------------------------------------------

class FakeStepFunctions:
    """GetExecutionHistory as the service pages it (newest first with reverseOrder), over a
    history that grows each time the client sleeps."""

    def __init__(self, events: list[dict], reveal: list[int], page_size: int = 3):
        self.events, self.reveal, self.page_size, self.calls = events, list(reveal), page_size, []

    def visible(self) -> list[dict]:
        return self.events[: self.reveal[0]]

    def describe_execution(self, executionArn):
        ended = next((e for e in self.visible() if e["type"] in cli.FINISHED), None)
        described = {"executionArn": executionArn, "name": "tickets-20261201T120000Z", "startDate": T0,
                     "stateMachineArn": "arn:aws:states:us-east-1:111111111111:stateMachine:OpenForge-dev-FineTune",
                     "status": cli.FINISHED[ended["type"]] if ended else "RUNNING"}
        if ended and ended["type"] == "ExecutionFailed":
            described.update(error=ended["executionFailedEventDetails"]["error"], cause=ended["executionFailedEventDetails"]["cause"])
        return described

    def get_execution_history(self, executionArn, maxResults, reverseOrder=False, nextToken=None, includeExecutionData=True):
        self.calls.append(nextToken)
        events = list(reversed(self.visible())) if reverseOrder else self.visible()
        start = int(nextToken or 0)
        page = {"events": events[start:start + min(maxResults, self.page_size)]}
        if start + self.page_size < len(events):
            page["nextToken"] = str(start + self.page_size)
        return page

    def sleep(self, _seconds):
        if len(self.reveal) > 1:
            self.reveal.pop(0)


def test_new_events_pages_back_only_as_far_as_what_was_already_seen():
    events = grid_history()
    fake = FakeStepFunctions(events, [len(events)], page_size=4)
    assert [e["id"] for e in cli.new_events(fake, "arn", 0, page_size=4)] == [e["id"] for e in events]
    assert len(fake.calls) == -(-len(events) // 4), "every page of a first look"
    fake.calls.clear()
    assert [e["id"] for e in cli.new_events(fake, "arn", len(events) - 6, page_size=4)] == [e["id"] for e in events[-6:]]
    assert fake.calls == [None, "4"], "two pages reach event n-6; no more are read"


def failed_training_history() -> list[dict]:
    h = History()
    last = h.add("ExecutionStarted", 0, 0)
    state = {"run": {}, "plan": {}}
    last = h.job(states.VALIDATION_RUN, states.WAIT_VALIDATION, states.CHECK_VALIDATION, states.VALIDATION_DONE, last, 0, state, "validation",
                 "tickets-val-1a2b", [(60, "InProgress"), (120, "InProgress"), (180, "Failed")], reason="AlgorithmError: no assistant turn")
    last = h.state("Pass", states.VALIDATION_FAILED, last, 180, state, {**state, "error": {"Error": "ValidationRunFailed", "Cause": "AlgorithmError: no assistant turn"}})
    last = h.task(states.CLEAN_UP, last, 180, 181, state, {"error": "ValidationRunFailed", "stopped_jobs": []}, "failure")
    h.add("ExecutionFailed", last, 182, error="ValidationRunFailed", cause="AlgorithmError: no assistant turn")
    return h.events


def test_following_a_live_run_prints_progress_with_sagemaker_details_then_the_failure_and_exits_1():
    events = failed_training_history()
    first_check = next(e["id"] for e in events if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == states.CHECK_VALIDATION)
    second_check = first_check + 9
    assert events[second_check - 1]["stateExitedEventDetails"]["name"] == states.CHECK_VALIDATION
    fake = FakeStepFunctions(events, [3, first_check, first_check + 5, second_check, len(events)])
    details = iter([{"status": "InProgress", "secondary_status": "Starting", "message": "Preparing the instances for training"},
                    {"status": "InProgress", "secondary_status": "Starting", "message": "Preparing the instances for training"},
                    {"status": "InProgress", "secondary_status": "Training", "message": "Training image download completed. Training in progress."}])
    out = io.StringIO()
    code = cli.follow(fake, "arn:aws:states:us-east-1:111111111111:execution:OpenForge-dev-FineTune:x", cli.Terminal(out, io.StringIO()),
                      poll_seconds=0, describe_job=lambda name: next(details), sleep=fake.sleep)
    assert code == cli.EXIT_RUN_FAILED
    assert out.getvalue().splitlines() == [
        "tickets-20261201T120000Z (OpenForge-dev-FineTune), started 2026-12-01 12:00:00 UTC; times are UTC",
        "  12:00:00  Start the validation run (5 steps) ...",
        "              validation run tickets-val-1a2b started (SageMaker training job)",
        "              tickets-val-1a2b: InProgress",
        "              tickets-val-1a2b: InProgress, Starting - Preparing the instances for training",
        "              tickets-val-1a2b: InProgress, Training - Training image download completed. Training in progress.",
        "  12:00:00  Start the validation run (5 steps) ... Failed: AlgorithmError: no assistant turn (3m 00s)",
        "  12:03:00  Validation run failed: AlgorithmError: no assistant turn",
        "  12:03:00  Clean up after the failure ... done (1s)",
        "  12:03:02  Run failed after 3m 02s: ValidationRunFailed",
        "",
        "Run failed: ValidationRunFailed",
        "  Cause  AlgorithmError: no assistant turn",
    ]


# --- the input check and usage errors --------------------------------------------------------

def never_called(**_kwargs):
    raise AssertionError("nothing may be sent for an input that fails the check")


def run(argv, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = cli.main(argv, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()


def test_a_file_that_is_not_json_is_a_usage_error_naming_the_file(tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text('{"job_name": "tickets",\n "customer_data_s3_uri": }\n')
    code, out, err = run(["start", str(bad), "--env", "dev"], session_factory=never_called)
    assert code == 2 and out == ""
    assert err == f"error: {bad}: not valid JSON: Expecting value (line 2, column 26)\n"


@pytest.mark.parametrize("content, problem", [
    ({"job_name": "tickets"}, "customer_data_s3_uri: required"),
    ({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "mixing": {"customer_data_precent": 50}},
     "mixing.customer_data_precent: unknown field; expected one of: customer_data_percent, curated_weights"),
    ({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "hyperparameters": {"max_steps": "100"}},
     'hyperparameters.max_steps: must be a whole number, got "100"'),
    ({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "mixing": {"curated_weights": {"reasoning": 40, "factuality": 40}}},
     "mixing.curated_weights: weights must sum to 100, got 80 (reasoning 40 + factuality 40)"),
])
def test_an_input_the_check_refuses_is_a_usage_error_naming_the_field_and_nothing_is_sent(tmp_path, content, problem):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(content))
    assert run(["start", str(path), "--env", "dev"], session_factory=never_called) == (2, "", f"error: {path}: {problem}\n")


def test_what_only_the_environment_knows_is_left_to_validate_input(tmp_path):
    """No base model given (the environment's default applies), an instance type and count
    only an environment's limits could refuse: the check here passes them."""
    content = {"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "compute": {"instance_type": "ml.trn2.48xlarge", "instance_count": 64}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(content))
    assert cli.check_input(path) == content, "sent as written: the defaults are filled in the cloud"


def test_usage_errors_name_what_is_wrong(tmp_path):
    good = tmp_path / "run.json"
    good.write_text(json.dumps({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/"}))
    assert run(["start", str(good), "--env", "staging"], session_factory=never_called) == (
        2, "", "error: unknown environment 'staging': cdk.json defines dev, prod\n")
    assert run(["start", str(tmp_path / "missing.json"), "--env", "dev"], session_factory=never_called) == (
        2, "", f"error: {tmp_path / 'missing.json'}: no such file\n")
    assert run(["start", str(good)], session_factory=never_called)[2] == "error: start needs --env ENV (an environment in cdk.json) or --state-machine-arn ARN\n"
    assert run(["start", str(good), "--env", "dev", "--name", "has spaces"], session_factory=never_called)[2] == (
        "error: execution name 'has spaces': 1-80 letters, digits, '-' or '_'\n")
    assert run(["summary", "not-an-arn"], session_factory=never_called)[0] == 2


def test_the_state_machine_the_default_name_and_the_console_url():
    assert cli.state_machine_arn("dev") == "arn:aws:states:us-east-1:111111111111:stateMachine:OpenForge-dev-FineTune"
    assert cli.partition_of("cn-north-1") == "aws-cn" and cli.partition_of("us-gov-west-1") == "aws-us-gov"
    assert cli.execution_name("tickets", datetime(2026, 12, 1, 14, 36, 33, tzinfo=timezone(timedelta(hours=2)))) == "tickets-20261201T123633Z"
    arn = "arn:aws:states:eu-west-1:111111111111:execution:OpenForge-dev-FineTune:tickets-20261201T123633Z"
    assert cli.console_url(arn) == f"https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}"


# --- against the synthesised pipeline, run by moto -------------------------------------------

def picked_with_rows() -> dict:
    rows = [ROW_PASSED]
    return {**choose(rows), "runs": rows, "report_s3_uri": "s3://artifacts/reports/tickets/exec-1/"}


def happy_results(synthesised) -> list[dict]:
    plan = validated(synthesised)
    [mix_plan] = plan["plan"]["mixes"]
    training, evaluation = mix_plan["training_job_name"], mix_plan["evaluation_job_name"]
    creating = {"endpoint_name": "tickets", "status": "Creating", "in_service": False, "settled": False, "failure_reason": None}
    in_service = {**creating, "status": "InService", "in_service": True, "settled": True}
    return [plan, *sanitised(), started("validation", plan["plan"]["validation_job_name"]), finished("validation", plan["plan"]["validation_job_name"]),
            started("training", training), {**finished("training", training), "status": "InProgress", "done": False, "wait_seconds": 0}, finished("training", training),
            started("evaluation", evaluation), finished("evaluation", evaluation), picked_with_rows(), DEPLOYED, creating, in_service]


def boto3_session(**kwargs):
    return boto3.Session(region_name=kwargs["region_name"])


def test_follow_and_summary_read_a_run_of_the_synthesised_pipeline_and_start_follow_runs_one(synthesised, tmp_path):
    with mock_aws(config=MOTO_CONFIG):  # run_pipeline's own mock nests inside: its backend stays for us
        outcome = run_pipeline(synthesised, happy_results(synthesised))
        assert outcome["described"]["status"] == "SUCCEEDED"
        execution = outcome["described"]["executionArn"]

        code, out, err = run(["follow", execution, "--poll", "0"], session_factory=boto3_session)
        assert (code, err) == (0, ""), out
        lines = out.splitlines()
        named = [next(name for name in states.WORK_STEPS if f"  {name}" in line) for line in lines if any(f"  {name}" in line for name in states.WORK_STEPS)]
        assert list(dict.fromkeys(named)) == list(states.WORK_STEPS), "the work steps, in the state machine's order"
        assert any("Start training [mix 50%] ... done (" in line for line in lines)
        assert "Deploy the private endpoint ... done: endpoint tickets in service" in out
        summary_at = lines.index(f"Run tickets, execution {EXECUTION}: succeeded")
        table = lines[summary_at:]
        assert f"  Gate            passed: {picked_with_rows()['cause']}" in table
        assert "  Endpoint        tickets: InService" in table
        assert any(line.split()[:2] == ["50%", "passed"] and line.endswith("6f0c2d9e8b7a4c1d") for line in table), "the mix's row, its MLflow run"

        code, out, _ = run(["summary", execution], session_factory=boto3_session)
        assert code == 0 and out.splitlines() == table

        # A second run, started by the client from a file and followed while moto runs it.
        machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:fine-tune"
        path = tmp_path / "run.json"
        path.write_text(json.dumps({"job_name": "tickets", "customer_data_s3_uri": f"s3://{synthesised.datasets}/raw/tickets/", "deploy": {"enabled": True}}))
        queue_results(*happy_results(synthesised))
        code, out, err = run(["start", str(path), "--state-machine-arn", machine, "--name", "exec-2", "--follow", "--poll", "0.05"],
                             session_factory=boto3_session)
        assert (code, err) == (0, ""), out
        execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:fine-tune:exec-2"
        assert out.splitlines()[:2] == [f"Started {execution}", f"Console: {cli.console_url(execution)}"]
        assert "Run finished after" in out and "  Endpoint        tickets: InService" in out
        sfn = boto3.client("stepfunctions", region_name=REGION)
        assert json.loads(sfn.describe_execution(executionArn=execution)["input"]) == json.loads(path.read_text()), "sent as written"


def test_a_failed_run_of_the_synthesised_pipeline_summarises_as_its_cause_and_exits_1(synthesised):
    plan = validated(synthesised)
    [mix_plan] = plan["plan"]["mixes"]
    forgot = {**choose([ROW_FORGOT]), "runs": [ROW_FORGOT], "report_s3_uri": "s3://artifacts/reports/x/"}
    with mock_aws(config=MOTO_CONFIG):
        outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", "v"), finished("validation", "v"),
                                             started("training", mix_plan["training_job_name"]), finished("training", mix_plan["training_job_name"]),
                                             started("evaluation", mix_plan["evaluation_job_name"]), finished("evaluation", mix_plan["evaluation_job_name"]),
                                             forgot])
        code, out, _ = run(["summary", outcome["described"]["executionArn"]], session_factory=boto3_session)
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == ["Run failed: ForgettingGateFailed", f"  Cause  {forgot['cause']}"]
    assert lines[-1] == "  mix 75%: mmlu kept 84.0% < 97%"


def test_training_job_details_come_from_sagemaker():
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_training_job(
            TrainingJobName="tickets-t50-1a2b", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/training",
            AlgorithmSpecification={"TrainingImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/openforge:gpu", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://artifacts/training/"}, StoppingCondition={"MaxRuntimeInSeconds": 3600},
            ResourceConfig={"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50})
        describe = cli.training_job_describer(boto3.Session(region_name=REGION))
        detail = describe("tickets-t50-1a2b")
        assert detail["status"] in ("InProgress", "Completed") and detail["message"], detail
        assert cli.training_job_text("tickets-t50-1a2b", detail).startswith(f"tickets-t50-1a2b: {detail['status']}")
        with pytest.raises(Exception, match="Could not find training job"):
            describe("no-such-job")


def test_every_example_input_passes_the_check():
    from pathlib import Path

    examples = sorted((Path(cli.ROOT) / "examples").glob("pipeline-input*.json"))
    assert len(examples) >= 3
    for path in examples:
        assert cli.check_input(path) == json.loads(path.read_text()), path


def test_a_training_job_sagemaker_will_not_describe_is_said_once_and_not_asked_again():
    from botocore.exceptions import ClientError

    events = failed_training_history()
    first_check = next(e["id"] for e in events if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == states.CHECK_VALIDATION)
    fake, asked = FakeStepFunctions(events, [first_check, first_check + 5, first_check + 9, len(events)]), []

    def refused(name):
        asked.append(name)
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform sagemaker:DescribeTrainingJob"}},
                          "DescribeTrainingJob")

    out = io.StringIO()
    assert cli.follow(fake, "arn", cli.Terminal(out, io.StringIO()), poll_seconds=0, describe_job=refused, sleep=fake.sleep) == 1
    assert asked == ["tickets-val-1a2b"]
    assert ("              tickets-val-1a2b: no SageMaker details (AccessDeniedException: not authorized to perform sagemaker:DescribeTrainingJob)"
            in out.getvalue().splitlines())


def test_stop_stops_the_execution_and_the_jobs_it_started(synthesised, monkeypatch):
    """A stop runs none of the execution's states, so `stop` does its clean-up: the run waits
    for its validation run (an hour's poll) while the job runs, and both stop."""
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemaker.responses import SageMakerResponse

    from openforge_contract.environment_variables import TrainingEnvironment
    from openforge_lambda.training_job import training_job_request  # isort: skip
    from tests.lambdas.test_training_job import _stop_training_job

    monkeypatch.setattr(SageMakerResponse, "stop_training_job", _stop_training_job, raising=False)  # moto lacks it
    plan = validated(synthesised)
    name = plan["plan"]["validation_job_name"]
    checked = {**finished("validation", name), "status": "InProgress", "done": False, "output_s3_uri": None, "wait_seconds": 3600}
    with mock_aws(config=MOTO_CONFIG):
        execution = run_pipeline(synthesised, [plan, *sanitised(), started("validation", name), checked], until=states.WAIT_VALIDATION)["execution_arn"]
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        environment = TrainingEnvironment("gpu-image", "neuron-image", "arn:aws:iam::123456789012:role/train", ("subnet-a",), ("sg-a",),
                                          "arn:aws:kms:us-east-1:123456789012:key/k", "arn:mlflow", 3600)
        sagemaker.create_training_job(**training_job_request("validation", plan["run"], plan["plan"], plan["plan"]["mixes"][0], environment))
        sagemaker_backends[ACCOUNT][REGION].training_jobs[name].training_job_status = "InProgress"

        code, out, err = run(["stop", execution], session_factory=boto3_session)
        assert (code, err) == (0, ""), out
        assert f"Stopped jobs  {name}" in out
        assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"
        assert boto3.client("stepfunctions", region_name=REGION).describe_execution(executionArn=execution)["status"] == "ABORTED"
        code, out, _ = run(["stop", execution], session_factory=boto3_session)
        assert code == 0 and "has already ended (ABORTED): nothing to stop" in out
