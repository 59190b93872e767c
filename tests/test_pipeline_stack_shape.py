"""The fine-tuning pipeline's shape as synthesised: every Lambda in the isolated subnets with
encrypted settings, every step that can fail caught and every state named from the contract's states
module, a timeout after the longest run the environment allows, and an EventBridge rule that
cleans up an execution that ends unfinished."""
from __future__ import annotations

import json

from constructs.fine_tuning_pipeline import run_limits
from openforge_contract import states
from tests.pipeline_template import actions, all_states, definition, environment_config, pipeline, statements


def test_every_pipeline_lambda_runs_in_the_isolated_subnets_with_encrypted_settings(env):
    functions = pipeline(env).find_resources("AWS::Lambda::Function")
    assert len(functions) == 9
    for function in functions.values():
        props = function["Properties"]
        assert props["VpcConfig"]["SubnetIds"] and props["VpcConfig"]["SecurityGroupIds"]
        assert props["KmsKeyArn"] and props["ReservedConcurrentExecutions"] >= 1 and len(props["Layers"]) == 1


def test_the_notifications_topic_is_encrypted_with_our_key(env):
    [topic] = pipeline(env).find_resources("AWS::SNS::Topic").values()
    assert "Fn::GetAtt" in topic["Properties"]["KmsMasterKeyId"]


def test_every_step_that_can_fail_is_caught_and_every_state_is_named_from_the_contract(env):
    named = all_states(definition(pipeline(env))["States"])
    names = {value for key, value in vars(states).items() if key.isupper() and isinstance(value, str)}
    names |= set(states.MIX_FAILED.values())
    assert set(named) == names
    top_level = definition(pipeline(env))["States"]
    for name, state in named.items():
        # A failed shard fails the sanitisation map, which is caught.
        if state["Type"] not in ("Task", "Map") or name in (states.NOTIFY_FAILURE, states.NOTIFY_SUCCESS, states.SANITISE_SHARD):
            continue
        [catch] = state["Catch"]
        inside_map = name not in top_level
        expected = {states.CLEAN_UP: states.CLEAN_UP_FAILED, states.STOP_MIX: states.MIX_ERROR}.get(
            name, states.STOP_MIX if inside_map else states.CLEAN_UP)
        assert catch["ErrorEquals"] == ["States.ALL"] and catch["Next"] == expected, name
    assert top_level[states.CLEAN_UP_FAILED]["Next"] == states.NOTIFY_FAILURE


def test_the_state_machine_times_out_after_the_longest_run_the_environment_allows(env):
    config = environment_config(env)
    timeout = definition(pipeline(env))["TimeoutSeconds"]
    hours, parallel = config.limits.max_training_hours, config.pipeline.max_parallel_runs
    assert timeout == run_limits.execution_timeout_seconds(max_training_hours=hours, max_parallel_runs=parallel)
    # Every job of the biggest grid, in batches, can run to its MaxRuntimeInSeconds before the timeout.
    jobs_in_sequence = 1 + 2 * -(-run_limits.max_grid_points() // parallel)
    assert jobs_in_sequence * hours * 3600 < timeout <= run_limits.MAX_EXECUTION_SECONDS


def test_an_execution_that_ends_unfinished_is_cleaned_up_by_an_eventbridge_rule(env):
    template = pipeline(env)
    [(machine_id, _)] = template.find_resources("AWS::StepFunctions::StateMachine").items()
    [rule] = template.find_resources("AWS::Events::Rule").values()
    assert rule["Properties"]["EventPattern"] == {
        "source": ["aws.states"], "detail-type": ["Step Functions Execution Status Change"],
        "detail": {"status": ["ABORTED", "TIMED_OUT", "FAILED"], "stateMachineArn": [{"Ref": machine_id}]}}
    [target] = rule["Properties"]["Targets"]
    functions = template.find_resources("AWS::Lambda::Function")
    [(function_id, function)] = [(key, f) for key, f in functions.items() if key == target["Arn"]["Fn::GetAtt"][0]]
    log_group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
    assert template.find_resources("AWS::Logs::LogGroup")[log_group]["Properties"]["LogGroupName"].endswith("/clean_up_ended_run")
    assert function["Properties"]["VpcConfig"]["SubnetIds"] and function["Properties"]["KmsKeyArn"]
    history = [s for s in statements(template) if "states:GetExecutionHistory" in actions(s)]
    assert [sorted(actions(s)) for s in history] == [["states:DescribeExecution", "states:GetExecutionHistory"]]
    assert ":execution:OpenForge-" in json.dumps(history[0]["Resource"]) and "-FineTune:*" in json.dumps(history[0]["Resource"])
