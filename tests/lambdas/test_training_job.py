"""Given a validated run and its plan, when the pipeline starts a step as a SageMaker training
job, then the job is private (VPC, KMS, no route out), reads the right channels, sends only
hyperparameters the training container accepts, a retry finds the same job, and its status
(with a failed job's reason) reaches the Wait/Choice loop.

moto 5.2.5 lacks StopTrainingJob, lets a second CreateTrainingJob replace a job of the same
name, and finishes every job at once: the fixture adds StopTrainingJob, refuses a taken name
as SageMaker does (ResourceInUse), and the tests set a job's status on moto's backend.
"""
from __future__ import annotations

import copy
import json
import os
from dataclasses import fields, replace

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.core import DEFAULT_ACCOUNT_ID
from moto.sagemaker.exceptions import ResourceInUseException, ValidationError
from moto.sagemaker.models import sagemaker_backends
from moto.sagemaker.responses import SageMakerResponse
from openforge_training import config as training_config
from openforge_training import evaluate as evaluation_config

from tests.lambdas.conftest import LambdaContext, load_handler, pipeline_execution

from openforge_contract.environment_variables import MissingSetting, TrainingEnvironment
from openforge_lambda.pipeline_input import EnvironmentPolicy, normalise  # isort: skip
from openforge_lambda.run_plan import PlatformLocations, plan_run  # isort: skip
from openforge_lambda.training_job import (  # isort: skip
    TrainingJobConflict, TrainingRequestRefused, job_plan, start, status, training_job_request)

DATASETS, ARTIFACTS = "openforge-test-datasets", "openforge-test-artifacts"
BASE_MODEL = f"s3://{ARTIFACTS}/base-models/llama-3.1-8b/"
CURATED = f"s3://{DATASETS}/curated/"
EVALUATION = f"s3://{DATASETS}/evaluation/tickets/"
MLFLOW = "arn:aws:sagemaker:us-east-1:123456789012:mlflow-tracking-server/openforge"
ENVIRONMENT = TrainingEnvironment(
    gpu_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:gpu",
    neuron_image_uri="123456789012.dkr.ecr.us-east-1.amazonaws.com/cdk-assets:neuron",
    role_arn="arn:aws:iam::123456789012:role/openforge-training",
    subnet_ids=("subnet-a", "subnet-b"), security_group_ids=("sg-training",),
    kms_key_id="arn:aws:kms:us-east-1:123456789012:key/artifacts", mlflow_tracking_server_arn=MLFLOW,
    max_runtime_seconds=86400,
)
ENVIRONMENT_VARIABLES = {
    "TRAINING_IMAGE_URI_GPU": ENVIRONMENT.gpu_image_uri, "TRAINING_IMAGE_URI_NEURON": ENVIRONMENT.neuron_image_uri,
    "TRAINING_ROLE_ARN": ENVIRONMENT.role_arn, "TRAINING_SUBNET_IDS": "subnet-a, subnet-b",
    "TRAINING_SECURITY_GROUP_IDS": "sg-training", "TRAINING_KMS_KEY_ARN": ENVIRONMENT.kms_key_id,
    "MLFLOW_TRACKING_SERVER_ARN": MLFLOW, "MAX_RUNTIME_SECONDS": "86400",
    # What the start function checks a run and its plan against again (openforge_lambda.start_check).
    "DATASETS_BUCKET": DATASETS, "ARTIFACTS_BUCKET": ARTIFACTS,
}


def run_and_plan(**change) -> tuple[dict, dict]:
    """A run as ValidateInput returns it (normalised) and its plan (run_plan.plan_run): two mixes."""
    run = normalise({"job_name": "tickets", "customer_data_s3_uri": f"s3://{DATASETS}/raw/tickets/",
                     "mixing": {"customer_data_percent": 75, "curated_weights": {"reasoning": 40, "factuality": 60}},
                     "grid": {"customer_data_percent": [75, 100]}, **change},
                    EnvironmentPolicy(base_model_s3_uri=BASE_MODEL, curated_data_s3_uri=CURATED, evaluation_data_s3_uri=EVALUATION))
    return run, plan_run(run, "exec-1", PlatformLocations(DATASETS, ARTIFACTS))


def channels(request: dict) -> dict:
    return {channel["ChannelName"]: channel["DataSource"]["S3DataSource"]["S3Uri"] for channel in request["InputDataConfig"]}


