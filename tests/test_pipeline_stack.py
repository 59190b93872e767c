"""The fine-tuning pipeline as synthesised: its shape (template assertions: every Lambda in
the VPC, every SageMaker create the Lambdas may make carries our key and subnets, every
step caught) and its behaviour (the synthesised definition, sanitisation states included,
executed by moto's Step Functions interpreter; Lambda results are canned,
each handler has its own tests)."""
from __future__ import annotations

import json
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from pipeline import steps
from tests.state_machines import ACCOUNT, MOTO_CONFIG, REGION, create_functions, entered_states, lambda_inputs, pseudo_names, queue_results, resolve, run_to_the_end, run_until

from openforge_lambda.pipeline_input import EnvironmentPolicy, normalise  # isort: skip
from openforge_lambda.run_plan import PlatformLocations, plan_run  # isort: skip

EXECUTION = "exec-1"


def pipeline(env):
    return env.templates["Pipeline"]


def statements(template) -> list[dict]:
    return [s for policy in template.find_resources("AWS::IAM::ManagedPolicy").values() for s in policy["Properties"]["PolicyDocument"]["Statement"]]


def actions(statement) -> list[str]:
    return statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]


def definition(template) -> dict:
    """The state machine's definition with every intrinsic function replaced by a placeholder."""
    [machine] = template.find_resources("AWS::StepFunctions::StateMachine").values()
    body = machine["Properties"]["DefinitionString"]
    if isinstance(body, dict):
        body = "".join(part if isinstance(part, str) else "X" for part in body["Fn::Join"][1])
    return json.loads(body)


def all_states(states: dict) -> dict:
    found = {}
    for name, state in states.items():
        found[name] = state
        if state["Type"] == "Map":
            found.update(all_states(state["ItemProcessor"]["States"]))
    return found


# --- shape -------------------------------------------------------------------------------

def test_every_pipeline_lambda_runs_in_the_isolated_subnets_with_encrypted_settings(env):
    functions = pipeline(env).find_resources("AWS::Lambda::Function")
    assert len(functions) == 8
    for function in functions.values():
        props = function["Properties"]
        assert props["VpcConfig"]["SubnetIds"] and props["VpcConfig"]["SecurityGroupIds"]
        assert props["KmsKeyArn"] and props["ReservedConcurrentExecutions"] >= 1 and len(props["Layers"]) == 1


