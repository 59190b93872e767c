"""Every group of variables reads back what it writes; a function deployed without a
variable it needs fails naming it; optional variables default."""
from dataclasses import fields

import pytest

from openforge_contract import environment_variables as variables
from openforge_contract.environment_variables import (EndpointNamespace, HyperPodCluster, MissingSetting, RunDefaults, RunLimits, ServingSettings,
                                                      TrainingEnvironment)

GROUPS = {
    variables.PlatformBuckets: variables.PlatformBuckets("datasets", "artifacts"),
    RunLimits: RunLimits(("ml.p5.48xlarge", "ml.g5.12xlarge"), 2, "openforge-dev"),
    RunDefaults: RunDefaults(30, 2.5, "s3://a/base-models/default/", "s3://d/curated/", "s3://d/evaluation/default/", ("ml.g5.2xlarge",)),
    TrainingEnvironment: TrainingEnvironment("gpu", "neuron", "role", ("subnet-a", "subnet-b"), ("sg",), "key", "mlflow", 3600),
    HyperPodCluster: HyperPodCluster("openforge-dev", "artifacts", ("datasets", "artifacts")),
    ServingSettings: ServingSettings("image", "role", ("subnet-a",), ("sg",), "key", {"MAX_TOTAL_TOKENS": "8192"}),
    EndpointNamespace: EndpointNamespace.of("dev"),
    variables.EndedRunSettings: variables.EndedRunSettings("topic", "openforge-dev"),
    variables.OutputKey: variables.OutputKey("key"),
}


@pytest.mark.parametrize("group", GROUPS.values(), ids=[group.__name__ for group in GROUPS])
def test_each_group_reads_back_what_it_writes(group):
    environment = group.as_environment()
    assert all(isinstance(value, str) for value in environment.values())
    assert type(group).from_environment(environment) == group
    assert type(group).is_set(environment) and not type(group).is_set({})


def test_every_variable_is_named_once_except_the_clusters():
    """HYPERPOD_CLUSTER_NAME is the one variable several groups read: it is set only where there is a cluster."""
    names = [field.metadata[variables.VARIABLE][0] for group in GROUPS for field in fields(group)]
    repeated = {name for name in names if names.count(name) > 1}
    assert repeated == {variables.HYPERPOD_CLUSTER_NAME}


def test_a_required_variable_that_is_missing_or_empty_is_named():
    environment = GROUPS[TrainingEnvironment].as_environment()
    for broken, message in ((dict(environment, TRAINING_ROLE_ARN=""), "environment variable TRAINING_ROLE_ARN is not set on this function"),
                            ({k: v for k, v in environment.items() if k != "TRAINING_KMS_KEY_ARN"}, "TRAINING_KMS_KEY_ARN is not set"),
                            (dict(environment, TRAINING_SUBNET_IDS=" , "), "TRAINING_SUBNET_IDS lists nothing"),
                            (dict(environment, MAX_RUNTIME_SECONDS="0"), "MAX_RUNTIME_SECONDS must be a whole number of seconds, got '0'")):
        with pytest.raises(MissingSetting, match=message):
            TrainingEnvironment.from_environment(broken)


def test_optional_variables_default_and_none_is_left_unset():
    assert RunDefaults.from_environment({}) == RunDefaults()
    assert RunDefaults().poll_seconds == variables.DEFAULT_POLL_SECONDS
    assert RunLimits.from_environment({}) == RunLimits() and RunLimits().as_environment() == {}
    assert ServingSettings.from_environment({k: v for k, v in GROUPS[ServingSettings].as_environment().items()
                                            if k != "SERVING_CONTAINER_ENVIRONMENT"}).container_environment == {}


def test_lists_are_written_with_the_join_given():
    """The CDK app passes Fn.join, so a list of deploy-time tokens stays one Fn::Join."""
    written = GROUPS[TrainingEnvironment].as_environment(join=lambda items: "+".join(items))
    assert written["TRAINING_SUBNET_IDS"] == "subnet-a+subnet-b" and written["TRAINING_ROLE_ARN"] == "role"


def test_the_batch_script_names_the_instance_type_variable_the_container_reads():
    """hyperpod_jobs ships to the controller alone, so it keeps its own copy of the name."""
    from hyperpod_jobs.batch_script import TRAINING_INSTANCE_TYPE_VARIABLE
    from openforge_contract.environment_variables import TRAINING_INSTANCE_TYPE_VARIABLE as read_by_the_container

    assert TRAINING_INSTANCE_TYPE_VARIABLE == read_by_the_container
