"""The command-line client's progress lines (pipeline/cli/progress.py) on recorded-looking
histories: no AWS, no clock."""
from __future__ import annotations

import json

from openforge_contract import states
from pipeline.cli.progress import Progress, render
from tests.pipeline.cli.fakes import History, grid_history


def test_a_history_reads_as_one_line_per_state_with_each_mix_labelled_and_polling_folded_into_its_job():
    assert render(grid_history()) == [
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
    events, progress, printed = grid_history(), Progress(), []
    for first in range(0, len(events), 7):
        printed += progress.feed(events[first:first + 7])
    assert progress.finished and progress.status == "SUCCEEDED"
    whole = render(events)
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
    progress = Progress()
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
    assert render(h.events) == ["  12:00:00  Train and evaluate each mix ... failed (3s)", "  12:00:03  Clean up after the failure ... done (1s)"]