def test_sagemaker_creates_are_allowed_only_private_and_under_our_key(env):
    found = {action: s for s in statements(pipeline(env)) for action in actions(s) if action.startswith("sagemaker:Create")}
    assert set(found) == {"sagemaker:CreateTrainingJob", "sagemaker:CreateModel", "sagemaker:CreateEndpointConfig", "sagemaker:CreateEndpoint"}
    training = found["sagemaker:CreateTrainingJob"]["Condition"]
    assert set(training["StringEquals"]) == {"sagemaker:VolumeKmsKey", "sagemaker:OutputKmsKey"}
    assert set(training["ForAllValues:StringEquals"]) == {"sagemaker:VpcSubnets", "sagemaker:VpcSecurityGroupIds"}
    assert training["Null"] == {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"}
    model = found["sagemaker:CreateModel"]["Condition"]
    assert model["Bool"] == {"sagemaker:NetworkIsolation": "true"} and model["Null"]["sagemaker:VpcSubnets"] == "false"
    assert "sagemaker:VolumeKmsKey" in found["sagemaker:CreateEndpointConfig"]["Condition"]["StringEquals"]


def test_roles_are_passed_only_to_sagemaker_and_no_action_is_a_wildcard(env):
    for statement in statements(pipeline(env)):
        assert not any(a == "*" or a.endswith(":*") for a in actions(statement)), statement
        if "iam:PassRole" in actions(statement):
            assert statement["Condition"] == {"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}}
            assert "*" not in json.dumps(statement["Resource"])


def test_the_notifications_topic_is_encrypted_with_our_key(env):
    [topic] = pipeline(env).find_resources("AWS::SNS::Topic").values()
    assert "Fn::GetAtt" in topic["Properties"]["KmsMasterKeyId"]


def test_every_step_that_can_fail_is_caught_and_every_state_is_named_from_the_steps_module(env):
    states = all_states(definition(pipeline(env))["States"])
    names = {value for key, value in vars(steps).items() if key.isupper() and isinstance(value, str)}
    names |= set(steps.MIX_FAILED.values())
    assert set(states) == names
    top_level = definition(pipeline(env))["States"]
    for name, state in states.items():
        # A failed shard fails the sanitisation map, which is caught.
        if state["Type"] not in ("Task", "Map") or name in (steps.CLEAN_UP, steps.NOTIFY_FAILURE, steps.NOTIFY_SUCCESS, steps.SANITISE_SHARD):
            continue
        [catch] = state["Catch"]
        inside_map = name not in top_level
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == (steps.MIX_ERROR if inside_map else steps.CLEAN_UP), name


# --- behaviour under moto ------------------------------------------------------------------

@dataclass
class Synthesised:
    pipeline: str | dict
    functions: list[str]  # the pipeline's, by logical id
    sanitisation_functions: list[str]  # the sanitisation stack's, by their fixed names
    topic: str
    account: str
    datasets: str
    artifacts: str


@pytest.fixture(scope="module")
def synthesised(dev) -> Synthesised:
    [machine] = dev.templates["Pipeline"].find_resources("AWS::StepFunctions::StateMachine").values()
    [topic] = dev.templates["Pipeline"].find_resources("AWS::SNS::Topic")
    return Synthesised(machine["Properties"]["DefinitionString"], list(dev.templates["Pipeline"].find_resources("AWS::Lambda::Function")),
                       list(dev.platform.sanitisation.workflow.function_names.values()), topic, dev.platform.data.account,
                       dev.platform.data.datasets.name, dev.platform.data.artifacts.name)


def validated(synthesised: Synthesised, **change) -> dict:
    """What ValidateInput returns for a run, made by its own code."""
    datasets, artifacts = f"s3://{synthesised.datasets}", f"s3://{synthesised.artifacts}"
    policy = EnvironmentPolicy(base_model_s3_uri=f"{artifacts}/base-models/default/", curated_data_s3_uri=f"{datasets}/curated/",
                               evaluation_data_s3_uri=f"{datasets}/evaluation/default/")
    run = normalise({"job_name": "tickets", "customer_data_s3_uri": f"{datasets}/raw/tickets/", "deploy": {"enabled": True}, **change}, policy)
    return {"valid": True, "error": None, "run": run, "plan": plan_run(run, EXECUTION, PlatformLocations(synthesised.datasets, synthesised.artifacts, 0))}


def sanitised(passed: bool = True) -> list[dict]:
    """The sanitisation states' Lambdas: plan (one shard), the shard, the summary."""
    summary = {"passed": passed, "lines_in": 10, "clean": 9 if passed else 4, "quarantined": 1 if passed else 6, "duplicates": 0,
               "cause": None if passed else "6 of 10 lines quarantined (60.00% > limit 5%); most common reasons: invalid_json 6."}
    return [{"manifest_key": "sanitised/tickets/exec-1/plan/items.json", "items": 1}, {"lines_in": 10, "clean": 9, "quarantined": 1, "duplicates": 0},
            summary]


def started(step: str, job_name: str) -> dict:
    return {"step": step, "target": "training-job", "job_name": job_name}


def finished(step: str, job_name: str, status: str = "Completed", reason: str | None = None) -> dict:
    output = None if status != "Completed" else f"s3://artifacts/{job_name}/output/model/"
    return {"job_name": job_name, "step": step, "target": "training-job", "status": status, "done": True, "failure_reason": reason, "output_s3_uri": output}


def trained_and_evaluated(mix: dict) -> list[dict]:
    return [started("training", mix["training_job_name"]), finished("training", mix["training_job_name"]),
            started("evaluation", mix["evaluation_job_name"]), finished("evaluation", mix["evaluation_job_name"])]


def picked(passed: bool, model="s3://artifacts/training/tickets/exec-1/tickets-t50/output/model/") -> dict:
    return {"passed": passed, "error": None if passed else "ForgettingGateFailed",
            "cause": "mix 50% chosen" if passed else "no mix passed the forgetting gate: mix 50%: mmlu_0shot kept 84.0%",
            "chosen": {"customer_data_percent": 50, "model_s3_uri": model} if passed else None, "runs": [], "report_s3_uri": "s3://artifacts/reports/x/"}


DEPLOYED = {"endpoint_name": "tickets", "model_name": "tickets-1a2b3c4d", "endpoint_config_name": "tickets-1a2b3c4d",
            "previous_endpoint_config_name": None, "created_endpoint": True, "action": "created"}


def run_pipeline(synthesised: Synthesised, results: list[dict], execution_input: dict | None = None, one_mix_at_a_time: bool = False,
                 until: str | None = None) -> dict:
    """Run the synthesised pipeline; `results` answer its Lambda calls (the sanitisation
    states' too) in order. ``until``: return {"execution_arn"} once the run has entered that
    state, still running (the caller's moto context keeps it)."""
    with mock_aws(config=MOTO_CONFIG):
        role = boto3.client("iam", region_name=REGION).create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=synthesised.datasets)
        s3.put_object(Bucket=synthesised.datasets, Key="raw/tickets/part-0.jsonl", Body=b'{"input": "a", "output": "b"}\n')
        s3.put_object(Bucket=synthesised.datasets, Key="sanitised/tickets/exec-1/plan/items.json",
                      Body=json.dumps([{"key": "raw/tickets/part-0.jsonl", "range": None}]).encode())
        sns, sqs = boto3.client("sns", region_name=REGION), boto3.client("sqs", region_name=REGION)
        names = {**pseudo_names(), "Datasets": synthesised.datasets, synthesised.topic: sns.create_topic(Name="notifications")["TopicArn"]}
        queue = sqs.create_queue(QueueName="inbox")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=names[synthesised.topic], Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
        create_functions(role, synthesised.functions + synthesised.sanitisation_functions, names)
        sfn = boto3.client("stepfunctions", region_name=REGION)
        # The sanitisation functions are named in the definition by ARN, in the environment's account: moto's here.
        body = resolve(synthesised.pipeline, names).replace(f":{synthesised.account}:", f":{ACCOUNT}:")
        if one_mix_at_a_time:  # the canned results are one queue: keep each mix's calls together
            body = json.dumps(_with_map_concurrency(json.loads(body), 1))
        machine = sfn.create_state_machine(name="fine-tune", definition=body, roleArn=role)["stateMachineArn"]
        queue_results(*results)
        if until:
            return {"execution_arn": run_until(sfn, machine, execution_input or {"job_name": "tickets"}, until, name=EXECUTION)}
        outcome = run_to_the_end(sfn, machine, execution_input or {"job_name": "tickets"}, name=EXECUTION)
        messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
        outcome["notifications"] = [json.loads(message["Body"]) for message in messages]
        return outcome


def _with_map_concurrency(body: dict, concurrency: int) -> dict:
    body["States"][steps.MIXES]["MaxConcurrency"] = concurrency
    return body


def failure(outcome) -> dict:
    [failed] = [e for e in outcome["history"] if e["type"] == "ExecutionFailed"]
    return failed["executionFailedEventDetails"]


def test_a_run_goes_from_raw_data_to_a_private_endpoint_and_says_what_it_did(synthesised):
    plan = validated(synthesised)
    [mix] = plan["plan"]["mixes"]
    in_service = {"endpoint_name": "tickets", "status": "InService", "in_service": True, "settled": True, "failure_reason": None}
    outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", plan["plan"]["validation_job_name"]),
                                         finished("validation", plan["plan"]["validation_job_name"]), *trained_and_evaluated(mix),
                                         picked(True), DEPLOYED, in_service])
    assert outcome["described"]["status"] == "SUCCEEDED", failure(outcome)
    visited = entered_states(outcome["history"])
    assert [name for name in visited if name in steps.WORK_STEPS] == list(steps.WORK_STEPS), "the local runner reports this same order"
    summary = json.loads(outcome["described"]["output"])
    assert summary["job_name"] == "tickets" and summary["execution_name"] == EXECUTION
    assert summary["sanitisation"]["clean"] == 9 and summary["selection"]["passed"] and summary["endpoint"]["status"] == "InService"
    assert outcome["notifications"] == [summary], "the notification is the summary"
    calls = lambda_inputs(outcome["history"])
    assert calls[0] == {"input": {"job_name": "tickets"}, "execution_name": EXECUTION}
    [validation_start] = [c for c in calls if c.get("step") == "validation"]
    assert validation_start["mix"] == mix and validation_start["plan"] == plan["plan"]
    [deploy] = [c for c in calls if "model_data_s3_uri" in c]
    assert deploy == {"endpoint_name": "tickets", "execution_name": EXECUTION, "model_data_s3_uri": picked(True)["chosen"]["model_s3_uri"],
                      "instance_type": plan["run"]["deploy"]["instance_type"]}


