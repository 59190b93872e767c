"""Given a training job's request, when the pipeline starts it, then a retry finds the same
job (and other inputs under its name are a conflict), its status (with a failed job's reason)
reaches the Wait/Choice loop, and a job started for an execution that ended meanwhile is
stopped again; the start and check functions do this from the state machine's events.
"""
from __future__ import annotations

import copy

import pytest
from botocore.exceptions import ClientError

from tests.lambdas.conftest import LambdaContext, load_handler, pipeline_execution
from tests.lambdas.training_runs import (ENVIRONMENT, ENVIRONMENT_VARIABLES, created_in_progress, request_for, run_and_plan,  # noqa: F401 - fixtures
                                         sagemaker)

from openforge_lambda.run_plan import Mix  # isort: skip
from openforge_lambda.training_job import TrainingJobConflict, TrainingRequestRefused, start, status  # isort: skip


def test_start_creates_the_job_and_says_where_its_model_will_be(sagemaker):
    run, plan = run_and_plan()
    request = request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    started = start(sagemaker.client, request, mix=Mix.from_dict(plan["mixes"][0]))
    assert started == {"step": "training", "target": "training-job", "job_name": "tickets-t75-f42b7a90", "mix": plan["mixes"][0],
                       "output_s3_uri": f"{plan['training_output_s3_uri']}tickets-t75-f42b7a90/output/model/"}
    job = sagemaker.client.describe_training_job(TrainingJobName="tickets-t75-f42b7a90")
    assert job["VpcConfig"] == request["VpcConfig"] and job["OutputDataConfig"] == request["OutputDataConfig"]
    assert job["HyperParameters"] == request["HyperParameters"] and job["EnableNetworkIsolation"] is False


def test_a_retried_start_finds_the_same_job_and_a_different_one_is_a_conflict(sagemaker):
    run, plan = run_and_plan()
    request = request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    first = start(sagemaker.client, request, mix=Mix.from_dict(plan["mixes"][0]))
    sagemaker.set_job("tickets-t75-f42b7a90", "InProgress")
    assert start(sagemaker.client, copy.deepcopy(request), mix=Mix.from_dict(plan["mixes"][0])) == first
    assert sagemaker.backend.training_jobs["tickets-t75-f42b7a90"].training_job_status == "InProgress", "not replaced"

    other = copy.deepcopy(request)
    other["HyperParameters"]["customer_data_percent"] = "50"
    other["ResourceConfig"]["InstanceType"] = "ml.p4d.24xlarge"
    with pytest.raises(TrainingJobConflict, match=r"tickets-t75-f42b7a90 exists but was made from other inputs "
                                                  r"\(hyperparameters, instances\)"):
        start(sagemaker.client, other)


def test_status_follows_the_job_and_a_failed_jobs_reason_surfaces(sagemaker):
    run, plan = run_and_plan()
    started = start(sagemaker.client, request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT))
    base = {"job_name": "tickets-t75-f42b7a90", "step": "training", "target": "training-job"}

    sagemaker.set_job("tickets-t75-f42b7a90", "InProgress")
    assert status(sagemaker.client, started) == {**base, "status": "InProgress", "done": False, "failure_reason": None, "output_s3_uri": None}
    sagemaker.set_job("tickets-t75-f42b7a90", "Stopping")
    assert status(sagemaker.client, started)["done"] is False
    sagemaker.set_job("tickets-t75-f42b7a90", "Completed")
    assert status(sagemaker.client, started) == {**base, "status": "Completed", "done": True, "failure_reason": None,
                                                 "output_s3_uri": started["output_s3_uri"]}
    reason = "AlgorithmError: InputError: curated_weights names categories not in the curated channel: factuality"
    sagemaker.set_job("tickets-t75-f42b7a90", "Failed", reason)
    assert status(sagemaker.client, started) == {**base, "status": "Failed", "done": True, "failure_reason": reason, "output_s3_uri": None}