def _stop_training_job(self):
    """StopTrainingJob as SageMaker does it, short of the wait: the job is Stopping."""
    name = self._get_param("TrainingJobName")
    job = self.sagemaker_backend.training_jobs.get(name)
    if job is None:
        raise ValidationError(message=f"Could not find training job '{name}'.")
    job.training_job_status = "Stopping"
    return "{}"


class SageMaker:
    def __init__(self):
        self.client = boto3.client("sagemaker")

    @property
    def backend(self):
        return sagemaker_backends[DEFAULT_ACCOUNT_ID]["us-east-1"]

    def set_job(self, name: str, state: str, reason: str | None = None) -> None:
        """What SageMaker does on its own over hours, which moto does at once."""
        job = self.backend.training_jobs[name]
        job.training_job_status = state
        if reason:
            job.failure_reason = reason


@pytest.fixture
def sagemaker(aws, monkeypatch) -> SageMaker:
    original_create = SageMakerResponse.create_training_job

    def create_training_job(self):
        name = self._get_param("TrainingJobName")
        if name in self.sagemaker_backend.training_jobs:
            raise ResourceInUseException(
                "Training job names must be unique within an AWS account and region, and a training job with this name "
                f"already exists (arn:aws:sagemaker:us-east-1:{DEFAULT_ACCOUNT_ID}:training-job/{name})")
        return original_create(self)

    monkeypatch.setattr(SageMakerResponse, "create_training_job", create_training_job)
    monkeypatch.setattr(SageMakerResponse, "stop_training_job", _stop_training_job, raising=False)
    return SageMaker()


def test_a_training_step_is_a_private_encrypted_job_reading_its_mix():
    run, plan = run_and_plan()
    request = training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["TrainingJobName"] == "tickets-t75-f42b7a90"
    assert request["RoleArn"] == ENVIRONMENT.role_arn
    assert request["AlgorithmSpecification"] == {"TrainingImage": ENVIRONMENT.gpu_image_uri, "TrainingInputMode": "File"}
    assert channels(request) == {"model": BASE_MODEL, "customer": plan["customer_data_s3_uri"], "curated": CURATED}
    assert {(c["InputMode"], c["DataSource"]["S3DataSource"]["S3DataType"], c["DataSource"]["S3DataSource"]["S3DataDistributionType"])
            for c in request["InputDataConfig"]} == {("File", "S3Prefix", "FullyReplicated")}
    assert request["HyperParameters"] == {
        "lora_rank": "16", "lora_alpha": "32", "lora_dropout": "0.05", "lora_target_modules": "all-linear",
        "learning_rate": "1e-05", "lr_scheduler_type": "cosine", "warmup_ratio": "0.03", "weight_decay": "0.0",
        "num_epochs": "1.0", "max_steps": "-1", "global_batch_size": "32", "per_device_batch_size": "4",
        "max_length": "2048", "seed": "42", "precision": "auto", "gradient_checkpointing": "false",
        "method": "lora", "customer_data_percent": "75", "curated_weights": '{"factuality": 60, "reasoning": 40}',
        "mlflow_tracking_uri": MLFLOW, "run_name": "tickets-t75-f42b7a90", "base_model": BASE_MODEL,
    }
    assert request["VpcConfig"] == {"Subnets": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-training"]}
    assert request["OutputDataConfig"] == {"S3OutputPath": plan["training_output_s3_uri"], "KmsKeyId": ENVIRONMENT.kms_key_id,
                                           "CompressionType": "NONE"}
    # p5 has local NVMe (hardware-encrypted): no volume key, which AWS would refuse; the output keeps the key.
    assert request["ResourceConfig"] == {"InstanceType": "ml.p5.48xlarge", "InstanceCount": 1, "VolumeSizeInGB": 512}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 86400}
    assert request["CheckpointConfig"] == {"S3Uri": f"{plan['checkpoint_s3_uri']}tickets-t75-f42b7a90/", "LocalPath": "/opt/ml/checkpoints"}
    assert request["EnableInterContainerTrafficEncryption"] is True and request["EnableNetworkIsolation"] is False
    assert request["Tags"] == [{"Key": "openforge:execution", "Value": "exec-1"}, {"Key": "openforge:job", "Value": "tickets"},
                               {"Key": "openforge:step", "Value": "training"}]


