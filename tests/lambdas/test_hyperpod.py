"""Given a run with compute.target hyperpod, when the pipeline starts a step, then a checked
job spec (data, no shell text) lands under the cluster's prefix of the artifacts bucket and
nothing else is called (no SSM); the check reads the status the cluster's submitter wrote;
a clean-up writes cancel requests. A name or URI that could smuggle shell text or climb
out of its prefix is refused before anything is written.

The submitter's side (the spec turned into an sbatch call on the controller) is in
tests/test_hyperpod_submitter.py.
"""
from __future__ import annotations

import json

import boto3
import pytest
from botocore.client import BaseClient
from hyperpod_jobs.spec import JobStatus, parse, spec_key, status_key

from tests.lambdas.conftest import LambdaContext, load_handler
from tests.lambdas.training_runs import ARTIFACTS, DATASETS, ENVIRONMENT_VARIABLES, MLFLOW, run_and_plan, step_job

from openforge_lambda.hyperpod import PICKUP_SECONDS, HyperPodEnvironment, cancel, partition_for, slurm_status, start, status  # isort: skip
from openforge_lambda.training_job import TrainingRequestRefused  # isort: skip

GPU_IMAGE = "123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:gpu"
CLUSTER = "openforge-dev"
ENVIRONMENT = HyperPodEnvironment(cluster_name=CLUSTER, jobs_bucket=ARTIFACTS, buckets=(DATASETS, ARTIFACTS), gpu_image_uri=GPU_IMAGE,
                                  neuron_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:neuron",
                                  mlflow_tracking_server_arn=MLFLOW, max_runtime_seconds=86400)
NOW = 1_700_000_000.0


@pytest.mark.parametrize("state, expected", [
    ("PENDING", "InProgress"), ("RUNNING", "InProgress"), ("COMPLETING", "InProgress"), ("REQUEUED", "InProgress"),
    ("SUBMITTED", "InProgress"), ("COMPLETED", "Completed"), ("FAILED", "Failed"), ("TIMEOUT", "Failed"),
    ("OUT_OF_MEMORY", "Failed"), ("NODE_FAIL", "Failed"), ("REFUSED", "Failed"), ("CANCELLED", "Stopped"),
    ("CANCELLED by 0", "Stopped"), ("COMPLETED+", "Completed"), (" running\n", "InProgress"), ("SOMETHING_NEW", "Failed"), ("", "Failed"),
])
def test_slurm_states_map_to_training_job_statuses(state, expected):
    assert slurm_status(state) == expected


def test_trainium_gets_its_partition():
    assert partition_for("ml.trn1.32xlarge") == "trainium-workers" and partition_for("ml.p5.48xlarge") == "gpu-workers"


@pytest.fixture
def s3(aws):
    client = boto3.client("s3")
    for bucket in (DATASETS, ARTIFACTS):
        client.create_bucket(Bucket=bucket)
    return client


@pytest.fixture
def calls(monkeypatch) -> list[tuple[str, str]]:
    """Every AWS operation made, as (service, operation)."""
    made = []
    original = BaseClient._make_api_call

    def record(self, operation_name, api_params):
        made.append((self.meta.service_model.service_name, operation_name))
        return original(self, operation_name, api_params)

    monkeypatch.setattr(BaseClient, "_make_api_call", record)
    return made


def start_step(s3, step: str, run: dict, plan: dict, mix: dict | None, **clock) -> dict:
    """The step started on the cluster from the state's JSON, as StartTrainingJob does."""
    return start(s3, step_job(step, run, plan, mix, MLFLOW), ENVIRONMENT, **clock)


def spec_keys(s3) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=ARTIFACTS, Prefix="hyperpod/").get("Contents", [])]


def start_training(s3, **change):
    run, plan = run_and_plan(compute={"target": "hyperpod", "instance_count": 2}, **change)
    return start_step(s3, "training", run, plan, plan["mixes"][0], clock=lambda: NOW), plan