def test_a_job_that_does_not_exist_is_failed_not_waited_for(sagemaker):
    checked = status(sagemaker.client, {"job_name": "tickets-t75-f42b7a90", "step": "training", "target": "training-job"})
    assert (checked["status"], checked["done"], checked["failure_reason"]) == (
        "Failed", True, "training job tickets-t75-f42b7a90 does not exist")


def test_the_handlers_start_and_check_a_training_job(sagemaker, monkeypatch):
    for name, value in ENVIRONMENT_VARIABLES.items():
        monkeypatch.setenv(name, value)
    run, plan = run_and_plan()
    started = load_handler("start_training_job")({"step": "validation", "run": run, "plan": plan}, LambdaContext())
    assert started["job_name"] == "tickets-val-f42b7a90" and started["mix"] == plan["mixes"][0]
    assert sagemaker.client.describe_training_job(TrainingJobName="tickets-val-f42b7a90")["HyperParameters"]["max_steps"] == "5"
    checked = load_handler("check_training_job")({"job": started}, LambdaContext())
    assert checked["status"] == "Completed" and checked["output_s3_uri"] == started["output_s3_uri"]
    with pytest.raises(TrainingRequestRefused, match=r'^run\.compute\.target: must be one of training-job, hyperpod, got "ec2"$'):
        load_handler("start_training_job")({"step": "training", "run": {**run, "compute": {"target": "ec2"}}, "plan": plan,
                                            "mix": plan["mixes"][0]}, LambdaContext())


def test_sagemakers_own_words_for_a_missing_job_count_as_missing():
    """Real SageMaker answers DescribeTrainingJob for an unknown name with "Requested resource not found."."""
    class SageMakerSaysNotFound:
        def describe_training_job(self, **name):
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Requested resource not found."}}, "DescribeTrainingJob")

    assert status(SageMakerSaysNotFound(), {"job_name": "tickets-e75"})["failure_reason"] == "training job tickets-e75 does not exist"


def test_a_job_started_for_an_execution_stopped_meanwhile_is_stopped_again_and_the_record_says_why(created_in_progress):
    """Step Functions does not stop a running Lambda when its execution stops: the clean-up may
    have looked before CreateTrainingJob landed, so the start function checks afterwards."""
    run, plan = run_and_plan()
    execution = pipeline_execution(stopped=True)
    started = load_handler("start_training_job")({"step": "training", "run": run, "plan": plan, "mix": plan["mixes"][0],
                                                  "execution_arn": execution}, LambdaContext())
    name = plan["mixes"][0]["training_job_name"]
    assert created_in_progress.client.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"
    ended = started["execution_ended"]
    assert (ended["status"], ended["stopped_jobs"], ended["cleanup_problems"]) == ("ABORTED", [name], [])
    assert ended["reason"] == f"execution {execution} was ABORTED when this step had just started job {name}, so it was undone: stopped {name}"


def test_a_job_started_for_a_running_execution_runs_on(created_in_progress):
    run, plan = run_and_plan()
    started = load_handler("start_training_job")({"step": "training", "run": run, "plan": plan, "mix": plan["mixes"][0],
                                                  "execution_arn": pipeline_execution(stopped=False)}, LambdaContext())
    assert "execution_ended" not in started
    assert created_in_progress.client.describe_training_job(TrainingJobName=started["job_name"])["TrainingJobStatus"] == "InProgress"


def test_without_an_execution_arn_there_is_nothing_to_check(created_in_progress):
    """A direct invoke names no execution: the job is started and left running."""
    run, plan = run_and_plan()
    started = load_handler("start_training_job")({"step": "training", "run": run, "plan": plan, "mix": plan["mixes"][0]}, LambdaContext())
    assert "execution_ended" not in started
    assert created_in_progress.client.describe_training_job(TrainingJobName=started["job_name"])["TrainingJobStatus"] == "InProgress"
