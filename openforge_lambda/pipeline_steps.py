"""One function per step of the fine-tuning state machine whose Lambda does more than one
library call: each handler parses its event, calls its function here and returns the result.

Where a step runs is decided here, once: ``start_training_step`` starts it as a SageMaker
training job (compute.target training-job) or as a Slurm job on the environment's HyperPod
cluster (hyperpod), from the same ``training_job.job_plan``; ``check_training_step`` asks the
same place. The start functions then check that their execution still runs and undo what they
made when it does not (``execution_check``).

``clients(name)`` makes a boto3 client (``boto3.client`` in a Lambda); environments come from
the loaders passed in (a handler's, read once per cold start), called only for the target that
needs them.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from datetime import UTC, datetime

from openforge_contract.environment_variables import TrainingEnvironment
from openforge_contract.execution_data import ERROR, PLAN, RUN, VALID
from openforge_lambda import execution_check, hyperpod, polling, training_job
from openforge_lambda.capacity_check import capacity_plan
from openforge_lambda.endpoint import DeployRequest, deploy
from openforge_lambda.failure import undo_start
from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError, parse_run
from openforge_lambda.run_plan import PlatformLocations, plan_run
from openforge_lambda.start_check import StartRequest, check_job_limits

Clients = Callable[[str], object]


def validate_input(event, policy: EnvironmentPolicy, platform: PlatformLocations, model_config: Callable[[str], dict]) -> dict:
    """ValidateInput: {"valid": true, "error": null, "run", "plan"}, or for a bad input
    {"valid": false, "error": {"field", "cause"}}, a verdict the state machine's Choice sends to
    Fail(InvalidInput): the console then shows the cause itself, not a stack trace.
    ``model_config(base_model_s3_uri)`` reads the base model's config.json
    (capacity_check.read_model_config), for the capacity plan the run plan carries."""
    try:
        if not isinstance(event, Mapping) or "input" not in event:
            raise PipelineInputError("", "the state machine must pass {\"input\": ..., \"execution_name\": ...}")
        run = parse_run(event["input"], policy)
        plan = plan_run(run, event.get("execution_name"), platform)
        plan = replace(plan, capacity=capacity_plan(run, model_config(run.base_model_s3_uri), policy))
    except PipelineInputError as error:
        return {VALID: False, ERROR: {"field": error.field, "cause": str(error)}}
    return {VALID: True, ERROR: None, RUN: run.to_dict(), PLAN: plan.to_dict()}


def start_training_step(clients: Clients, request: StartRequest, *, training_environment: Callable[[], TrainingEnvironment],
                        hyperpod_environment: Callable[[], hyperpod.HyperPodEnvironment]) -> dict:
    """StartTrainingJob: the job record CheckTrainingJob takes ({"step", "target", "job_name",
    "mix", ...}), with "execution_ended" when the execution had ended by the time the job was
    started (it is then stopped again)."""
    target = request.run.compute.target
    if target == hyperpod.TARGET:
        environment = hyperpod_environment()
        job = _checked_job(request, environment.mlflow_tracking_server_arn)
        started = hyperpod.start(clients("s3"), job, environment)
    elif target == training_job.TARGET:
        environment = training_environment()
        job = _checked_job(request, environment.mlflow_tracking_server_arn)
        started = training_job.start(clients("sagemaker"), training_job.training_job_request(job, environment), mix=job.mix)
    else:
        raise training_job.TrainingRequestRefused("run.compute.target", f"must be training-job or hyperpod, got {target!r}")
    return execution_check.undone_if_ended(clients("stepfunctions"), request.execution_arn, started, f"job {started['job_name']}",
                                           lambda: undo_start(clients("sagemaker"), clients("s3"), job=started))


def _checked_job(request: StartRequest, mlflow_tracking_uri: str) -> training_job.JobPlan:
    job = training_job.job_plan(request.step, request.run, request.plan, request.mix, mlflow_tracking_uri=mlflow_tracking_uri)
    check_job_limits(job)
    return job


def check_training_step(clients: Clients, job: Mapping, poll: Mapping | None = None) -> dict:
    """CheckTrainingJob: the step's status where it runs, and with ``poll`` how long the loop
    waits before the next check ("wait_seconds", polling.wait_after_check)."""
    if job.get("target") == hyperpod.TARGET:
        result = hyperpod.status(clients("s3"), job)
    else:
        result = training_job.status(clients("sagemaker"), job)
    if poll:
        result["wait_seconds"] = polling.wait_after_check(poll)
    return result


def deploy_model(clients: Clients, request: DeployRequest, execution_arn: str | None) -> dict:
    """DeployEndpoint: the deployment record ({"endpoint_name", "model_name", ...,
    "started_at"}), rolled back again with "execution_ended" when the execution had ended by
    the time it was made."""
    started_at = datetime.now(UTC).isoformat()
    deployed = {**deploy(clients("sagemaker"), request), "started_at": started_at}
    return execution_check.undone_if_ended(clients("stepfunctions"), execution_arn, deployed,
                                           f"deploying to endpoint {deployed['endpoint_name']}",
                                           lambda: undo_start(clients("sagemaker"), deployment=deployed))