def on_instance(instance_type: str) -> tuple[dict, dict]:
    """A run and plan on any instance type, past ValidateInput's list (the request builder
    follows AWS's rules for every type the catalogue describes)."""
    run, plan = run_and_plan()
    run["compute"]["instance_type"] = instance_type
    return run, plan


@pytest.mark.parametrize(("instance_type", "volume_gb"), [("ml.p5.48xlarge", 512), ("ml.g5.2xlarge", 450), ("ml.trn1.32xlarge", 512),
                                                          ("ml.g5.12xlarge", 512)])
def test_on_local_nvme_a_job_names_no_volume_key_and_asks_for_no_more_than_the_instance_store(instance_type, volume_gb):
    """AWS: no VolumeKmsKeyId on types with local storage, and VolumeSizeInGB no greater than
    that storage (ml.g5.2xlarge has 450 GB); the output is still under the customer's key."""
    run, plan = on_instance(instance_type)
    request = training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["ResourceConfig"] == {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": volume_gb}
    assert request["OutputDataConfig"]["KmsKeyId"] == ENVIRONMENT.kms_key_id


def test_on_an_ebs_only_type_the_volume_is_under_the_customers_key():
    run, plan = on_instance("ml.m5.xlarge")
    request = training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 512,
                                         "VolumeKmsKeyId": ENVIRONMENT.kms_key_id}
    assert request["OutputDataConfig"]["KmsKeyId"] == ENVIRONMENT.kms_key_id


def test_an_instance_type_the_platform_does_not_know_is_refused_naming_it():
    run, plan = on_instance("ml.p5.96xlarge")
    with pytest.raises(TrainingRequestRefused, match=r"^run\.compute\.instance_type: unknown instance type 'ml\.p5\.96xlarge'"):
        training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)


def test_the_output_key_is_required_even_where_volumes_take_none():
    run, plan = run_and_plan()  # ml.p5.48xlarge: local NVMe
    with pytest.raises(TrainingRequestRefused, match="^kms_key_id: required"):
        training_job_request("training", run, plan, plan["mixes"][0], replace(ENVIRONMENT, kms_key_id=""))


