"""The fine-tuning pipeline's definition, from the input check to the summary, and the
failure path every step that can fail is caught into (clean up, notify, fail)."""
from __future__ import annotations

from aws_cdk import Duration, Stack
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sns as sns
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from constructs.fine_tuning_pipeline import run_limits
from constructs.fine_tuning_pipeline.job_loops import Guard, job_loop, mixes_map
from constructs.pipeline_function import FunctionPlacement, invoke
from constructs.sanitisation_workflow import SanitisationWorkflow

from openforge_contract import states
from openforge_contract.execution_data import (DEPLOYMENT, DEPLOYMENT_LOOP, ENDPOINT, ERROR, FAILURE, OUTPUT, PLAN, RESULTS, ROLLBACK, RUN,
                                               SANITISATION, SANITISATION_SUMMARY, SELECTION, SUMMARY, VALID, VALIDATION, VALIDATION_LOOP, path)
from platform_config.environments import EnvironmentConfig
from security.acknowledgements import acknowledge


def build_state_machine(scope: Construct, *, name: str, config: EnvironmentConfig, functions: dict[str, lambda_.Function], topic: sns.ITopic,
                        sanitisation: SanitisationWorkflow, placement: FunctionPlacement) -> sfn.StateMachine:
    f = functions
    clean_up = invoke(scope, f["CleanUpRun"], states.CLEAN_UP, result_path=path(FAILURE))  # the whole state: what ran, the error
    failed = sfn.Fail(scope, states.FAILED, error_path=path(FAILURE, "error"), cause_path=path(FAILURE, "cause"))
    notify_failure = _notify(scope, topic, states.NOTIFY_FAILURE, path(FAILURE), "OpenForge run failed")
    notify_failure.add_catch(failed, result_path="$.notify_error")
    clean_up.next(notify_failure).next(failed)
    # A clean-up that fails itself still notifies, and the run fails with its own error.
    clean_up_failed = sfn.Pass(scope, states.CLEAN_UP_FAILED, result_path=path(FAILURE), parameters={
        "error.$": path(ERROR, "Error"), "cause.$": path(ERROR, "Cause"), "cleanup_error.$": "$.cleanup_error"})
    clean_up.add_catch(clean_up_failed, errors=[sfn.Errors.ALL], result_path="$.cleanup_error")
    clean_up_failed.next(notify_failure)

    def guarded(task: sfn.TaskStateBase | sfn.Map) -> sfn.TaskStateBase | sfn.Map:
        task.add_catch(clean_up, errors=[sfn.Errors.ALL], result_path=path(ERROR))
        return task

    validate = guarded(invoke(scope, f["ValidateInput"], states.VALIDATE, payload=sfn.TaskInput.from_object(
        {"input.$": "$", "execution_name.$": "$$.Execution.Name"}), result_path="$"))
    # The sanitisation workflow's own states (its functions, its Distributed Map), run inline.
    sanitise = sanitisation.build_states(scope, job=path(PLAN, "sanitisation"), results=path(SANITISATION), summary=SANITISATION_SUMMARY,
                                         max_concurrency=config.sanitisation.max_concurrency)
    for task in sanitise.tasks:
        guarded(task)
    too_much_quarantined = sfn.Pass(scope, states.QUARANTINE_EXCEEDED, result_path=path(ERROR),
                                    parameters={"Error": "QuarantineLimitExceeded", "Cause.$": path(SANITISATION, SANITISATION_SUMMARY, "cause")})
    too_much_quarantined.next(clean_up)
    validation_run = job_loop(scope, f, VALIDATION_LOOP, states.WAIT_VALIDATION, "validation", path(PLAN, "mixes[0]"), guarded)
    validation_failed = sfn.Pass(scope, states.VALIDATION_FAILED, result_path=path(ERROR),
                                 parameters={"Error": "ValidationRunFailed", "Cause.$": path(VALIDATION, "failure_reason")})
    validation_failed.next(clean_up)
    mixes = guarded(mixes_map(scope, f, config.pipeline.max_parallel_runs))
    pick = guarded(invoke(scope, f["PickModel"], states.PICK, payload=sfn.TaskInput.from_object(
        {"run.$": path(RUN), "plan.$": path(PLAN), "results.$": path(RESULTS)}), result_path=path(SELECTION)))
    gate_failed = sfn.Pass(scope, states.GATE_FAILED, result_path=path(FAILURE),
                           parameters={"error.$": path(SELECTION, "error"), "cause.$": path(SELECTION, "cause")}).next(notify_failure)

    summarise = sfn.Pass(scope, states.SUMMARISE, result_path=path(SUMMARY),
                         parameters={f"{name}.$": path(*source) for name, source in OUTPUT.items()})
    succeeded = sfn.Succeed(scope, states.SUCCEEDED, output_path=path(SUMMARY))
    notify_success = _notify(scope, topic, states.NOTIFY_SUCCESS, path(SUMMARY), "OpenForge run finished")
    notify_success.add_catch(succeeded, result_path="$.notify_error")  # the run itself succeeded
    summarise.next(notify_success).next(succeeded)

    deploy_wanted = _deployment(scope, f, summarise, notify_failure, guarded)
    gate = (sfn.Choice(scope, states.GATE)
            .when(sfn.Condition.boolean_equals(path(SELECTION, "passed"), True), deploy_wanted)
            .otherwise(gate_failed))
    validation_run.until_done(scope, states.VALIDATION_DONE, path(VALIDATION), completed=mixes, failed=validation_failed)
    mixes.next(pick).next(gate)
    input_valid = (sfn.Choice(scope, states.INPUT_VALID)
                   .when(sfn.Condition.boolean_equals(path(VALID), True), sanitise.chain.next(
                       sfn.Choice(scope, states.QUARANTINE_CHECK)
                       .when(sfn.Condition.boolean_equals(path(SANITISATION, SANITISATION_SUMMARY, "passed"), True), validation_run.start)
                       .otherwise(too_much_quarantined)))
                   .otherwise(sfn.Fail(scope, states.INPUT_INVALID, error="InvalidInput", cause_path=path(ERROR, "cause"))))
    definition = validate.next(input_valid)

    log_group = logs.LogGroup(scope, "StateMachineLogs", encryption_key=placement.logs_key, retention=placement.log_retention)
    machine = sfn.StateMachine(
        scope,
        "StateMachine",
        state_machine_name=name,
        definition_body=sfn.DefinitionBody.from_chainable(definition),
        logs=sfn.LogOptions(destination=log_group, level=sfn.LogLevel.ALL, include_execution_data=False),
        tracing_enabled=True,
        timeout=Duration.seconds(execution_timeout_seconds(config)),
    )
    sanitisation.acknowledge_map_access(machine)
    acknowledge(machine, "Step Functions' own role: aws-cdk-lib writes its policies (invoke the pipeline's and the sanitisation's functions and their "
                         "versions; run and stop this state machine's Distributed Map child executions; publish to the notifications topic; X-Ray "
                         "and log delivery, which have no resource scoping) as inline policies scoped to those resources.",
                "HIPAA.Security-IAMNoInlinePolicy", "NIST.800.53.R5-IAMNoInlinePolicy", *_generated_wildcards(machine, functions, sanitisation))
    return machine


