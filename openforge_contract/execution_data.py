"""What the fine-tuning pipeline's states put in the execution's JSON, and what a run outputs.

The state machine (constructs/fine_tuning_pipeline/) writes each field with one state's
ResultPath; the command-line client (pipeline/cli/) reads them back from the execution's
history as it follows a run; the local runner (pipeline/local/) builds the same document
step by step; and pipeline/summary.py prints the run's output (``OUTPUT``) for both. What a
field holds is its Lambda's result, documented in that Lambda's handler (lambda/*/handler.py).
"""
from __future__ import annotations

from dataclasses import dataclass

from openforge_contract import states

# --- the execution's JSON: each field is one state's result ("$.<field>") ------------------

RUN = "run"  # Validate the input: the input, its defaults filled in
PLAN = "plan"  # Validate the input: this execution's names and locations
VALID = "valid"  # Validate the input: whether the input is valid; ERROR says why not
ERROR = "error"  # a caught error, {"Error", "Cause"} (ValidateInput's verdict: {"field", "cause"})
SANITISATION = "sanitisation"  # the sanitisation states: their plan, the map run and SANITISATION_SUMMARY
SANITISATION_SUMMARY = "summary"  # the counts and the quarantine verdict
VALIDATION = "validation"  # Check the validation run
RESULTS = "results"  # Train and evaluate each mix: one outcome per mix (the fields below)
SELECTION = "selection"  # Pick the model
DEPLOYMENT = "deployment"  # Deploy the private endpoint: what RollBackEndpoint undoes
ENDPOINT = "endpoint"  # Check the endpoint ({"status": "not requested"} when no deployment is)
ROLLBACK = "rollback"  # Roll back the endpoint
FAILURE = "failure"  # Clean up after the failure (or the gate's or the endpoint's failure, before the notification)
SUMMARY = "summary"  # Summarise the run: the run's output (OUTPUT)

# One mix's state inside the Map, and its outcome in RESULTS: the mix, then its TRAINING and
# EVALUATION checks, or FAILED ({"step", "cause", ...}) when it did not get that far.
MIX = "mix"
TRAINING = "training"
EVALUATION = "evaluation"
FAILED = "failed"


def path(*fields: str) -> str:
    """The JSONPath of a field of the execution's JSON: path(SELECTION, "passed") is "$.selection.passed"."""
    return ".".join(("$", *fields))


@dataclass(frozen=True)
class JobLoop:
    """A state that starts a job (or deploys an endpoint), and the Check state of the
    Wait/Check/Choice loop that polls it until it settles."""

    start: str  # the starting state
    check: str  # its Check state
    started: str  # the field the starting state's result goes to: the job's record
    status: str  # the field each check's result goes to: the job's status


VALIDATION_LOOP = JobLoop(states.VALIDATION_RUN, states.CHECK_VALIDATION, "validation_job", VALIDATION)
TRAINING_LOOP = JobLoop(states.TRAIN, states.CHECK_TRAINING, "training_job", TRAINING)
EVALUATION_LOOP = JobLoop(states.EVALUATE, states.CHECK_EVALUATION, "evaluation_job", EVALUATION)
DEPLOYMENT_LOOP = JobLoop(states.DEPLOY, states.CHECK_ENDPOINT, DEPLOYMENT, ENDPOINT)
JOB_LOOPS = (VALIDATION_LOOP, TRAINING_LOOP, EVALUATION_LOOP, DEPLOYMENT_LOOP)

# --- the run's output: what Summarise puts in SUMMARY, and the execution ends with ----------

JOB_NAME = "job_name"
EXECUTION_NAME = "execution_name"
VALIDATION_RUN = "validation_run"
# Each output field, and where in the execution's JSON Summarise takes it from.
OUTPUT = {
    JOB_NAME: (RUN, JOB_NAME),
    EXECUTION_NAME: (PLAN, EXECUTION_NAME),
    SANITISATION: (SANITISATION, SANITISATION_SUMMARY),
    VALIDATION_RUN: (VALIDATION,),
    SELECTION: (SELECTION,),
    ENDPOINT: (ENDPOINT,),
}
