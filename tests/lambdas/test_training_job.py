"""Given a validated run and its plan, when the pipeline starts a step as a SageMaker training
job, then the request is private (VPC, KMS, no route out), reads the right channels, sends
only hyperparameters the training container accepts, fits the instance's storage, and a
request that cannot run privately or as planned is refused naming the field. Starting it,
its status and the start and check functions: test_training_job_start.py.
"""
from __future__ import annotations

import json
import os
from dataclasses import fields, replace

import pytest
from openforge_training import config as training_config
from openforge_training import evaluate as evaluation_config

from tests.lambdas.training_runs import (BASE_MODEL, CURATED, ENVIRONMENT, ENVIRONMENT_VARIABLES, MLFLOW, channels, request_for, run_and_plan,
                                         step_job)

from openforge_contract.environment_variables import MissingSetting, TrainingEnvironment
from openforge_lambda.run import Run  # isort: skip
from openforge_lambda.run_plan import RunPlan  # isort: skip
from openforge_lambda.settings import FieldError  # isort: skip
from openforge_lambda.training_job import TrainingRequestRefused  # isort: skip


def test_a_training_step_is_a_private_encrypted_job_reading_its_mix():
    run, plan = run_and_plan()
    request = request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)
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
        "max_length": "2048", "seed": "42", "precision": "auto", "gradient_checkpointing": "true", "sharding": "auto",
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
    request = request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["ResourceConfig"] == {"InstanceType": instance_type, "InstanceCount": 1, "VolumeSizeInGB": volume_gb}
    assert request["OutputDataConfig"]["KmsKeyId"] == ENVIRONMENT.kms_key_id


def test_on_an_ebs_only_type_the_volume_is_under_the_customers_key():
    run, plan = on_instance("ml.m5.xlarge")
    request = request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["ResourceConfig"] == {"InstanceType": "ml.m5.xlarge", "InstanceCount": 1, "VolumeSizeInGB": 512,
                                         "VolumeKmsKeyId": ENVIRONMENT.kms_key_id}
    assert request["OutputDataConfig"]["KmsKeyId"] == ENVIRONMENT.kms_key_id


def test_an_instance_type_the_platform_does_not_know_is_refused_naming_it():
    run, plan = on_instance("ml.p5.96xlarge")
    with pytest.raises(TrainingRequestRefused, match=r"^run\.compute\.instance_type: unknown instance type 'ml\.p5\.96xlarge'"):
        request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)


def test_the_output_key_is_required_even_where_volumes_take_none():
    run, plan = run_and_plan()  # ml.p5.48xlarge: local NVMe
    with pytest.raises(TrainingRequestRefused, match="^kms_key_id: required"):
        request_for("training", run, plan, plan["mixes"][0], replace(ENVIRONMENT, kms_key_id=""))


