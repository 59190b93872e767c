"""The run's life seen from a terminal, against the account: ``start`` an execution,
``follow`` it until it ends, print its ``summary``, ``stop`` it.

``follow`` polls the execution's history and prints its progress (pipeline/cli/progress.py);
while a SageMaker training job runs, its status, secondary status and latest status message
are printed as they change (the SageMaker SDK's ``TrainingJob`` resource when
``sagemaker-core`` is installed, boto3 otherwise). At the end it prints the summary: the
execution's output (sanitisation counts, validation run, each mix's row, the gate's verdict
and cause, the chosen model, MLflow run ids, the endpoint), or the error and cause of a
failed run (pipeline/summary.py). ``summary`` prints only that. ``stop`` stops a running
execution and then does what its failure path would have (a stop runs none of its states):
stops this run's jobs still running and rolls back a deployment that had started.

Each takes its Step Functions client (and ``stop`` its session) and a sleep function from
the caller, so the tests run them on fakes and moto.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import timezone

from openforge_contract import naming
from openforge_lambda.ended_execution import json_or_none
from pipeline.cli.history import new_events, timestamp
from pipeline.cli.locate import console_url
from pipeline.cli.progress import Progress, detail_line, short
from pipeline.cli.terminal import EXIT_NOT_FINISHED, EXIT_OK, EXIT_RUN_FAILED, Terminal
from pipeline.summary import failure_lines, key_values, summary_lines

DEFAULT_POLL_SECONDS = 10.0


def start(sfn, arn: str, name: str, pipeline_input: Mapping, terminal: Terminal) -> str:
    execution = sfn.start_execution(stateMachineArn=arn, name=name, input=json.dumps(pipeline_input))["executionArn"]
    terminal.say(f"Started {execution}", f"Console: {console_url(execution)}")
    return execution


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


def follow(sfn, execution_arn: str, terminal: Terminal, *, poll_seconds: float = DEFAULT_POLL_SECONDS,
           describe_job: Callable[[str], dict] | None = None, sleep: Callable[[float], None] = time.sleep) -> int:
    """Print the run's progress until it ends, then its summary; the exit status."""
    described = sfn.describe_execution(executionArn=execution_arn)
    started = timestamp(described["startDate"])
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
                terminal.say(detail_line(1 if job.label else 0, f"{job.name}: no SageMaker details ({aws_problem(error)})"))
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
    result = clean_up_execution(session.client, execution_arn, {"Error": STOPPED_ERROR, "Cause": STOPPED_CAUSE},
                                hyperpod_cluster=naming.cluster_name(environment))
    rows = [("Stopped jobs", ", ".join(result["stopped_jobs"]) or "none running")]
    rows += [("Removed", item) for item in result["removed"]]
    rows += [("Problem", problem) for problem in result["cleanup_problems"]]
    terminal.say(*key_values(rows))
    return EXIT_RUN_FAILED if result["cleanup_problems"] else EXIT_OK


def aws_problem(error: Exception) -> str:
    """An AWS error in one short line: its code and message."""
    problem = getattr(error, "response", {}).get("Error", {}) if hasattr(error, "response") else {}
    text = f"{problem.get('Code')}: {problem.get('Message')}" if problem else str(error)
    return short(text, 160)


def _print_result(described: Mapping, progress: Progress, terminal: Terminal) -> int:
    status = described["status"]
    if status == "SUCCEEDED":
        output = json_or_none(described.get("output")) or progress.output or {}
        terminal.say(*summary_lines(output))
        return EXIT_OK
    error = described.get("error") or progress.error
    cause = described.get("cause") or progress.cause
    terminal.say(*failure_lines(status, error, cause, progress.selection))
    return EXIT_RUN_FAILED