def execution_timeout_seconds(config: EnvironmentConfig) -> int:
    """TimeoutSeconds from the environment's limits (run_limits.py has the arithmetic);
    refuses limits whose polling could reach Step Functions' history limit first."""
    pipeline, limits = config.pipeline, config.limits
    events_at_most = run_limits.worst_case_history_events(max_training_hours=limits.max_training_hours,
                                                          max_parallel_runs=pipeline.max_parallel_runs, poll_seconds=pipeline.poll_seconds)
    if events_at_most > run_limits.HISTORY_EVENT_LIMIT:
        raise ValueError(f"environments.{config.name}.pipeline.poll_seconds: {pipeline.poll_seconds} s polling with "
                         f"{pipeline.max_parallel_runs} parallel mixes of up to {limits.max_training_hours} h can write {events_at_most} "
                         f"history events, over Step Functions' {run_limits.HISTORY_EVENT_LIMIT}; raise poll_seconds or lower max_parallel_runs")
    return run_limits.execution_timeout_seconds(max_training_hours=limits.max_training_hours, max_parallel_runs=pipeline.max_parallel_runs)


def _deployment(scope: Construct, functions: dict[str, lambda_.Function], summarise: sfn.IChainable, notify_failure: sfn.IChainable,
                guarded: Guard) -> sfn.Choice:
    """Deploy the chosen model when asked, poll the endpoint, roll back one that fails."""
    f = functions
    deploy = guarded(invoke(scope, f["DeployEndpoint"], DEPLOYMENT_LOOP.start, result_path=path(DEPLOYMENT_LOOP.started),
                            payload=sfn.TaskInput.from_object({
        "endpoint_name.$": path(PLAN, "endpoint_name"), "execution_name.$": path(PLAN, "execution_name"),
        "model_data_s3_uri.$": path(SELECTION, "chosen", "model_s3_uri"), "instance_type.$": path(RUN, "deploy", "instance_type"),
        "execution_arn.$": "$$.Execution.Id"})))
    wait_endpoint = sfn.Wait(scope, states.WAIT_ENDPOINT, time=sfn.WaitTime.seconds_path(path(PLAN, "poll_seconds")))
    check_endpoint = guarded(invoke(scope, f["CheckEndpoint"], DEPLOYMENT_LOOP.check, result_path=path(DEPLOYMENT_LOOP.status),
                                    payload=sfn.TaskInput.from_object(
        {"endpoint_name.$": path(DEPLOYMENT, "endpoint_name"), "endpoint_config_name.$": path(DEPLOYMENT, "endpoint_config_name"),
         # Past this, CheckEndpoint settles the endpoint as failed: the loop's checks stay within run_limits' bound.
         "allowance": {"started.$": path(DEPLOYMENT, "started_at"), "seconds": run_limits.DEPLOYMENT_SECONDS}})))
    roll_back = guarded(invoke(scope, f["RollBackEndpoint"], states.ROLL_BACK, input_path=path(DEPLOYMENT), result_path=path(ROLLBACK)))
    why = ", ".join(path(ENDPOINT, field) for field in ("endpoint_name", "status", "failure_reason"))
    endpoint_failed = sfn.Pass(scope, states.ENDPOINT_FAILED, result_path=path(FAILURE), parameters={
        "error": "EndpointFailed", "cause.$": f"States.Format('endpoint {{}} is {{}}: {{}}', {why})", "rollback.$": path(ROLLBACK)})
    roll_back.next(endpoint_failed).next(notify_failure)
    deploy.next(wait_endpoint).next(check_endpoint).next(
        sfn.Choice(scope, states.ENDPOINT_READY)
        .when(sfn.Condition.boolean_equals(path(ENDPOINT, "in_service"), True), summarise)
        .when(sfn.Condition.boolean_equals(path(ENDPOINT, "settled"), True), roll_back)
        .otherwise(wait_endpoint))

    no_deployment = sfn.Pass(scope, states.NO_DEPLOYMENT, result_path=path(ENDPOINT), result=sfn.Result.from_object({"status": "not requested"}))
    no_deployment.next(summarise)
    return (sfn.Choice(scope, states.DEPLOY_WANTED)
            .when(sfn.Condition.boolean_equals(path(RUN, "deploy", "enabled"), True), deploy)
            .otherwise(no_deployment))


