"""Given a failed execution, when the pipeline cleans up, then the failure is worded so a
person can act on it (whatever shape Step Functions gave it), this execution's jobs still
running are stopped, a started deployment is rolled back, and a clean-up step that fails
itself is reported, never raised, so the execution still reaches Notify.

Training jobs are moto's, with the StopTrainingJob and status setting of test_training_job;
Slurm jobs are cancelled by cancel requests next to their specs (test_hyperpod's bucket).
"""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.exceptions import ClientError

from tests.lambdas.conftest import LambdaContext, load_handler
from hyperpod_jobs.spec import JobStatus, status_key

from tests.lambdas.test_hyperpod import CLUSTER, ENVIRONMENT as HYPERPOD, s3, start_step as hyperpod_start  # noqa: F401 - the fixture, shared
from tests.lambdas.training_runs import ENVIRONMENT, request_for, run_and_plan, sagemaker  # noqa: F401 - the fixture, shared

from openforge_lambda.endpoint import deploy, deployment_name  # isort: skip
from openforge_lambda.failure import CaughtFailure, clean_up as clean_up_failure, readable  # isort: skip
from openforge_lambda.run_plan import RunPlan  # isort: skip
from openforge_lambda.training_job import start  # isort: skip

NAMESPACE = {"endpoint_name_prefix": "openforge-test-", "owner_tags": {"openforge:managed-by": "openforge", "openforge:environment": "test"}}
LAMBDA_CAUSE = json.dumps({"errorMessage": "mixing.customer_data_percent: 120 is greater than the maximum of 100",
                           "errorType": "PipelineInputError", "requestId": "r-1",
                           "stackTrace": ["  File \"/var/task/handler.py\", line 30, in handler\n"]})
CHILD = "arn:aws:states:us-east-1:123456789012:execution:openforge-sanitisation:exec-1"
CAUSES = {
    "a Lambda's error": ({"Error": "PipelineInputError", "Cause": LAMBDA_CAUSE},
                         ("PipelineInputError", "mixing.customer_data_percent: 120 is greater than the maximum of 100")),
    "a nested execution (.sync:2)": (
        {"Error": "States.TaskFailed", "Cause": json.dumps({
            "ExecutionArn": CHILD, "Status": "FAILED", "Error": "DataQuarantined",
            "Cause": "37 of 1200 records (3.1%) still hold personal data after scrubbing; the limit is 1%"})},
        ("DataQuarantined", "37 of 1200 records (3.1%) still hold personal data after scrubbing; the limit is 1%")),
    "a nested execution (.sync) whose child failed in a Lambda": (
        {"Error": "States.TaskFailed", "Cause": json.dumps({"executionArn": CHILD, "status": "FAILED",
                                                            "error": "PipelineInputError", "cause": LAMBDA_CAUSE})},
        ("PipelineInputError", "mixing.customer_data_percent: 120 is greater than the maximum of 100")),
    "a plain cause": ({"Error": "States.Timeout", "Cause": "The task timed out after 3600 seconds."},
                      ("States.Timeout", "The task timed out after 3600 seconds.")),
    "JSON that is not an error": ({"Error": "Custom", "Cause": "[1, 2]"}, ("Custom", "[1, 2]")),
    "no cause": ({"Error": "States.Runtime"}, ("States.Runtime", "the step failed with States.Runtime and gave no cause")),
    "no error at all": (None, ("UnknownError", "the step failed with UnknownError and gave no cause")),
}


@pytest.mark.parametrize("error, worded", CAUSES.values(), ids=CAUSES.keys())
def test_each_shape_of_cause_is_worded_readably(error, worded):
    assert readable(error) == worded


def clean_up(event: dict, *clients, **settings) -> dict:
    """failure.clean_up of CleanUpRun's event, read as the handler reads it."""
    return clean_up_failure(CaughtFailure.from_event(event), *clients, **settings)


def test_the_jobs_of_an_execution_are_the_validation_run_and_each_mixs():
    run, plan = run_and_plan()
    assert RunPlan.from_dict(plan).job_names() == [plan["validation_job_name"], "tickets-t75-f42b7a90", "tickets-e75-f42b7a90",
                                                   "tickets-t100-f42b7a90", "tickets-e100-f42b7a90"]
    assert CaughtFailure.from_event({"run": run, "plan": plan, "mix": plan["mixes"][1]}).job_names == [
        "tickets-t100-f42b7a90", "tickets-e100-f42b7a90"], "a mix's error: only that mix's jobs"
    assert CaughtFailure.from_event({"error": {"Error": "X"}}).job_names == []


