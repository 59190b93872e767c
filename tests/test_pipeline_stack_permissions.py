"""The fine-tuning pipeline's permissions as synthesised: every SageMaker create its Lambdas
may make is private and under our key, endpoints are touched only in the environment's
namespace, roles are passed only to SageMaker, and the start functions see only this state
machine's executions (template assertions and IAM evaluated on the synthesised policies)."""
from __future__ import annotations

import json

from constructs.fine_tuning_pipeline import run_limits
from openforge_contract import states
from tests.iam_policy import ALLOW, Request
from tests.pipeline_template import actions, all_states, definition, environment_config, function_environment, pipeline, statements


def test_sagemaker_creates_are_allowed_only_private_and_under_our_key(env):
    found: dict[str, list[dict]] = {}
    for statement in statements(pipeline(env)):
        for action in actions(statement):
            if action.startswith("sagemaker:Create"):
                found.setdefault(action, []).append(statement)
    assert set(found) == {"sagemaker:CreateTrainingJob", "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint"}
    [model] = found["sagemaker:CreateModel"]
    assert model["Condition"]["Bool"] == {"sagemaker:NetworkIsolation": "true"} and model["Condition"]["Null"]["sagemaker:VpcSubnets"] == "false"


def _keyed_and_unkeyed(statements_of_action: list[dict]) -> tuple[dict, dict]:
    [keyed] = [s["Condition"] for s in statements_of_action if "sagemaker:VolumeKmsKeyArn" in s["Condition"].get("ArnEquals", {})]
    [unkeyed] = [s["Condition"] for s in statements_of_action if "sagemaker:VolumeKmsKeyArn" not in s["Condition"].get("ArnEquals", {})]
    return keyed, unkeyed


def _create_statements(env, action: str) -> list[dict]:
    return [s for s in statements(pipeline(env)) if action in actions(s)]


