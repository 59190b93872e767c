"""How long one execution of the fine-tuning pipeline may take, and how often it polls its
jobs, from an environment's limits: the state machine's TimeoutSeconds, and the bound that
keeps its polling under Step Functions' history limit.

Polling grows with the execution's age: after each check the job loop waits
max(poll_seconds, age / POLL_AGE_DIVISOR), so a job that has finished is noticed within an
eighth of the time the run has taken, and one loop checks O(log(run length)) times
(the CheckTrainingJob Lambda computes the wait, from the numbers the state machine passes).
"""
from __future__ import annotations

import json
import math
from pathlib import Path

# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html ("Maximum execution
# history size: 25,000 events"; an execution that reaches it fails).
HISTORY_EVENT_LIMIT = 25_000
# https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html (Standard workflows run at most one year).
MAX_EXECUTION_SECONDS = 365 * 24 * 3600
POLL_AGE_DIVISOR = 8
# One turn of a job loop: Wait entered/exited, the check (Task entered, scheduled, started,
# succeeded, exited), the Choice entered/exited; measured on the synthesised machine's history
# by tests/test_pipeline_stack_runs.py.
EVENTS_PER_POLL = 9
# Everything else a run writes: validation, sanitisation, pick, deploy and the ending; and per
# mix, its Map iteration, starts, results and its first check. Measured likewise, with room.
EVENTS_PER_RUN, EVENTS_PER_MIX = 200, 40

# Allowances for what AWS does not bound: a training job's provisioning and downloads before
# MaxRuntimeInSeconds counts, sanitising the raw data (a Distributed Map of 15-minute Lambdas),
# and an endpoint becoming InService. The state machine passes DEPLOYMENT_SECONDS to CheckEndpoint,
# which fails a deployment not settled that long after DeployEndpoint started it.
JOB_START_SECONDS = 3600
SANITISATION_SECONDS = 24 * 3600
DEPLOYMENT_SECONDS = 2 * 3600

PIPELINE_INPUT_SCHEMA = Path(__file__).resolve().parents[2] / "schemas" / "pipeline-input.schema.json"


def max_grid_points() -> int:
    """The most mixes one run may train (the pipeline input's grid, as published)."""
    schema = json.loads(PIPELINE_INPUT_SCHEMA.read_text())
    return schema["properties"]["grid"]["properties"]["customer_data_percent"]["maxItems"]


def execution_timeout_seconds(*, max_training_hours: int, max_parallel_runs: int, grid_points: int | None = None) -> int:
    """The longest a run can legitimately take, so TimeoutSeconds ends only a stuck one:
    sanitisation, the validation run, then the mixes in batches of max_parallel_runs (each a
    training and an evaluation job, both capped at max_training_hours by MaxRuntimeInSeconds),
    then the deployment. The validation run is bounded by max_training_hours too (its own cap
    is shorter)."""
    grid_points = grid_points or max_grid_points()
    job = max_training_hours * 3600 + JOB_START_SECONDS
    batches = math.ceil(grid_points / max_parallel_runs)
    seconds = SANITISATION_SECONDS + job + batches * 2 * job + DEPLOYMENT_SECONDS
    return min(seconds, MAX_EXECUTION_SECONDS)


def polls_of_one_loop(run_seconds: int, poll_seconds: int) -> int:
    """How many times one job loop (one lane of the grid) can check over a whole run: each wait
    is max(poll_seconds, age / POLL_AGE_DIVISOR), so a lane's checks are at least that far apart
    whatever jobs it runs."""
    age, polls = 0, 0
    while age < run_seconds:
        age += next_wait_seconds(age, poll_seconds)
        polls += 1
    return polls


def next_wait_seconds(age_seconds: float, poll_seconds: int) -> int:
    return max(poll_seconds, math.ceil(age_seconds / POLL_AGE_DIVISOR))


def worst_case_history_events(*, max_training_hours: int, max_parallel_runs: int, poll_seconds: int,
                              events_per_poll: int = EVENTS_PER_POLL) -> int:
    """An upper bound on one execution's history events: every lane of the grid polling for the
    whole execution timeout, one extra check per job (the check right after its start), the
    endpoint polled every poll_seconds for the whole deployment allowance, and the rest. The
    endpoint's k-th check comes at least k * poll_seconds after the deployment started, and the
    first at or past DEPLOYMENT_SECONDS ends the loop, so it checks at most
    ceil(DEPLOYMENT_SECONDS / poll_seconds) times."""
    grid = max_grid_points()
    run_seconds = execution_timeout_seconds(max_training_hours=max_training_hours, max_parallel_runs=max_parallel_runs)
    lanes = min(max_parallel_runs, grid)
    polls = lanes * polls_of_one_loop(run_seconds, poll_seconds) + (1 + 2 * grid) + math.ceil(DEPLOYMENT_SECONDS / poll_seconds)
    return polls * events_per_poll + EVENTS_PER_RUN + EVENTS_PER_MIX * grid