def _notify(scope: Construct, topic: sns.ITopic, name: str, message_path: str, subject: str) -> tasks.SnsPublish:
    return tasks.SnsPublish(scope, name, topic=topic, subject=subject, result_path=sfn.JsonPath.DISCARD,
                            message=sfn.TaskInput.from_text(sfn.JsonPath.json_to_string(sfn.JsonPath.object_at(message_path))))


def _generated_wildcards(machine: sfn.StateMachine, functions: dict[str, lambda_.Function], sanitisation: SanitisationWorkflow) -> list[str]:
    """The IAM5 finding ids of aws-cdk-lib's generated statements, as cdk-nag prints them."""
    stack = Stack.of(machine)
    machine_id = stack.resolve(machine.node.default_child.logical_id)
    executions = f'arn:<AWS::Partition>:states:{stack.region}:{stack.account}:execution:{{"Fn::Select":[6,{{"Fn::Split":[":",{{"Ref":"{machine_id}"}}]}}]}}'
    resources = ["*", f"{executions}:*", f"{executions}/*:*"]
    resources += [f"<{stack.resolve(function.node.default_child.logical_id)}.Arn>:*" for function in functions.values()]
    resources += [f"arn:<AWS::Partition>:lambda:{stack.region}:{stack.account}:function:{name}:*" for name in sanitisation.function_names.values()]
    return [f"AwsSolutions-IAM5[Resource::{resource}]" for resource in resources]
