"""The sanitisation workflow as synthesised: its shape (assertions on the template) and its
behaviour (the synthesised definition executed by moto's Step Functions interpreter)."""
from __future__ import annotations

import json
import time

import boto3
import pytest
from aws_cdk.assertions import Match
from moto import mock_aws

from sanitiser.plan import DEFAULT_SHARD_BYTES
from tests.state_machines import resolve

SHARD_RESULT = {"lines_in": 2, "clean": 2, "quarantined": 0, "duplicates": 0}


def sanitisation(env):
    return env.templates["Sanitisation"]


def test_lambdas_run_in_the_isolated_subnets_with_the_shared_layer(env):
    template = sanitisation(env)
    functions = template.find_resources("AWS::Lambda::Function")
    ours = {k: v for k, v in functions.items() if v["Properties"].get("Handler") == "handler.handler"}
    assert len(ours) == 3  # plan, shard, summary
    for function in ours.values():
        props = function["Properties"]
        assert props["VpcConfig"]["SubnetIds"] and props["Runtime"] == "python3.12"
        assert props["KmsKeyArn"] and props["Environment"]["Variables"]["OUTPUT_KMS_KEY_ID"]
        assert len(props["Layers"]) == 1 and props["ReservedConcurrentExecutions"] >= 1
    template.resource_count_is("AWS::Lambda::LayerVersion", 1)


def test_the_state_machine_may_write_map_results_under_their_prefix_only(env):
    statements = [s for policy in sanitisation(env).find_resources("AWS::IAM::Policy").values() for s in policy["Properties"]["PolicyDocument"]["Statement"]]
    writes = [s for s in statements if "s3:PutObject" in s["Action"]]
    assert writes and all("/sanitised/map-results/*" in json.dumps(s["Resource"]) for s in writes)


def test_the_distributed_map_reads_the_dataset_prefix_with_the_configured_concurrency(env):
    definition = json.dumps(sanitisation(env).find_resources("AWS::StepFunctions::StateMachine"))
    assert '\\"ProcessorConfig\\":{\\"Mode\\":\\"DISTRIBUTED\\"' in definition
    assert '\\"Resource\\":\\"arn:' in definition and ":states:::s3:getObject" in definition  # the plan manifest
    # Results go to S3 (moto's interpreter ignores ResultWriter, so this is checked here, not in the run below).
    assert '\\"ResultWriter\\":{\\"Resource\\":\\"arn:' in definition and ':states:::s3:putObject' in definition
    assert '\\"Prefix\\":\\"sanitised/map-results\\"' in definition
    assert f'\\"MaxConcurrency\\":{env.platform.sanitisation.workflow.shard_function.node.default_child.reserved_concurrent_executions}' in definition
    sanitisation(env).has_resource_properties("AWS::StepFunctions::StateMachine", {
        "TracingConfiguration": {"Enabled": True},
        "LoggingConfiguration": Match.object_like({"Level": "ALL"}),
    })


@pytest.fixture(scope="module")
def synthesised_definition(dev):
    env = dev
    template = env.templates["Sanitisation"]
    machine = next(iter(template.find_resources("AWS::StepFunctions::StateMachine").values()))
    functions = {logical_id: props["Properties"] for logical_id, props in template.find_resources("AWS::Lambda::Function").items()
                 if props["Properties"].get("Handler") == "handler.handler"}
    return machine["Properties"]["DefinitionString"], functions, env.platform.data.datasets.name