def test_start_writes_a_checked_spec_under_the_clusters_prefix_and_calls_nothing_else(s3, calls):
    started, plan = start_training(s3)
    name = plan["mixes"][0]["training_job_name"]
    assert calls == [("s3", "PutObject")], "no SSM, no SageMaker: one object written"
    assert spec_keys(s3) == [f"hyperpod/{CLUSTER}/jobs/{name}.json"]
    document = json.loads(s3.get_object(Bucket=ARTIFACTS, Key=spec_key(CLUSTER, name))["Body"].read())
    spec = parse(document, ENVIRONMENT.allowed)  # the submitter's own check passes
    assert (spec.job_name, spec.partition, spec.instance_count, spec.image_uri) == (name, "gpu-workers", 2, GPU_IMAGE)
    assert spec.command == ("python", "-m", "openforge_training.launch", "train")
    assert spec.channels == {"model": f"s3://{ARTIFACTS}/base-models/llama-3.1-8b/", "customer": plan["customer_data_s3_uri"],
                             "curated": f"s3://{DATASETS}/curated/"}
    assert spec.hyperparameters["customer_data_percent"] == "75" and spec.max_runtime_seconds == 86400
    assert started == {"step": "training", "target": "hyperpod", "job_name": name, "mix": plan["mixes"][0], "cluster_name": CLUSTER,
                       "jobs_bucket": ARTIFACTS, "spec_s3_uri": f"s3://{ARTIFACTS}/hyperpod/{CLUSTER}/jobs/{name}.json",
                       "output_s3_uri": f"{plan['training_output_s3_uri']}{name}/output/model/", "written_at": NOW}
    assert start_training(s3)[0] == started and len(spec_keys(s3)) == 1, "a retried start writes the same spec again"


@pytest.mark.parametrize("where, value, field", [
    ("job name", "tickets-t75; touch /tmp/pwned", "job_name"),
    ("job name", "tickets'$(reboot)'", "job_name"),
    ("customer data", f"s3://{DATASETS}/raw/$(curl evil)/", "channels.customer"),
    ("customer data", f"s3://{DATASETS}/raw/`id`/", "channels.customer"),
    ("customer data", f"s3://{DATASETS}/raw/../../sanitised/quarantine/", "channels.customer"),
    ("customer data", "s3://someone-elses-bucket/raw/", "channels.customer"),
    ("customer data", f"s3://{DATASETS}/raw/tickets\n/", "channels.customer"),
])
def test_a_name_or_uri_that_could_reach_a_shell_or_leave_its_prefix_is_refused_before_anything_is_written(s3, calls, where, value, field):
    run, plan = run_and_plan(compute={"target": "hyperpod"})
    mix = dict(plan["mixes"][0])
    if where == "job name":
        mix["training_job_name"] = value
    else:
        plan = {**plan, "customer_data_s3_uri": value}
    with pytest.raises(TrainingRequestRefused, match=rf"^hyperpod job spec {field}: must"):
        start_step(s3, "training", run, plan, mix)
    assert calls == [] and spec_keys(s3) == []


def test_a_trainium_step_names_the_trainium_partition_and_the_neuron_image(s3):
    run, plan = run_and_plan(compute={"target": "hyperpod", "instance_type": "ml.trn1.32xlarge"})
    started = start_step(s3, "evaluation", run, plan, plan["mixes"][0])
    spec = parse(s3.get_object(Bucket=ARTIFACTS, Key=spec_key(CLUSTER, started["job_name"]))["Body"].read(), ENVIRONMENT.allowed)
    assert (spec.partition, spec.image_uri, spec.instance_count) == ("trainium-workers", ENVIRONMENT.neuron_image_uri, 1)
    assert spec.command == ("python", "-m", "openforge_training.evaluate") and spec.checkpoint_s3_uri is None


def put_status(s3, name: str, **fields) -> None:
    s3.put_object(Bucket=ARTIFACTS, Key=status_key(CLUSTER, name), Body=JobStatus(name, **fields).to_json().encode())