def test_a_bad_input_stops_at_the_first_state_with_the_field_named(synthesised):
    cause = "mixing.customer_data_percent: 120 is greater than the maximum of 100"
    outcome = run_pipeline(synthesised, [{"valid": False, "error": {"field": "mixing.customer_data_percent", "cause": cause}}])
    assert failure(outcome) == {"error": "InvalidInput", "cause": cause}
    assert len(lambda_inputs(outcome["history"])) == 1, "nothing ran after the input check"
    assert entered_states(outcome["history"]) == [steps.VALIDATE, steps.INPUT_VALID, steps.INPUT_INVALID]


def test_too_much_quarantined_data_stops_before_training_and_is_cleaned_up_and_notified(synthesised):
    worded = {"error": "QuarantineLimitExceeded", "cause": sanitised(False)[2]["cause"], "stopped_jobs": [], "removed": []}
    outcome = run_pipeline(synthesised, [validated(synthesised), *sanitised(passed=False), worded])
    assert failure(outcome) == {"error": "QuarantineLimitExceeded", "cause": worded["cause"]}
    cleanup = lambda_inputs(outcome["history"])[-1]
    assert cleanup["error"] == {"Error": "QuarantineLimitExceeded", "Cause": worded["cause"]}
    assert cleanup["sanitisation"]["summary"]["passed"] is False
    assert cleanup["plan"]["execution_name"] == EXECUTION
    assert steps.VALIDATION_RUN not in entered_states(outcome["history"])
    assert outcome["notifications"] == [worded]


