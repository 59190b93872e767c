"""After a failure anywhere in the pipeline: say what went wrong in words a person can act
on, stop this execution's jobs that are still running (they bill by the hour), and roll
back a deployment that had started. With a ``mix`` in the event (a mix's error inside the
grid), only that mix's training and evaluation jobs are stopped.

Every clean-up step that itself fails is logged and listed in ``cleanup_problems``, never
raised: the execution must still reach Notify. Works with only the error (a failure in
the first state has no run or plan yet).
"""
from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from openforge_lambda import hyperpod
from openforge_lambda.endpoint import Ownership
from openforge_lambda.endpoint_rollback import find_deployment, roll_back
from openforge_lambda.run import Run
from openforge_lambda.run_plan import Mix, RunPlan
from openforge_lambda.sagemaker_calls import is_missing
from openforge_lambda.settings import FieldError

log = logging.getLogger(__name__)
NESTING_LIMIT = 8  # a cause inside a cause: execution in execution, at most this deep


def readable(error: Mapping | None) -> tuple[str, str]:
    """(error name, cause) from Step Functions' {"Error", "Cause"}.

    A Lambda's cause is its JSON error ({"errorMessage", "errorType", "stackTrace"}): the
    message. A nested execution's (.sync:2) is its DescribeExecution as JSON, whose
    Error/Cause (error/cause for .sync) are the child's: those, unwrapped again. Any other
    cause is kept as written."""
    error = error if isinstance(error, Mapping) else {}
    name = error.get("Error") or error.get("error") or "UnknownError"
    cause = error.get("Cause") if error.get("Cause") is not None else error.get("cause")
    for _ in range(NESTING_LIMIT):
        parsed = _json_object(cause)
        if parsed is None:
            break
        if "errorMessage" in parsed:
            return parsed.get("errorType") or name, str(parsed["errorMessage"])
        child = next(((parsed.get(e), parsed.get(c)) for e, c in (("Error", "Cause"), ("error", "cause"))
                      if e in parsed or c in parsed), None)
        if child is None:
            break
        name, cause = child[0] or name, child[1]
    if cause is None or (isinstance(cause, str) and not cause.strip()):
        return name, f"the step failed with {name} and gave no cause"
    return name, cause if isinstance(cause, str) else json.dumps(cause)


@dataclass(frozen=True)
class CaughtFailure:
    """CleanUpRun's event, parsed once: the error, and the run, plan, mix and deployment record
    where the failed state had them (a failure in the first state has none). A run, plan or mix
    that cannot be read is not raised: the clean-up does what it can without it and says so in
    ``unreadable``."""

    error: Mapping | None
    run: Run | None = None
    plan: RunPlan | None = None
    mix: Mix | None = None  # a mix's error inside the grid: only its jobs are stopped
    deployment: Mapping | None = None  # DeployEndpoint's record, when it returned one
    unreadable: tuple[str, ...] = ()

    @classmethod
    def from_event(cls, event) -> CaughtFailure:
        event = event if isinstance(event, Mapping) else {}
        problems: list[str] = []

        def parsed(name: str, parse):
            if event.get(name) is None:
                return None
            try:
                return parse(event[name], name)
            except FieldError as error:
                problems.append(f"could not read the failed state's {name} ({error}); what it names was not cleaned up")
                return None

        deployment = event.get("deployment")
        return cls(event.get("error"), parsed("run", Run.from_dict), parsed("plan", RunPlan.from_dict), parsed("mix", Mix.from_dict),
                   deployment if isinstance(deployment, Mapping) else None, tuple(problems))

    @property
    def job_names(self) -> list[str]:
        """The jobs to stop: the mix's (its iteration's error), else every job of the execution."""
        if self.mix is not None:
            return [self.mix.training_job_name, self.mix.evaluation_job_name]
        return self.plan.job_names() if self.plan is not None else []


def clean_up(failure: CaughtFailure, sagemaker, s3=None, *, hyperpod_cluster: str | None = None,
             hyperpod_bucket: str | None = None, endpoints: Ownership | None = None) -> dict:
    """``endpoints``: the environment's endpoint namespace, to find a deployment by its
    derived names when the failed state has no deployment record (DeployEndpoint failed)."""
    error, cause = readable(failure.error)
    result = {"error": error, "cause": cause, "stopped_jobs": [], "removed": [], "cleanup_problems": list(failure.unreadable)}
    names, run, plan = failure.job_names, failure.run, failure.plan
    if names and run is not None and run.compute.target == hyperpod.TARGET:
        _cancel_slurm_jobs(result, s3, hyperpod_cluster, hyperpod_bucket, names)
    else:
        for name in names:
            _stop_training_job(result, sagemaker, name)
    if failure.deployment is not None:
        _roll_back(result, sagemaker, failure.deployment)
    elif endpoints is not None and run is not None and run.deploy.enabled and plan is not None:
        _roll_back_unrecorded(result, sagemaker, endpoints, plan)
    return result