STATUSES = [  # what the submitter wrote -> status, and the failure reason's telling part
    ({"state": "SUBMITTED", "slurm_job_id": "42"}, "InProgress", None),
    ({"state": "RUNNING", "slurm_job_id": "42", "source": "squeue"}, "InProgress", None),
    ({"state": "COMPLETED", "slurm_job_id": "42", "exit_code": 0}, "Completed", None),
    ({"state": "FAILED", "slurm_job_id": "42", "exit_code": 3, "reason": "Slurm job 42 ended FAILED (exit code 3)",
      "log_s3_uri": "s3://openforge-test-artifacts/training/x/slurm-42.out"},
     "Failed", "Slurm job 42 ended FAILED (exit code 3); its log: s3://openforge-test-artifacts/training/x/slurm-42.out"),
    ({"state": "REFUSED", "reason": "job spec refused on the cluster: partition: must be one of"}, "Failed",
     "job spec refused on the cluster: partition"),
    ({"state": "CANCELLED", "slurm_job_id": "42", "reason": "cancelled at the pipeline's request"}, "Stopped", "cancelled"),
    ({"state": "TIMEOUT", "slurm_job_id": "42", "source": "sacct"}, "Failed", "ended TIMEOUT (sacct)"),
]


def test_status_reads_what_the_submitter_wrote(s3, calls):
    started, _ = start_training(s3)
    name = started["job_name"]
    for fields, expected_status, reason in STATUSES:
        put_status(s3, name, **fields)
        calls.clear()
        checked = status(s3, started, clock=lambda: NOW + 60)
        assert {service for service, _ in calls} == {"s3"}, "no SSM"
        assert (checked["status"], checked["done"]) == (expected_status, expected_status != "InProgress"), fields
        assert checked["output_s3_uri"] == (started["output_s3_uri"] if expected_status == "Completed" else None), fields
        assert (reason in checked["failure_reason"]) if reason else checked["failure_reason"] is None, fields


def test_a_spec_no_submitter_takes_up_fails_after_the_pickup_time(s3):
    started, _ = start_training(s3)
    assert status(s3, started, clock=lambda: NOW + PICKUP_SECONDS - 1)["status"] == "InProgress"
    late = status(s3, started, clock=lambda: NOW + PICKUP_SECONDS)
    assert (late["status"], late["done"]) == ("Failed", True)
    assert "has not taken up job" in late["failure_reason"] and "openforge-submitter timer" in late["failure_reason"]


def test_cancel_asks_for_each_job_that_has_a_spec_and_has_not_finished(s3):
    started, plan = start_training(s3)
    other = plan["mixes"][1]["training_job_name"]
    start_step(s3, "training", *run_and_plan(compute={"target": "hyperpod"}), plan["mixes"][1])
    put_status(s3, other, state="COMPLETED", slurm_job_id="7")
    requested = cancel(s3, ARTIFACTS, CLUSTER, [plan["validation_job_name"], started["job_name"], other])
    assert requested == [started["job_name"]], "never started and already finished: nothing to cancel"
    assert [key for key in spec_keys(s3) if "/cancel/" in key] == [f"hyperpod/{CLUSTER}/cancel/{started['job_name']}.json"]


def test_the_handlers_dispatch_to_hyperpod(s3, monkeypatch):
    for name, value in {**ENVIRONMENT_VARIABLES, "HYPERPOD_CLUSTER_NAME": CLUSTER, "HYPERPOD_JOBS_BUCKET": ARTIFACTS,
                        "HYPERPOD_BUCKETS": f"{DATASETS},{ARTIFACTS}"}.items():
        monkeypatch.setenv(name, value)
    run, plan = run_and_plan(compute={"target": "hyperpod"})
    started = load_handler("start_training_job")({"step": "validation", "run": run, "plan": plan, "mix": plan["mixes"][0]},
                                                 LambdaContext())
    assert (started["target"], started["job_name"]) == ("hyperpod", plan["validation_job_name"])
    spec = parse(s3.get_object(Bucket=ARTIFACTS, Key=spec_key(CLUSTER, started["job_name"]))["Body"].read(), ENVIRONMENT.allowed)
    assert spec.max_runtime_seconds == 7200, "a validation run is capped at two hours"
    assert load_handler("check_training_job")({"job": started}, LambdaContext())["status"] == "InProgress"
    put_status(s3, started["job_name"], state="RUNNING", slurm_job_id="7")
    assert load_handler("check_training_job")({"job": started}, LambdaContext())["status"] == "InProgress"
    put_status(s3, started["job_name"], state="COMPLETED", slurm_job_id="7", exit_code=0)
    assert load_handler("check_training_job")({"job": started}, LambdaContext())["status"] == "Completed"
