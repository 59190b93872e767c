"""What the command-line client's tests feed it: recorded-looking histories (ids,
previousEventId chains, timestamps), a Step Functions fake that pages its history as the
service does, the gate's rows, and the command line run in this process."""
from __future__ import annotations

import io
import json
from datetime import datetime, timedelta, timezone

from openforge_contract import states
from pipeline.cli.history import FINISHED
from pipeline.cli.main import main

from openforge_lambda.choice import run_summary  # isort: skip

T0 = datetime(2026, 12, 1, 12, 0, 0, tzinfo=timezone.utc)


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


def _evaluation(scores: dict, limits=None) -> dict:
    """An evaluation.json's benchmarks and verdict as the evaluation job's own gate makes them."""
    from openforge_training.evaluation.gate import Limits, verdict

    benchmarks = {name: {"kind": "domain" if name == "byod" else "general", "metric": metric, "base": base, "tuned": tuned, "count": 1000}
                  for name, (metric, base, tuned) in scores.items()}
    return {"benchmarks": benchmarks, "gate": verdict(benchmarks, limits or Limits())}


ROW_PASSED = run_summary(mix(50), _evaluation({"mmlu": ("acc", 0.5, 0.49), "ifeval": ("prompt_level_strict_acc", 0.5, 0.495),
                                               "byod": ("macro_f1", 0.412, 0.655)}),
                         {"mlflow_run_id": "6f0c2d9e8b7a4c1d", "steps": 120, "final_loss": 0.81234}, None, "s3://artifacts/training/tickets/t50/model/")
ROW_FORGOT = run_summary(mix(75), _evaluation({"mmlu": ("acc", 0.62, 0.521), "byod": ("macro_f1", 0.412, 0.701)}),
                         {"mlflow_run_id": "a1b2c3d4e5f60718", "steps": 120, "final_loss": 0.7}, None, "s3://artifacts/training/tickets/t75/model/")


class FakeStepFunctions:
    """GetExecutionHistory as the service pages it (newest first with reverseOrder), over a
    history that grows each time the client sleeps."""

    def __init__(self, events: list[dict], reveal: list[int], page_size: int = 3):
        self.events, self.reveal, self.page_size, self.calls = events, list(reveal), page_size, []

    def visible(self) -> list[dict]:
        return self.events[: self.reveal[0]]

    def describe_execution(self, executionArn):
        ended = next((e for e in self.visible() if e["type"] in FINISHED), None)
        described = {"executionArn": executionArn, "name": "tickets-20261201T120000Z", "startDate": T0,
                     "stateMachineArn": "arn:aws:states:us-east-1:111111111111:stateMachine:OpenForge-dev-FineTune",
                     "status": FINISHED[ended["type"]] if ended else "RUNNING"}
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


def never_called(**_kwargs):
    raise AssertionError("nothing may be sent for an input that fails the check")


def run(argv, **kwargs) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(argv, out=out, err=err, **kwargs)
    return code, out.getvalue(), err.getvalue()