def test_a_plan_that_cannot_be_read_is_reported_not_raised(sagemaker):
    run, plan = run_and_plan()
    result = clean_up({"run": run, "plan": {**plan, "mixes": "all"}, "error": {"Error": "X", "Cause": "y"}}, sagemaker.client)
    assert result["cleanup_problems"] == ['could not read the failed state\'s plan (plan.mixes: must be a list, got "all"); '
                                          "what it names was not cleaned up"]


def test_a_failure_in_the_first_state_has_nothing_to_clean(sagemaker):
    assert clean_up({"execution_name": "exec-1", "error": {"Error": "PipelineInputError", "Cause": LAMBDA_CAUSE}},
                    sagemaker.client) == {
        "error": "PipelineInputError", "cause": "mixing.customer_data_percent: 120 is greater than the maximum of 100",
        "stopped_jobs": [], "removed": [], "cleanup_problems": []}


def test_jobs_still_running_are_stopped_and_the_rest_left_alone(sagemaker):
    run, plan = run_and_plan()
    for step, mix in (("validation", None), ("training", plan["mixes"][0]), ("training", plan["mixes"][1])):
        start(sagemaker.client, request_for(step, run, plan, mix))
    sagemaker.set_job("tickets-t75-f42b7a90", "InProgress")
    sagemaker.set_job("tickets-t100-f42b7a90", "Stopping")
    # The validation run Completed; neither evaluation was started.
    result = clean_up({"execution_name": "exec-1", "run": run, "plan": plan,
                       "error": {"Error": "States.TaskFailed", "Cause": "boom"}}, sagemaker.client)
    assert (result["stopped_jobs"], result["cleanup_problems"]) == (["tickets-t75-f42b7a90"], [])
    assert sagemaker.backend.training_jobs["tickets-t75-f42b7a90"].training_job_status == "Stopping"
    assert sagemaker.backend.training_jobs[plan["validation_job_name"]].training_job_status == "Completed"

    class DeniedStop:
        """The clean-up role lacking sagemaker:StopTrainingJob."""

        def describe_training_job(self, **name):
            return sagemaker.client.describe_training_job(**name)

        def stop_training_job(self, **name):
            raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform: sagemaker:StopTrainingJob"}},
                              "StopTrainingJob")

    sagemaker.set_job("tickets-t75-f42b7a90", "InProgress")
    result = clean_up({"run": run, "plan": plan, "error": {"Error": "X", "Cause": "y"}}, DeniedStop())
    assert result["stopped_jobs"] == []
    assert result["cleanup_problems"] == ["could not stop training job tickets-t75-f42b7a90: An error occurred (AccessDeniedException) "
                                          "when calling the StopTrainingJob operation: not authorized to perform: sagemaker:StopTrainingJob"]


def test_a_started_deployment_is_rolled_back_and_a_broken_record_is_reported(sagemaker):
    key = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    deployed = deploy(sagemaker.client, {
        "endpoint_name": "tickets", **NAMESPACE, "execution_name": "exec-1", "model_data_s3_uri": "s3://openforge-test-artifacts/training/m/",
        "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:latest", "role_arn": ENVIRONMENT.role_arn,
        "subnet_ids": ["subnet-a"], "security_group_ids": ["sg-endpoint"], "kms_key_id": key, "instance_type": "ml.m5.xlarge"})
    name = deployment_name("openforge-test-tickets", "exec-1")
    result = clean_up({"error": {"Error": "EndpointFailed", "Cause": "health check failed"}, "deployment": deployed}, sagemaker.client)
    assert result["removed"] == ["deleted endpoint openforge-test-tickets (created by this deployment, InService)", f"deleted {name}",
                                 f"deleted {name}"]
    assert result["cleanup_problems"] == [] and not sagemaker.backend.endpoints

    broken = clean_up({"error": {"Error": "X"}, "deployment": {"endpoint_name": "openforge-test-tickets"}}, sagemaker.client)
    assert broken["removed"] == [] and broken["cleanup_problems"] == [
        "could not roll back endpoint openforge-test-tickets: 'endpoint_config_name'"]