def test_training_jobs_name_our_volume_key_unless_every_instance_has_local_nvme(env):
    """AWS refuses VolumeKmsKeyId on instance types with local storage: the no-key statement
    holds only when the request names instance types and all of them are this environment's
    local-NVMe training types; every other condition is on both statements."""
    keyed, unkeyed = _keyed_and_unkeyed(_create_statements(env, "sagemaker:CreateTrainingJob"))
    key = keyed["ArnEquals"]["sagemaker:VolumeKmsKeyArn"]
    assert keyed["ArnEquals"] == {"sagemaker:VolumeKmsKeyArn": key, "sagemaker:OutputKmsKeyArn": key}
    assert unkeyed["ArnEquals"] == {"sagemaker:OutputKmsKeyArn": key}, "the output is always under our key"
    assert "StringEquals" not in keyed and "StringEquals" not in unkeyed, "the retired short key names are filled by no action"
    assert unkeyed["Null"] == {"sagemaker:VolumeKmsKeyArn": "true", "sagemaker:InstanceTypes": "false",
                               "sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"}
    assert unkeyed["ForAllValues:StringEquals"]["sagemaker:InstanceTypes"] == sorted(environment_config(env).limits.training_instance_types)
    for conditions in (keyed, unkeyed):
        assert conditions["Bool"] == {"sagemaker:InterContainerTrafficEncryption": "true"}
        assert {"sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds"} <= set(conditions["ForAllValues:StringEquals"])
        assert {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"}.items() <= conditions["Null"].items()
    assert "sagemaker:InstanceTypes" not in keyed.get("ForAllValues:StringEquals", {}), "with our key any type may run"


def test_endpoint_configs_name_our_volume_key_unless_every_instance_has_local_nvme(env):
    """Both statements also demand the environment's ownership tags (and only OpenForge tag keys)."""
    keyed, unkeyed = _keyed_and_unkeyed(_create_statements(env, "sagemaker:CreateEndpointConfig"))
    tags = {key: value for key, value in keyed["StringEquals"].items() if key.startswith("aws:RequestTag/")}
    assert tags and set(keyed["StringEquals"]) == set(tags) and set(keyed["ArnEquals"]) == {"sagemaker:VolumeKmsKeyArn"}
    assert unkeyed["StringEquals"] == tags and "ArnEquals" not in unkeyed
    for conditions in (keyed, unkeyed):
        assert conditions["ForAllValues:StringLike"] == {"aws:TagKeys": ["openforge:*"]}
    assert unkeyed["Null"] == {"sagemaker:VolumeKmsKeyArn": "true", "sagemaker:InstanceTypes": "false"}
    assert unkeyed["ForAllValues:StringEquals"] == {"sagemaker:InstanceTypes": sorted(environment_config(env).serving.endpoint_instance_types)}


def _text(value) -> str:
    """A resource as text, the pseudo parameters of an Fn::Join left as placeholders."""
    if isinstance(value, dict) and "Fn::Join" in value:
        return "".join(part if isinstance(part, str) else "X" for part in value["Fn::Join"][1])
    return value if isinstance(value, str) else json.dumps(value)


ENDPOINT_ACTIONS = {"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:AddTags",
                    "sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel",
                    "sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel", "sagemaker:ListTags"}


def test_endpoints_are_touched_only_in_the_environments_namespace_and_changed_only_when_tagged_as_ours(env):
    """A job named like another team's endpoint cannot reach it: every endpoint, endpoint
    config and model statement is limited to the environment's lower-case name prefix (as
    SageMaker writes names in ARNs), changes demand our tags on the resource, creates
    demand them in the request and no tag key outside our namespace. The Lambdas are given
    the same prefix and tags."""
    template = pipeline(env)
    settings = [f["Properties"]["Environment"]["Variables"] for f in template.find_resources("AWS::Lambda::Function").values()
                if "ENDPOINT_NAME_PREFIX" in f["Properties"].get("Environment", {}).get("Variables", {})]
    assert len(settings) == 3, "DeployEndpoint, CleanUpRun and CleanUpEndedRun name and find endpoints"
    prefix, owner_tags = settings[0]["ENDPOINT_NAME_PREFIX"], json.loads(settings[0]["ENDPOINT_OWNER_TAGS"])
    assert all(s["ENDPOINT_NAME_PREFIX"] == prefix and json.loads(s["ENDPOINT_OWNER_TAGS"]) == owner_tags for s in settings)
    assert prefix == prefix.lower() and prefix.startswith("openforge-") and prefix.endswith("-")
    assert owner_tags["openforge:managed-by"] == "openforge" and owner_tags["openforge:environment"] in prefix

    def resources(statement) -> list[tuple[str, str]]:
        """(resource type, name) of each resource, from its ARN."""
        listed = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        return [tuple(_text(r).rpartition(":")[2].partition("/")[::2]) for r in listed]

    kinds = ("endpoint", "endpoint-config", "model")
    found = [s for s in statements(template) if any(kind in kinds for kind, _ in resources(s))]
    assert {a for s in found for a in actions(s)} == ENDPOINT_ACTIONS
    for statement in found:
        assert all(kind in kinds and name == f"{prefix}*" for kind, name in resources(statement)), statement
        condition = statement.get("Condition", {})
        if {"sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint", "sagemaker:DeleteEndpointConfig", "sagemaker:DeleteModel"} & set(actions(statement)):
            assert condition["StringEquals"] == {f"aws:ResourceTag/{key}": value for key, value in owner_tags.items()}, statement
        if {"sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint", "sagemaker:AddTags"} & set(actions(statement)):
            assert {f"aws:RequestTag/{key}": value for key, value in owner_tags.items()}.items() <= condition["StringEquals"].items(), statement
            assert condition["ForAllValues:StringLike"] == {"aws:TagKeys": ["openforge:*"]}, statement
    elsewhere = {a for s in statements(template) if s not in found for a in actions(s)}
    assert not elsewhere & (ENDPOINT_ACTIONS - {"sagemaker:AddTags"}), "no endpoint action is granted on other resources"


def test_roles_are_passed_only_to_sagemaker_and_no_action_is_a_wildcard(env):
    for statement in statements(pipeline(env)):
        assert not any(a == "*" or a.endswith(":*") for a in actions(statement)), statement
        if "iam:PassRole" in actions(statement):
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
            assert "*" not in json.dumps(statement["Resource"])


def test_the_start_functions_may_describe_only_this_state_machines_executions(env):
    """StartTrainingJob and DeployEndpoint ask, after creating, whether their execution still runs
    (openforge_lambda.execution_check); each is told its execution's ARN."""
    template, construct = pipeline(env), env.platform.pipeline.pipeline
    stack = env.platform.pipeline
    policies = template.find_resources("AWS::IAM::ManagedPolicy")
    machine = construct.state_machine_name
    for name in ("StartTrainingJob", "DeployEndpoint"):
        policy = policies[stack.get_logical_id(construct.roles[name].policy.node.default_child)]
        described = [s for s in policy["Properties"]["PolicyDocument"]["Statement"] if "states:DescribeExecution" in actions(s)]
        assert [actions(s) for s in described] == [["states:DescribeExecution"]], name
        resource = json.dumps(described[0]["Resource"])
        assert f":execution:{machine}:*" in resource and resource.count("*") == 1, name
    machine_states = all_states(definition(template)["States"])
    starts = [machine_states[name] for name in (states.VALIDATION_RUN, states.TRAIN, states.EVALUATE, states.DEPLOY)]
    assert all(state["Parameters"]["execution_arn.$"] == "$$.Execution.Id" for state in starts)
    allowance = machine_states[states.CHECK_ENDPOINT]["Parameters"]["allowance"]
    assert allowance == {"started.$": "$.deployment.started_at", "seconds": run_limits.DEPLOYMENT_SECONDS}


def test_validate_input_and_the_start_function_check_runs_against_the_same_environment(env):
    """ValidateInput refuses hyperpod where there is no cluster; StartTrainingJob checks the run and plan again."""
    checks = ("DATASETS_BUCKET", "ARTIFACTS_BUCKET", "TRAINING_INSTANCE_TYPES", "MAX_INSTANCE_COUNT", "HYPERPOD_CLUSTER_NAME")
    validate, start = function_environment(env, "ValidateInput"), function_environment(env, "StartTrainingJob")
    assert {name: validate.get(name) for name in checks} == {name: start.get(name) for name in checks}
    assert ("HYPERPOD_CLUSTER_NAME" in validate) == (env.platform.compute.cluster is not None)


def test_no_role_can_retag_another_environments_endpoint_or_another_teams_job_as_its_own(env):
    """AddTags overwrites: a role that could tag openforge-dev-eu-*'s endpoint (its name starts
    with dev's prefix) openforge:environment=dev could then update or delete it. Evaluated on
    the synthesised policies: tagging is allowed on a resource being created (no environment
    tag yet) or already this environment's, never on another's; training jobs only while they
    have no OpenForge tags, and only with OpenForge's keys."""
    from tests import iam_policy

    stack = env.platform.pipeline
    aws = iam_policy.Environment("aws", stack.region, stack.account)
    name = environment_config(env).name
    pipeline_construct = stack.pipeline
    deploy = iam_policy.role_statements(stack, pipeline(env).to_json(), pipeline_construct.roles["DeployEndpoint"].role)
    start = iam_policy.role_statements(stack, pipeline(env).to_json(), pipeline_construct.roles["StartTrainingJob"].role)
    sagemaker = f"arn:aws:sagemaker:{stack.region}:{stack.account}"
    ours = {"aws:RequestTag/openforge:managed-by": "openforge", "aws:RequestTag/openforge:environment": name,
            "aws:TagKeys": ["openforge:managed-by", "openforge:environment"]}
    neighbour = f"{sagemaker}:endpoint/openforge-{name}-eu-fraud-scoring"

    def add_tags(resource: str, **resource_tags) -> str:
        context = {**ours, **{f"aws:ResourceTag/openforge:{key}": value for key, value in resource_tags.items()}}
        return iam_policy.decide(deploy, Request("sagemaker:AddTags", resource, context), aws)

    assert add_tags(neighbour, environment=f"{name}-eu", **{"managed-by": "openforge"}) != ALLOW
    assert add_tags(f"{sagemaker}:endpoint/openforge-{name}-tickets") == ALLOW  # being created
    assert add_tags(f"{sagemaker}:endpoint/openforge-{name}-tickets", environment=name) == ALLOW
    update = Request("sagemaker:UpdateEndpoint", neighbour, {"aws:ResourceTag/openforge:managed-by": "openforge",
                                                             "aws:ResourceTag/openforge:environment": f"{name}-eu"})
    assert iam_policy.decide(deploy, update, aws) != ALLOW

    job_tags = {"aws:TagKeys": ["openforge:execution", "openforge:job", "openforge:step"]}
    job = f"{sagemaker}:training-job/tickets-t75-1a2b3c4d"
    assert iam_policy.decide(start, Request("sagemaker:AddTags", job, job_tags), aws) == ALLOW, "tag-on-create: the job has no tags yet"
    assert iam_policy.decide(start, Request("sagemaker:AddTags", job, {"aws:TagKeys": ["team"]}), aws) != ALLOW, "only OpenForge's keys"
    assert iam_policy.decide(start, Request("sagemaker:AddTags", job, {**job_tags, "aws:ResourceTag/openforge:job": "other-run"}), aws) != ALLOW


def test_validate_input_reads_base_model_configs_and_nothing_else(env):
    """The capacity plan needs each base model's config.json (openforge_lambda.capacity_check);
    the function must not read the weights beside it, nor any other prefix."""
    from tests import iam_policy

    stack = env.platform.pipeline
    aws = iam_policy.Environment("aws", stack.region, stack.account)
    validate = iam_policy.role_statements(stack, pipeline(env).to_json(), stack.pipeline.roles["ValidateInput"].role)
    artifacts, datasets = function_environment(env, "ValidateInput")["ARTIFACTS_BUCKET"], function_environment(env, "ValidateInput")["DATASETS_BUCKET"]

    def get(bucket: str, key: str) -> str:
        return iam_policy.decide(validate, Request("s3:GetObject", f"arn:aws:s3:::{bucket}/{key}"), aws)

    assert get(artifacts, "base-models/default/config.json") == ALLOW
    assert get(artifacts, "base-models/team/llama-3.1-8b/config.json") == ALLOW
    for key in ("base-models/default/model.safetensors", "base-models/default/tokenizer.json", "training/run/model.safetensors",
                "checkpoints/run/config.json"):
        assert get(artifacts, key) != ALLOW, key
    assert get(datasets, "raw/team/config.json") != ALLOW
    assert not any("s3:PutObject" in actions(s) or "s3:ListBucket" in actions(s) for s in validate)
