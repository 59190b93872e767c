"""Each bad value in cdk.json stops synth with one message that names the key."""

from __future__ import annotations

import copy

import pytest

from platform_config.environments import ConfigError, load_environment
from tests.conftest import CONTEXT, synthesise
from tests.pipeline_template import function_environment


def _with(mutate) -> dict:
    context = copy.deepcopy(CONTEXT)
    mutate(context["environments"]["prod"])
    return context


BAD_VALUES = [
    (lambda e: e.__setitem__("acount", "1"), "environments.prod.acount: unknown key"),
    (lambda e: e["compute"]["gpu_workers"].__setitem__("count", -1), "environments.prod.compute.gpu_workers.count: Input should be greater than or equal to 0"),
    (lambda e: e["compute"]["trainium_workers"].__setitem__("instance_type", "ml.trn9.32xlarge"), "environments.prod.compute.trainium_workers.instance_type: unknown Trainium instance type 'ml.trn9.32xlarge'"),
    (lambda e: e["serving"].__setitem__("endpoint_instance_types", ["ml.g5.huge"]), "environments.prod.serving.endpoint_instance_types: unknown endpoint instance type 'ml.g5.huge'"),
    (lambda e: e["compute"]["gpu_workers"].__setitem__("training_plan_arn", "arn:aws:sagemaker:us-east-1:12:tp"), "environments.prod.compute.gpu_workers.training_plan_arn: 'arn:aws:sagemaker:us-east-1:12:tp' is not a training plan ARN"),
    (
        lambda e: e["compute"]["gpu_workers"].__setitem__("training_plan_arn", "arn:aws:sagemaker:eu-west-1:222222222222:training-plan/p5"),
        "environments.prod.compute.gpu_workers.training_plan_arn: 'arn:aws:sagemaker:eu-west-1:222222222222:training-plan/p5' belongs to 222222222222/eu-west-1",
    ),
    (lambda e: e.pop("region"), "environments.prod.region: missing required key"),
    (lambda e: e.__setitem__("account", "12345"), "environments.prod.account: '12345' is not a 12-digit AWS account id"),
    (lambda e: e["network"].__setitem__("az_count", 1), "environments.prod.network.az_count: Input should be greater than or equal to 2"),
    (lambda e: e["network"].__setitem__("az_count", "3"), "environments.prod.network.az_count: Input should be a valid integer"),
    (lambda e: e["limits"].__setitem__("max_training_hours", 0), "environments.prod.limits.max_training_hours: Input should be greater than or equal to 1"),
    (lambda e: e["retention"].__setitem__("log_retention_days", 42), "environments.prod.retention.log_retention_days: 42 is not a CloudWatch Logs retention"),
    (lambda e: e.__setitem__("sanitisation", {"max_concurrency": 0}), "environments.prod.sanitisation.max_concurrency: Input should be greater than or equal to 1"),
    (lambda e: e.__setitem__("sanitisation", {"max_quarantine_percent": 120}), "environments.prod.sanitisation.max_quarantine_percent: Input should be less than or equal to 100"),
]


@pytest.mark.parametrize(("mutate", "message"), BAD_VALUES, ids=[message.split(":")[0] for _, message in BAD_VALUES])
def test_bad_value_names_the_key(mutate, message):
    with pytest.raises(ConfigError) as error:
        load_environment(_with(mutate), "prod")
    assert str(error.value).startswith(message)
    assert "\n" not in str(error.value)


def test_missing_or_unknown_environment():
    with pytest.raises(ConfigError, match=r"^env: no environment chosen; pass -c env=<dev\|prod>"):
        load_environment(CONTEXT, None)
    with pytest.raises(ConfigError, match=r"^env: unknown environment 'qa'; cdk.json defines dev, prod"):
        load_environment(CONTEXT, "qa")


def test_good_values_parse_into_a_typed_object():
    config = load_environment(CONTEXT, "prod")
    assert config.compute.gpu_workers.count == 4 and config.compute.trainium_workers.instance_type == "ml.trn1.32xlarge"
    assert config.availability_zones == ("us-east-1a", "us-east-1b", "us-east-1c")
    with pytest.raises(ValueError):
        config.compute.gpu_workers.count = 5  # frozen


def test_an_environment_without_compute_creates_no_cluster(tmp_path):
    environments = copy.deepcopy(CONTEXT["environments"])
    environments["dev"]["compute"]["hyperpod_enabled"] = False
    synthesised = synthesise(tmp_path, "dev", environments)
    assert synthesised.resources("AWS::SageMaker::Cluster") == {}
    assert len(synthesised.resources("AWS::IAM::Role")) >= 2  # training job and MLflow roles remain
    for name in ("ValidateInput", "StartTrainingJob"):  # so compute.target hyperpod is refused
        assert "HYPERPOD_CLUSTER_NAME" not in function_environment(synthesised, name)


def test_a_group_at_zero_stays_declared_and_plans_reach_the_group(tmp_path):
    environments = copy.deepcopy(CONTEXT["environments"])
    plan = "arn:aws:sagemaker:us-east-1:111111111111:training-plan/p5-reserved"
    environments["dev"]["compute"]["gpu_workers"] = {"count": 2, "training_plan_arn": plan}
    environments["dev"]["compute"]["trainium_workers"] = {"count": 0}
    synthesised = synthesise(tmp_path, "dev", environments)
    ((_, cluster),) = synthesised.resources("AWS::SageMaker::Cluster").values()
    groups = {group["InstanceGroupName"]: group for group in cluster["Properties"]["InstanceGroups"]}
    assert groups["gpu-workers"]["InstanceCount"] == 2 and groups["gpu-workers"]["TrainingPlanArn"] == plan
    assert groups["trainium-workers"]["InstanceCount"] == 0 and "TrainingPlanArn" not in groups["trainium-workers"]