def run_workflow(synthesised_definition, summary: dict, shard_count: int = 2) -> dict:
    definition_string, functions, bucket = synthesised_definition
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        from moto.moto_api._internal.models import moto_api_backend

        region, account = "us-east-1", "123456789012"
        iam = boto3.client("iam", region_name=region)
        role = iam.create_role(RoleName="sfn", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        s3 = boto3.client("s3", region_name=region)
        s3.create_bucket(Bucket=bucket)
        for index in range(shard_count):
            s3.put_object(Bucket=bucket, Key=f"raw/job-1/part-{index}.jsonl", Body=b'{"input": "a", "output": "b"}\n')
        s3.put_object(Bucket=bucket, Key="raw/other-job/part-0.jsonl", Body=b"{}\n")
        # What plan_shards writes (its own test checks it): here one object is split in two ranges.
        items = [{"key": f"raw/job-1/part-{index}.jsonl", "range": None, "object_bytes": 30} for index in range(shard_count - 1)]
        items += [{"key": f"raw/job-1/part-{shard_count - 1}.jsonl", "range": [0, 9], "object_bytes": 30},
                  {"key": f"raw/job-1/part-{shard_count - 1}.jsonl", "range": [10, 30], "object_bytes": 30}]
        s3.put_object(Bucket=bucket, Key="sanitised/job-1/plan/items.json", Body=json.dumps(items).encode())
        aws_lambda = boto3.client("lambda", region_name=region)
        names = {"Datasets": bucket, "AWS::Partition": "aws", "AWS::Region": region, "AWS::AccountId": account, "AWS::URLSuffix": "amazonaws.com"}
        for logical_id in functions:
            names[logical_id] = aws_lambda.create_function(FunctionName=logical_id, Runtime="python3.12", Role=role, Handler="handler.handler",
                                                           Code={"ZipFile": b"not run"})["FunctionArn"]
        plan = {"manifest_key": "sanitised/job-1/plan/items.json", "items": shard_count + 1, "objects": shard_count, "bytes": 93}
        moto_api_backend.set_lambda_simple_result(result=json.dumps(plan), account_id=account, region=region)
        for _ in range(shard_count + 1):
            moto_api_backend.set_lambda_simple_result(result=json.dumps(SHARD_RESULT), account_id=account, region=region)
        moto_api_backend.set_lambda_simple_result(result=json.dumps(summary), account_id=account, region=region)

        sfn = boto3.client("stepfunctions", region_name=region)
        machine = sfn.create_state_machine(name="sanitise", definition=resolve(definition_string, names), roleArn=role)["stateMachineArn"]
        execution = sfn.start_execution(stateMachineArn=machine, input=json.dumps({"input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/"}))["executionArn"]
        for _ in range(200):
            described = sfn.describe_execution(executionArn=execution)
            if described["status"] != "RUNNING":
                break
            time.sleep(0.1)
        history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
        map_runs = [sfn.describe_map_run(mapRunArn=run["mapRunArn"]) for run in sfn.list_map_runs(executionArn=execution)["mapRuns"]]
        return {"described": described, "history": history, "map_runs": map_runs}


def test_within_the_limit_the_execution_succeeds_with_the_summary(synthesised_definition):
    summary = {"passed": True, "cause": None, "lines_in": 4, "clean": 4, "quarantined": 0}
    result = run_workflow(synthesised_definition, summary, shard_count=3)
    assert result["described"]["status"] == "SUCCEEDED", result["described"]
    output = json.loads(result["described"]["output"])
    assert output["sanitisation"] == summary and output["max_quarantine_percent"] == 5.0  # the default was applied
    [map_run] = result["map_runs"]
    assert map_run["itemCounts"]["total"] == 4 and map_run["itemCounts"]["succeeded"] == 4  # the plan's items: 2 objects + 2 ranges of the third
    plan_call, summary_call = [json.loads(e["lambdaFunctionScheduledEventDetails"]["input"]) for e in result["history"] if e["type"] == "LambdaFunctionScheduled"]
    assert plan_call == {"bucket": synthesised_definition[2], "input_prefix": "raw/job-1/", "output_prefix": "sanitised/job-1/", "shard_bytes": DEFAULT_SHARD_BYTES,
                         "settings": {}}
    assert summary_call == {"output": {"bucket": synthesised_definition[2], "prefix": "sanitised/job-1/"}, "max_quarantine_percent": 5.0}


def test_over_the_limit_the_execution_fails_with_the_readable_cause(synthesised_definition):
    cause = "9 of 20 lines quarantined (45.00% > limit 5%); most common reasons: invalid_json 9."
    result = run_workflow(synthesised_definition, {"passed": False, "cause": cause})
    assert result["described"]["status"] == "FAILED"
    failed = [e for e in result["history"] if e["type"] == "ExecutionFailed"][0]["executionFailedEventDetails"]
    assert failed == {"error": "QuarantineLimitExceeded", "cause": cause}