def test_a_failed_validation_run_is_cleaned_up_and_notified_and_nothing_is_trained(synthesised):
    plan = validated(synthesised)
    name = plan["plan"]["validation_job_name"]
    reason = "AlgorithmError: InputError: record 3 of customer/part-0.jsonl has no assistant turn"
    worded = {"error": "ValidationRunFailed", "cause": reason, "stopped_jobs": [], "removed": []}
    outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", name), finished("validation", name, "Failed", reason), worded])
    assert failure(outcome) == {"error": "ValidationRunFailed", "cause": reason}
    cleanup = lambda_inputs(outcome["history"])[-1]
    assert cleanup["error"] == {"Error": "ValidationRunFailed", "Cause": reason} and cleanup["validation"]["status"] == "Failed"
    assert steps.MIXES not in entered_states(outcome["history"]) and outcome["notifications"] == [worded]


def test_a_model_that_forgot_too_much_is_not_deployed(synthesised):
    plan = validated(synthesised)
    [mix] = plan["plan"]["mixes"]
    outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", "v"), finished("validation", "v"), *trained_and_evaluated(mix),
                                         picked(False)])
    assert failure(outcome) == {"error": "ForgettingGateFailed", "cause": picked(False)["cause"]}
    assert steps.DEPLOY not in entered_states(outcome["history"])
    assert outcome["notifications"] == [{"error": "ForgettingGateFailed", "cause": picked(False)["cause"]}]


