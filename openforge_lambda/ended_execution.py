"""The clean-up of an execution that ended without running its failure path (a stop from
the console or `pipeline.cli stop`, a timeout, the history limit, an uncaught error): what it
started is read back from its history, then ``openforge_lambda.failure.clean_up`` stops its
jobs and rolls back its deployment. Shared by the CleanUpEndedRun Lambda (EventBridge) and
the command-line client's ``stop``.

Harmless to repeat: a job no longer running is left alone, a deployment already rolled back
has nothing left to delete. State names are the caller's (openforge_contract/states.py), passed in.
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from openforge_lambda import hyperpod
from openforge_lambda.endpoint import Ownership
from openforge_lambda.failure import clean_up
from openforge_lambda.s3_streams import split_s3_uri

HISTORY_PAGE_SIZE = 1000  # GetExecutionHistory's maximum


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


def run_state(history: Iterable[Mapping], *, validate_state: str, deploy_state: str) -> dict:
    """What a clean-up needs from a run's history: the input check's run and plan (the job
    names), and the deployment's record when one had started."""
    state, current = {}, None
    for event in sorted(history, key=lambda e: e["id"]):
        if event["type"].endswith("StateEntered"):
            current = event["stateEnteredEventDetails"]["name"]
        elif event["type"] in ("LambdaFunctionSucceeded", "TaskSucceeded"):
            details = event.get("lambdaFunctionSucceededEventDetails") or event.get("taskSucceededEventDetails") or {}
            output = _json(details.get("output"))
            if isinstance(output, Mapping) and "Payload" in output and event["type"] == "TaskSucceeded":
                output = output["Payload"]  # lambda:invoke's whole response
            if current == validate_state and isinstance(output, Mapping) and output.get("valid"):
                state.update(run=output["run"], plan=output["plan"])
            elif current == deploy_state and isinstance(output, Mapping):
                state["deployment"] = output
    return state


def state_succeeded(history: Iterable[Mapping], state_name: str) -> bool:
    """Whether the execution left ``state_name`` normally (e.g. its failure notification went out)."""
    return any(event["type"].endswith("StateExited") and event.get("stateExitedEventDetails", {}).get("name") == state_name
               for event in history)


def clean_up_execution(client, execution_arn: str, error: Mapping, *, validate_state: str, deploy_state: str,
                       hyperpod_cluster: str | None = None, endpoints: Ownership | None = None,
                       history: list[dict] | None = None) -> dict:
    """Stop what the execution started that still runs; ``failure.clean_up``'s result.
    ``client(name)`` makes a boto3 client (Step Functions for the history, SageMaker, and S3
    for a HyperPod run, whose Slurm jobs are cancelled through the cluster's submitter)."""
    history = events_after(client("stepfunctions"), execution_arn) if history is None else history
    state = run_state(history, validate_state=validate_state, deploy_state=deploy_state)
    on_hyperpod = ((state.get("run") or {}).get("compute") or {}).get("target") == hyperpod.TARGET
    # The cluster's job specs live in the artifacts bucket, where the plan's training output goes.
    output = (state.get("plan") or {}).get("training_output_s3_uri")
    jobs_bucket = split_s3_uri(output)[0] if on_hyperpod and output else None
    return clean_up({**state, "error": dict(error)}, client("sagemaker"), client("s3") if on_hyperpod else None,
                    hyperpod_cluster=hyperpod_cluster if on_hyperpod else None, hyperpod_bucket=jobs_bucket, endpoints=endpoints)


def _json(text):
    if not isinstance(text, str):
        return None
    try:
        return json.loads(text)
    except ValueError:
        return None