def undo_start(sagemaker, s3=None, *, job: Mapping | None = None, deployment: Mapping | None = None) -> dict:
    """What one start function made for an execution that ended while it ran
    (openforge_lambda.execution_check): ``job``, StartTrainingJob's record, stopped (or its
    Slurm job cancelled, for target hyperpod), or ``deployment``, DeployEndpoint's, rolled
    back. The result has clean_up's lists, with the same never-raise rule."""
    result = {"stopped_jobs": [], "removed": [], "cleanup_problems": []}
    if job is not None and job.get("target") == hyperpod.TARGET:
        _cancel_slurm_jobs(result, s3, job.get("cluster_name"), job.get("jobs_bucket"), [job["job_name"]])
    elif job is not None:
        _stop_training_job(result, sagemaker, job["job_name"])
    if deployment is not None:
        _roll_back(result, sagemaker, deployment)
    return result


def _stop_training_job(result: dict, sagemaker, name: str) -> None:
    try:
        described = sagemaker.describe_training_job(TrainingJobName=name)
        if described["TrainingJobStatus"] == "InProgress":  # Stopping is on its way already
            sagemaker.stop_training_job(TrainingJobName=name)
            result["stopped_jobs"].append(name)
    except ClientError as error:
        if is_missing(error):
            return  # never started: nothing to stop
        _problem(result, f"could not stop training job {name}", error)
    except Exception as error:  # noqa: BLE001 - reported, the execution must reach Notify
        _problem(result, f"could not stop training job {name}", error)


def _cancel_slurm_jobs(result: dict, s3, cluster: str | None, bucket: str | None, names: list[str]) -> None:
    if not cluster or not bucket or s3 is None:
        result["cleanup_problems"].append(f"could not cancel Slurm jobs {', '.join(names)}: no HyperPod cluster is configured "
                                          "on the clean-up function (HYPERPOD_CLUSTER_NAME, HYPERPOD_JOBS_BUCKET)")
        return
    try:
        result["stopped_jobs"] += hyperpod.cancel(s3, bucket, cluster, names)
    except Exception as error:  # noqa: BLE001 - reported, the execution must reach Notify
        _problem(result, f"could not cancel Slurm jobs {', '.join(names)} on {cluster}", error)


def _roll_back(result: dict, sagemaker, deployment: Mapping) -> None:
    try:
        rolled = roll_back(sagemaker, deployment)
    except Exception as error:  # noqa: BLE001 - reported, the execution must reach Notify
        _problem(result, f"could not roll back endpoint {deployment.get('endpoint_name')}", error)
        return
    result["removed"] += rolled["actions"] + [f"deleted {name}" for name in rolled["deleted"]]
    if rolled["problem"]:
        result["cleanup_problems"].append(rolled["problem"])
    elif not rolled["done"]:
        result["cleanup_problems"].append(
            f"endpoint {rolled['endpoint_name']} is still switching back; endpoint config and model "
            f"{deployment.get('endpoint_config_name')} are left (run RollBackEndpoint again once it has settled)")


def _roll_back_unrecorded(result: dict, sagemaker, endpoints: Ownership, plan: RunPlan) -> None:
    """DeployEndpoint failed, so no record: what this execution made is found by its names."""
    name = endpoints.endpoint_name(plan.endpoint_name)
    try:
        deployment = find_deployment(sagemaker, name, plan.execution_name)
    except Exception as error:  # noqa: BLE001 - reported, the execution must reach Notify
        _problem(result, f"could not look for a deployment of {plan.execution_name} to endpoint {name}", error)
        return
    if deployment is not None:
        _roll_back(result, sagemaker, deployment)


def _problem(result: dict, what: str, error: Exception) -> None:
    log.exception("%s", what)
    result["cleanup_problems"].append(f"{what}: {error}")


def _json_object(cause) -> dict | None:
    if isinstance(cause, Mapping):
        return dict(cause)
    if not isinstance(cause, str) or not cause.lstrip().startswith("{"):
        return None
    try:
        parsed = json.loads(cause)
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None