def test_an_endpoint_that_fails_is_rolled_back(synthesised):
    plan = validated(synthesised)
    [mix] = plan["plan"]["mixes"]
    failed = {"endpoint_name": "tickets", "status": "Failed", "in_service": False, "settled": True, "failure_reason": "health check failed"}
    rolled_back = {"endpoint_name": "tickets", "actions": ["deleted endpoint tickets"], "deleted": ["tickets-1a2b3c4d"], "problem": None, "done": True}
    outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", "v"), finished("validation", "v"), *trained_and_evaluated(mix),
                                         picked(True), DEPLOYED, failed, rolled_back])
    assert failure(outcome) == {"error": "EndpointFailed", "cause": "endpoint tickets is Failed: health check failed"}
    assert lambda_inputs(outcome["history"])[-1] == DEPLOYED, "the roll-back gets the deployment record"
    assert outcome["notifications"][0]["rollback"] == rolled_back


def test_a_grid_trains_every_mix_and_a_failed_mix_still_reaches_the_pick(synthesised):
    plan = validated(synthesised, grid={"customer_data_percent": [50, 75, 100]}, deploy={"enabled": False})
    first, second, third = plan["plan"]["mixes"]
    results = [plan, *sanitised(), started("validation", "v"), finished("validation", "v"),
               started("training", first["training_job_name"]), finished("training", first["training_job_name"], "Failed", "CUDA out of memory"),
               *trained_and_evaluated(second), *trained_and_evaluated(third), picked(True)]
    outcome = run_pipeline(synthesised, results, one_mix_at_a_time=True)
    assert outcome["described"]["status"] == "SUCCEEDED", failure(outcome)
    pick = next(c for c in lambda_inputs(outcome["history"]) if "results" in c)
    assert [r["mix"]["customer_data_percent"] for r in pick["results"]] == [50, 75, 100]
    assert pick["results"][0] == {"mix": first, "failed": {"step": "training", "job_name": first["training_job_name"], "cause": "CUDA out of memory"}}
    assert pick["results"][1]["evaluation"]["status"] == "Completed" and pick["results"][2]["training"]["job_name"] == third["training_job_name"]
    assert json.loads(outcome["described"]["output"])["endpoint"] == {"status": "not requested"}


def function_environment(synthesised, name: str) -> dict:
    """The environment variables of the pipeline's function ``name`` (ValidateInput, ...)."""
    function = synthesised.platform.pipeline.pipeline.functions[name]
    logical_id = synthesised.platform.pipeline.get_logical_id(function.node.default_child)
    return pipeline(synthesised).find_resources("AWS::Lambda::Function")[logical_id]["Properties"]["Environment"]["Variables"]


def test_validate_input_and_the_start_function_check_runs_against_the_same_environment(env):
    """ValidateInput refuses hyperpod where there is no cluster; StartTrainingJob checks the run and plan again."""
    checks = ("DATASETS_BUCKET", "ARTIFACTS_BUCKET", "TRAINING_INSTANCE_TYPES", "MAX_INSTANCE_COUNT", "HYPERPOD_CLUSTER_NAME")
    validate, start = function_environment(env, "ValidateInput"), function_environment(env, "StartTrainingJob")
    assert {name: validate.get(name) for name in checks} == {name: start.get(name) for name in checks}
    assert ("HYPERPOD_CLUSTER_NAME" in validate) == (env.platform.compute.cluster is not None)