def test_a_validation_run_is_five_quick_steps_under_its_own_name():
    run, plan = run_and_plan(compute={"instance_count": 2})
    request = training_job_request("validation", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["TrainingJobName"] == "tickets-val-f42b7a90"
    assert {key: request["HyperParameters"][key] for key in ("max_steps", "save_steps", "logging_steps", "run_name")} == {
        "max_steps": "5", "save_steps": "5", "logging_steps": "1", "run_name": "tickets-val-f42b7a90"}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert request["ResourceConfig"]["InstanceCount"] == 2, "a validation run proves the multi-node set-up too"
    assert request["CheckpointConfig"]["S3Uri"].endswith("/tickets-val-f42b7a90/")
    assert training_job_request("validation", run, plan, None, ENVIRONMENT) == request, "without a mix: the plan's first"


def test_an_evaluation_scores_the_tuned_model_against_the_base_into_the_report_prefix():
    run, plan = run_and_plan(compute={"instance_count": 4}, evaluation={"benchmarks": ["mmlu", "byod"],
                                                                         "limits": {"min_general_retention": 0.95, "min_domain_gain": 0}})
    request = training_job_request("evaluation", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["TrainingJobName"] == "tickets-e75-f42b7a90"
    assert request["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python", "-m", "openforge_training.evaluate"]
    assert channels(request) == {"model": BASE_MODEL, "tuned": f"{plan['training_output_s3_uri']}tickets-t75-f42b7a90/output/model/",
                                 "eval": plan["evaluation_data_s3_uri"]}
    assert request["HyperParameters"] == {"benchmarks": "mmlu,byod", "min_general_retention": "0.95", "min_domain_gain": "0",
                                          "mlflow_tracking_uri": MLFLOW, "run_name": "tickets-e75-f42b7a90"}
    assert request["OutputDataConfig"]["S3OutputPath"] == plan["report_s3_uri"]
    assert request["ResourceConfig"]["InstanceCount"] == 1 and "CheckpointConfig" not in request
    assert request["VpcConfig"]["Subnets"] == ["subnet-a", "subnet-b"] and request["EnableNetworkIsolation"] is False


def test_trainium_runs_the_neuron_image_and_full_tuning_sends_no_lora_settings():
    run, plan = run_and_plan(method="full", compute={"instance_type": "ml.trn1.32xlarge"})
    request = training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["AlgorithmSpecification"]["TrainingImage"] == ENVIRONMENT.neuron_image_uri
    assert request["HyperParameters"]["method"] == "full"
    assert not {key for key in request["HyperParameters"] if key.startswith("lora_")}


def test_a_customer_only_mix_reads_no_curated_data():
    run, plan = run_and_plan()
    request = training_job_request("training", run, plan, plan["mixes"][1], ENVIRONMENT)
    assert set(channels(request)) == {"model", "customer"}
    assert request["HyperParameters"]["customer_data_percent"] == "100" and "curated_weights" not in request["HyperParameters"]
    run["curated_data_s3_uri"] = None
    assert set(channels(training_job_request("training", run, plan, plan["mixes"][1], ENVIRONMENT))) == {"model", "customer"}
    with pytest.raises(TrainingRequestRefused, match=r"^run\.curated_data_s3_uri: required: mix 75% leaves a curated share$"):
        training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)


@pytest.mark.parametrize("step, run_change, mix_index", [
    ("training", {}, 0), ("training", {"method": "full"}, 0), ("validation", {}, 0), ("training", {}, 1), ("evaluation", {}, 0)])
def test_every_hyperparameter_sent_is_one_the_container_accepts(tmp_path, step, run_change, mix_index):
    """By name against the container's dataclasses, then by value through its own parser."""
    run, plan = run_and_plan(**run_change)
    sent = training_job_request(step, run, plan, plan["mixes"][mix_index], ENVIRONMENT)["HyperParameters"]
    container = evaluation_config if step == "evaluation" else training_config
    accepted = {field.name for cls in container.ARGUMENT_CLASSES for field in fields(cls)}
    assert set(sent) <= accepted, f"not hyperparameters of the container: {sorted(set(sent) - accepted)}"

    (tmp_path / "config").mkdir()
    (tmp_path / "config" / "hyperparameters.json").write_text(json.dumps(sent))
    parsed = training_config.parse(["--input_dir", str(tmp_path)], container.ARGUMENT_CLASSES, "test")
    values = {field.name: getattr(part, field.name) for part in parsed for field in fields(part)}
    if step == "evaluation":
        evaluation_config.EvalConfig(*parsed).validate()
        assert values["benchmarks"] == "mmlu,ifeval,byod" and values["min_general_retention"] == 0.97
    else:
        training_config.RunConfig(*parsed).validate()
        assert values["customer_data_percent"] == plan["mixes"][mix_index]["customer_data_percent"]
        assert values["learning_rate"] == 1e-5 and values["gradient_checkpointing"] is False and values["seed"] == 42
        assert values["max_steps"] == (5 if step == "validation" else -1)
        assert values["curated_weights"] in (None, '{"factuality": 60, "reasoning": 40}')


REFUSED = {
    "no subnets": (lambda env, run, plan: (replace(env, subnet_ids=()), run, plan, "training"), r"^subnet_ids: required"),
    "no security groups": (lambda env, run, plan: (replace(env, security_group_ids=()), run, plan, "training"), r"^security_group_ids: required"),
    "no key": (lambda env, run, plan: (replace(env, kms_key_id=""), run, plan, "training"), r"^kms_key_id: required"),
    "unknown step": (lambda env, run, plan: (env, run, plan, "deploy"),
                     r"^step: must be one of validation, training, evaluation, got 'deploy'$"),
    "plan without a validation name": (lambda env, run, plan: (env, run, {**plan, "validation_job_name": None}, "validation"),
                                       r"^plan\.validation_job_name: required$"),
    "run without a base model": (lambda env, run, plan: (env, {**run, "base_model_s3_uri": ""}, plan, "training"),
                                 r"^run\.base_model_s3_uri: must be a non-empty string, got ''$"),
}


@pytest.mark.parametrize("change, message", REFUSED.values(), ids=REFUSED.keys())
def test_a_request_that_cannot_run_privately_or_as_planned_is_refused_naming_the_field(change, message):
    run, plan = run_and_plan()
    environment, run, plan, step = change(ENVIRONMENT, run, plan)
    with pytest.raises(TrainingRequestRefused, match=message) as refused:
        training_job_request(step, run, plan, plan["mixes"][0], environment)
    assert str(refused.value) == f"{refused.value.field}: {refused.value.problem}"


def test_the_environment_is_read_from_the_functions_variables(monkeypatch):
    for name, value in ENVIRONMENT_VARIABLES.items():
        monkeypatch.setenv(name, value)
    assert TrainingEnvironment.from_environment(os.environ) == ENVIRONMENT
    monkeypatch.setenv("TRAINING_SECURITY_GROUP_IDS", " , ")
    with pytest.raises(MissingSetting, match="TRAINING_SECURITY_GROUP_IDS lists nothing"):
        TrainingEnvironment.from_environment(os.environ)
    monkeypatch.setenv("TRAINING_SECURITY_GROUP_IDS", "sg-training")
    monkeypatch.setenv("MAX_RUNTIME_SECONDS", "a day")
    with pytest.raises(MissingSetting, match="MAX_RUNTIME_SECONDS must be a whole number of seconds, got 'a day'"):
        TrainingEnvironment.from_environment(os.environ)


def test_start_creates_the_job_and_says_where_its_model_will_be(sagemaker):
    run, plan = run_and_plan()
    request = training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    started = start(sagemaker.client, request, mix=plan["mixes"][0])
    assert started == {"step": "training", "target": "training-job", "job_name": "tickets-t75-f42b7a90", "mix": plan["mixes"][0],
                       "output_s3_uri": f"{plan['training_output_s3_uri']}tickets-t75-f42b7a90/output/model/"}
    job = sagemaker.client.describe_training_job(TrainingJobName="tickets-t75-f42b7a90")
    assert job["VpcConfig"] == request["VpcConfig"] and job["OutputDataConfig"] == request["OutputDataConfig"]
    assert job["HyperParameters"] == request["HyperParameters"] and job["EnableNetworkIsolation"] is False


def test_a_retried_start_finds_the_same_job_and_a_different_one_is_a_conflict(sagemaker):
    run, plan = run_and_plan()
    request = training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    first = start(sagemaker.client, request, mix=plan["mixes"][0])
    sagemaker.set_job("tickets-t75-f42b7a90", "InProgress")
    assert start(sagemaker.client, copy.deepcopy(request), mix=plan["mixes"][0]) == first
    assert sagemaker.backend.training_jobs["tickets-t75-f42b7a90"].training_job_status == "InProgress", "not replaced"

    other = copy.deepcopy(request)
    other["HyperParameters"]["customer_data_percent"] = "50"
    other["ResourceConfig"]["InstanceType"] = "ml.p4d.24xlarge"
    with pytest.raises(TrainingJobConflict, match=r"tickets-t75-f42b7a90 exists but was made from other inputs "
                                                  r"\(hyperparameters, instances\)"):
        start(sagemaker.client, other)


def test_status_follows_the_job_and_a_failed_jobs_reason_surfaces(sagemaker):
    run, plan = run_and_plan()
    started = start(sagemaker.client, training_job_request("training", run, plan, plan["mixes"][0], ENVIRONMENT))
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


def test_job_plan_is_shared_with_hyperpod_and_keeps_the_mix():
    run, plan = run_and_plan()
    job = job_plan("training", run, plan, plan["mixes"][0], mlflow_tracking_uri=MLFLOW)
    assert job.mix == plan["mixes"][0] and job.model_s3_uri == f"{plan['training_output_s3_uri']}tickets-t75-f42b7a90/output/model/"
    assert job.command == ("python", "-m", "openforge_training.launch", "train")


def test_sagemakers_own_words_for_a_missing_job_count_as_missing():
    """Real SageMaker answers DescribeTrainingJob for an unknown name with "Requested resource not found."."""
    class SageMakerSaysNotFound:
        def describe_training_job(self, **name):
            raise ClientError({"Error": {"Code": "ValidationException", "Message": "Requested resource not found."}}, "DescribeTrainingJob")

    assert status(SageMakerSaysNotFound(), {"job_name": "tickets-e75"})["failure_reason"] == "training job tickets-e75 does not exist"


@pytest.fixture
def created_in_progress(sagemaker, monkeypatch):
    """CreateTrainingJob as SageMaker answers it: the job is InProgress (moto finishes it at once)."""
    create = SageMakerResponse.create_training_job

    def create_in_progress(self):
        response = create(self)
        self.sagemaker_backend.training_jobs[self._get_param("TrainingJobName")].training_job_status = "InProgress"
        return response

    monkeypatch.setattr(SageMakerResponse, "create_training_job", create_in_progress)
    for name, value in ENVIRONMENT_VARIABLES.items():
        monkeypatch.setenv(name, value)
    return sagemaker


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
