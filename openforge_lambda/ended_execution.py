"""The clean-up of an execution that ended without running its failure path (a stop from
the console or `pipeline.cli stop`, a timeout, the history limit, an uncaught error): what it
started is read back from its history, then ``openforge_lambda.failure.clean_up`` stops its
jobs and rolls back its deployment. Shared by the CleanUpEndedRun Lambda (EventBridge) and
the command-line client's ``stop``.

Harmless to repeat: a job no longer running is left alone, a deployment already rolled back
has nothing left to delete. The states and fields it reads are the contract's (openforge_contract).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from openforge_contract import states
from openforge_contract.execution_data import DEPLOYMENT_LOOP, PLAN, RUN, VALID
from openforge_lambda import hyperpod
from openforge_lambda.endpoint import Ownership
from openforge_lambda.failure import CaughtFailure, clean_up

HISTORY_PAGE_SIZE = 1000  # GetExecutionHistory's maximum
# The error a clean-up reports for an execution that ended without one of its own.
ENDED_ERRORS = {"ABORTED": "StoppedBeforeTheEnd", "TIMED_OUT": "States.Timeout", "FAILED": "ExecutionFailed"}


def events_after(sfn, execution_arn: str, after: int = 0, page_size: int = HISTORY_PAGE_SIZE) -> list[dict]:
    """The history's events with an id above ``after``, oldest first: pages newest first
    until one reaches what was already seen (the API has no "since"; a finished history may
    be paged in whichever order the service gives)."""
    found, token = [], None
    while True:
        request = {"executionArn": execution_arn, "maxResults": page_size, "reverseOrder": True, "includeExecutionData": True}
        if token:
            request["nextToken"] = token
        page = sfn.get_execution_history(**request)
        events = page.get("events", [])
        found += [event for event in events if event["id"] > after]
        token = page.get("nextToken")
        if not token or any(event["id"] <= after for event in events):
            break
    unique = {event["id"]: event for event in found}
    return [unique[key] for key in sorted(unique)]


def run_state(history: Iterable[Mapping]) -> dict:
    """What a clean-up needs from a run's history: the input check's run and plan (the job
    names), and the deployment's record when one had started."""
    state, current = {}, None
    for event in sorted(history, key=lambda e: e["id"]):
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in ("LambdaFunctionSucceeded", "TaskSucceeded"):
            details = event.get("lambdaFunctionSucceededEventDetails") or event.get("taskSucceededEventDetails") or {}
            output = json_or_none(details.get("output"))
            if isinstance(output, Mapping) and "Payload" in output and event["type"] == "TaskSucceeded":
                output = output["Payload"]  # lambda:invoke's whole response
            if current == states.VALIDATE and isinstance(output, Mapping) and output.get(VALID):
                state.update({RUN: output[RUN], PLAN: output[PLAN]})
            elif current == DEPLOYMENT_LOOP.start and isinstance(output, Mapping):
                state[DEPLOYMENT_LOOP.started] = output
    return state


def state_succeeded(history: Iterable[Mapping], state_name: str) -> bool:
    """Whether the execution left ``state_name`` normally (e.g. its failure notification went out)."""
    return any(event["type"].endswith("StateExited") and event.get("stateExitedEventDetails", {}).get("name") == state_name
               for event in history)


def clean_up_execution(client, execution_arn: str, error: Mapping, *, hyperpod_cluster: str | None = None, endpoints: Ownership | None = None,
                       history: list[dict] | None = None) -> dict:
    """Stop what the execution started that still runs; ``failure.clean_up``'s result.
    ``client(name)`` makes a boto3 client (Step Functions for the history, SageMaker, and S3
    for a HyperPod run, whose Slurm jobs are cancelled through the cluster's submitter)."""
    history = events_after(client("stepfunctions"), execution_arn) if history is None else history
    failure = CaughtFailure.from_event({**run_state(history), "error": dict(error)})
    on_hyperpod = failure.run is not None and failure.run.compute.target == hyperpod.TARGET
    # The cluster's job specs live in the artifacts bucket, where the plan's training output goes.
    jobs_bucket = failure.plan.artifacts_bucket if on_hyperpod and failure.plan is not None else None
    return clean_up(failure, client("sagemaker"), client("s3") if on_hyperpod else None,
                    hyperpod_cluster=hyperpod_cluster if on_hyperpod else None, hyperpod_bucket=jobs_bucket, endpoints=endpoints)


def clean_up_ended(client, detail: Mapping, *, topic_arn: str, hyperpod_cluster: str | None = None,
                   endpoints: Ownership | None = None) -> dict:
    """CleanUpEndedRun: ``detail`` is EventBridge's "Step Functions Execution Status Change"
    (executionArn, name, status, error, cause). Cleans up, then notifies the topic unless the
    execution's own failure path already did. Returns {"execution_arn", "status", "published",
    and clean_up's result}."""
    execution_arn, status = detail["executionArn"], detail["status"]
    history = events_after(client("stepfunctions"), execution_arn)
    error = {"Error": detail.get("error") or ENDED_ERRORS.get(status, status),
             "Cause": detail.get("cause") or f"the execution ended {status} before its own clean-up ran"}
    result = clean_up_execution(client, execution_arn, error,
                                hyperpod_cluster=hyperpod_cluster, endpoints=endpoints, history=history)
    published = not state_succeeded(history, states.NOTIFY_FAILURE)  # a FAILED run's own path may have notified
    if published:
        message = {"execution_arn": execution_arn, "execution_name": detail.get("name"), "status": status, **result}
        client("sns").publish(TopicArn=topic_arn, Subject=f"OpenForge run {status.lower().replace('_', ' ')}",
                              Message=json.dumps(message, default=str))
    return {"execution_arn": execution_arn, "status": status, "published": published, **result}


def json_or_none(text):
    """A JSON document of the history, or None when it is missing or not JSON (a truncated one)."""
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