def test_slurm_jobs_are_cancelled_on_the_cluster_and_a_missing_cluster_is_reported(s3):  # noqa: F811
    run, plan = run_and_plan(compute={"target": "hyperpod"})
    running, finished = (hyperpod_start(s3, "training", run, plan, mix)["job_name"] for mix in plan["mixes"])
    s3.put_object(Bucket=HYPERPOD.jobs_bucket, Key=status_key(CLUSTER, finished),
                  Body=JobStatus(finished, "COMPLETED", slurm_job_id="7").to_json().encode())
    event = {"run": run, "plan": plan, "error": {"Error": "States.TaskFailed", "Cause": "boom"}}
    result = clean_up(event, boto3.client("sagemaker"), s3, hyperpod_cluster=CLUSTER, hyperpod_bucket=HYPERPOD.jobs_bucket)
    assert (result["stopped_jobs"], result["cleanup_problems"]) == ([running], [])
    assert s3.list_objects_v2(Bucket=HYPERPOD.jobs_bucket, Prefix=f"hyperpod/{CLUSTER}/cancel/")["KeyCount"] == 1

    failed = clean_up(event, boto3.client("sagemaker"), s3, hyperpod_cluster=CLUSTER, hyperpod_bucket="no-such-bucket")
    assert failed["stopped_jobs"] == [] and "NoSuchBucket" in failed["cleanup_problems"][0]
    unconfigured = clean_up(event, boto3.client("sagemaker"))
    assert unconfigured["cleanup_problems"] == [
        "could not cancel Slurm jobs tickets-val-f42b7a90, tickets-t75-f42b7a90, tickets-e75-f42b7a90, tickets-t100-f42b7a90, "
        "tickets-e100-f42b7a90: no HyperPod cluster is configured on the clean-up function (HYPERPOD_CLUSTER_NAME, HYPERPOD_JOBS_BUCKET)"]


def test_the_handler_words_a_nested_failure_and_stops_the_job(sagemaker, monkeypatch):
    monkeypatch.delenv("HYPERPOD_CLUSTER_NAME", raising=False)
    run, plan = run_and_plan()
    start(sagemaker.client, request_for("training", run, plan, plan["mixes"][0]))
    sagemaker.set_job("tickets-t75-f42b7a90", "InProgress")
    error, _ = CAUSES["a nested execution (.sync:2)"]
    result = load_handler("clean_up_run")({"execution_name": "exec-1", "run": run, "plan": plan, "error": error}, LambdaContext())
    assert result == {"error": "DataQuarantined",
                      "cause": "37 of 1200 records (3.1%) still hold personal data after scrubbing; the limit is 1%",
                      "stopped_jobs": ["tickets-t75-f42b7a90"], "removed": [], "cleanup_problems": []}


def test_a_deployment_that_failed_before_its_record_is_found_by_name_and_removed(sagemaker, monkeypatch):
    """DeployEndpoint made the model and config, then failed: the caught state has no
    deployment record, and the clean-up removes what this execution made, nothing else."""
    from openforge_lambda.endpoint import Ownership

    run, plan = run_and_plan(deploy={"enabled": True})
    request = {"endpoint_name": plan["endpoint_name"], **NAMESPACE, "execution_name": plan["execution_name"],
               "model_data_s3_uri": "s3://openforge-test-artifacts/training/m/",
               "image_uri": "763104351884.dkr.ecr.us-east-1.amazonaws.com/djl-inference:latest", "role_arn": ENVIRONMENT.role_arn,
               "subnet_ids": ["subnet-a"], "security_group_ids": ["sg-endpoint"], "kms_key_id": boto3.client("kms").create_key()["KeyMetadata"]["Arn"],
               "instance_type": "ml.m5.xlarge"}
    other = deploy(sagemaker.client, {**request, "execution_name": "another-execution"})  # an earlier run's endpoint, in service
    monkeypatch.setattr(sagemaker.client, "update_endpoint", lambda **_: (_ for _ in ()).throw(RuntimeError("Lambda timed out")))
    monkeypatch.setattr("openforge_lambda.endpoint._remove_unused", lambda *_: None)  # the Lambda died before its own undo
    with pytest.raises(RuntimeError):
        deploy(sagemaker.client, request)
    name = deployment_name(other["endpoint_name"], plan["execution_name"])
    assert name in sagemaker.backend._models and name in sagemaker.backend.endpoint_configs

    event = {"run": run, "plan": plan, "error": {"Error": "States.TaskFailed", "Cause": "Lambda timed out"}}
    result = clean_up(event, sagemaker.client, endpoints=Ownership.from_mapping(NAMESPACE))
    assert (result["removed"], result["cleanup_problems"]) == ([f"deleted {name}", f"deleted {name}"], [])
    assert name not in sagemaker.backend._models and name not in sagemaker.backend.endpoint_configs
    assert sagemaker.client.describe_endpoint(EndpointName=other["endpoint_name"])["EndpointConfigName"] == other["endpoint_config_name"]
    assert clean_up(event, sagemaker.client, endpoints=Ownership.from_mapping(NAMESPACE))["removed"] == [], "nothing left the second time"