def test_a_validation_run_is_five_quick_steps_under_its_own_name():
    run, plan = run_and_plan(compute={"instance_count": 2})
    request = request_for("validation", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["TrainingJobName"] == "tickets-val-f42b7a90"
    assert {key: request["HyperParameters"][key] for key in ("max_steps", "save_steps", "logging_steps", "run_name")} == {
        "max_steps": "5", "save_steps": "5", "logging_steps": "1", "run_name": "tickets-val-f42b7a90"}
    assert request["StoppingCondition"] == {"MaxRuntimeInSeconds": 7200}
    assert request["ResourceConfig"]["InstanceCount"] == 2, "a validation run proves the multi-node set-up too"
    assert request["CheckpointConfig"]["S3Uri"].endswith("/tickets-val-f42b7a90/")
    assert request_for("validation", run, plan, None, ENVIRONMENT) == request, "without a mix: the plan's first"


def test_an_evaluation_scores_the_tuned_model_against_the_base_into_the_report_prefix():
    run, plan = run_and_plan(compute={"instance_count": 4}, evaluation={"benchmarks": ["mmlu", "byod"],
                                                                         "limits": {"min_general_retention": 0.95, "min_domain_gain": 0}})
    request = request_for("evaluation", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["TrainingJobName"] == "tickets-e75-f42b7a90"
    assert request["AlgorithmSpecification"]["ContainerEntrypoint"] == ["python", "-m", "openforge_training.evaluate"]
    assert channels(request) == {"model": BASE_MODEL, "tuned": f"{plan['training_output_s3_uri']}tickets-t75-f42b7a90/output/model/",
                                 "eval": plan["evaluation_data_s3_uri"]}
    assert request["HyperParameters"] == {"benchmarks": "mmlu,byod", "min_general_retention": "0.95", "min_domain_gain": "0", "waive_general_check": "false",
                                          "mlflow_tracking_uri": MLFLOW, "run_name": "tickets-e75-f42b7a90"}
    assert request["OutputDataConfig"]["S3OutputPath"] == plan["report_s3_uri"]
    assert request["ResourceConfig"]["InstanceCount"] == 1 and "CheckpointConfig" not in request
    assert request["VpcConfig"]["Subnets"] == ["subnet-a", "subnet-b"] and request["EnableNetworkIsolation"] is False


def test_trainium_runs_the_neuron_image_and_full_tuning_sends_no_lora_settings():
    run, plan = run_and_plan(method="full", compute={"instance_type": "ml.trn1.32xlarge"})
    request = request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)
    assert request["AlgorithmSpecification"]["TrainingImage"] == ENVIRONMENT.neuron_image_uri
    assert request["HyperParameters"]["method"] == "full"
    assert not {key for key in request["HyperParameters"] if key.startswith("lora_")}


def test_a_customer_only_mix_reads_no_curated_data():
    run, plan = run_and_plan()
    request = request_for("training", run, plan, plan["mixes"][1], ENVIRONMENT)
    assert set(channels(request)) == {"model", "customer"}
    assert request["HyperParameters"]["customer_data_percent"] == "100" and "curated_weights" not in request["HyperParameters"]
    run["curated_data_s3_uri"] = None
    assert set(channels(request_for("training", run, plan, plan["mixes"][1], ENVIRONMENT))) == {"model", "customer"}
    with pytest.raises(TrainingRequestRefused, match=r"^run\.curated_data_s3_uri: required: mix 75% leaves a curated share$"):
        request_for("training", run, plan, plan["mixes"][0], ENVIRONMENT)


@pytest.mark.parametrize("step, run_change, mix_index", [
    ("training", {}, 0), ("training", {"method": "full"}, 0), ("validation", {}, 0), ("training", {}, 1), ("evaluation", {}, 0)])
def test_every_hyperparameter_sent_is_one_the_container_accepts(tmp_path, step, run_change, mix_index):
    """By name against the container's dataclasses, then by value through its own parser."""
    run, plan = run_and_plan(**run_change)
    sent = request_for(step, run, plan, plan["mixes"][mix_index], ENVIRONMENT)["HyperParameters"]
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
        assert values["learning_rate"] == 1e-5 and values["gradient_checkpointing"] is True and values["seed"] == 42
        assert values["sharding"] == "auto"
        assert values["max_steps"] == (5 if step == "validation" else -1)
        assert values["curated_weights"] in (None, '{"factuality": 60, "reasoning": 40}')


REFUSED = {
    "no subnets": (lambda env, run, plan: (replace(env, subnet_ids=()), run, plan, "training"), r"^subnet_ids: required"),
    "no security groups": (lambda env, run, plan: (replace(env, security_group_ids=()), run, plan, "training"), r"^security_group_ids: required"),
    "no key": (lambda env, run, plan: (replace(env, kms_key_id=""), run, plan, "training"), r"^kms_key_id: required"),
    "unknown step": (lambda env, run, plan: (env, run, plan, "deploy"),
                     r"^step: must be one of validation, training, evaluation, got 'deploy'$"),
}


@pytest.mark.parametrize("change, message", REFUSED.values(), ids=REFUSED.keys())
def test_a_request_that_cannot_run_privately_or_as_planned_is_refused_naming_the_field(change, message):
    run, plan = run_and_plan()
    environment, run, plan, step = change(ENVIRONMENT, run, plan)
    with pytest.raises(TrainingRequestRefused, match=message) as refused:
        request_for(step, run, plan, plan["mixes"][0], environment)
    assert str(refused.value) == f"{refused.value.field}: {refused.value.problem}"


def test_a_run_or_plan_missing_a_field_is_refused_where_it_is_read_naming_the_field():
    """Each step reads the run and plan once, at its entry (Run.from_dict, RunPlan.from_dict):
    what is missing or mistyped there never reaches the job."""
    run, plan = run_and_plan()
    with pytest.raises(FieldError, match=r"^plan\.validation_job_name: required$"):
        RunPlan.from_dict({**plan, "validation_job_name": None})
    with pytest.raises(FieldError, match=r"^run\.base_model_s3_uri: must be a non-empty string, got ''$"):
        Run.from_dict({**run, "base_model_s3_uri": ""})
    with pytest.raises(FieldError, match=r"^plan\.mixes\[1\]\.training_job_name: required$"):
        RunPlan.from_dict({**plan, "mixes": [plan["mixes"][0], {**plan["mixes"][1], "training_job_name": None}]})
    with pytest.raises(FieldError, match=r"^run\.compute\.instance_count: must be a whole number of at least 1, got 0$"):
        Run.from_dict({**run, "compute": {**run["compute"], "instance_count": 0}})


def test_the_run_and_plan_read_back_as_the_state_machine_carries_them():
    run, plan = run_and_plan()
    assert Run.from_dict(run).to_dict() == run and json.dumps(Run.from_dict(run).to_dict()) == json.dumps(run)
    assert RunPlan.from_dict(plan).to_dict() == plan and json.dumps(RunPlan.from_dict(plan).to_dict()) == json.dumps(plan)


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


def test_job_plan_is_shared_with_hyperpod_and_keeps_the_mix():
    run, plan = run_and_plan()
    job = step_job("training", run, plan, plan["mixes"][0])
    assert job.mix.to_dict() == plan["mixes"][0] and job.model_s3_uri == f"{plan['training_output_s3_uri']}tickets-t75-f42b7a90/output/model/"
    assert job.command == ("python", "-m", "openforge_training.launch", "train")
