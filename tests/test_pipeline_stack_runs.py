"""The fine-tuning pipeline's behaviour: the synthesised definition, sanitisation states
included, executed by moto's Step Functions interpreter; Lambda results are canned, each
handler has its own tests."""
from __future__ import annotations

import json
import time
from dataclasses import dataclass

import boto3
import pytest
from moto import mock_aws

from constructs.fine_tuning_pipeline import run_limits
from openforge_contract import states
from tests.state_machines import ACCOUNT, MOTO_CONFIG, REGION, create_functions, entered_states, lambda_inputs, pseudo_names, queue_results, raised, resolve, run_to_the_end, run_until

from openforge_lambda.pipeline_input import EnvironmentPolicy, parse_run  # isort: skip
from openforge_lambda.run_plan import PlatformLocations, plan_run  # isort: skip

EXECUTION = "exec-1"


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
    run = parse_run({"job_name": "tickets", "customer_data_s3_uri": f"{datasets}/raw/tickets/", "deploy": {"enabled": True}, **change}, policy)
    plan = plan_run(run, EXECUTION, PlatformLocations(synthesised.datasets, synthesised.artifacts, 0))
    return {"valid": True, "error": None, "run": run.to_dict(), "plan": plan.to_dict()}


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
            "previous_endpoint_config_name": None, "created_endpoint": True, "action": "created", "started_at": "2026-01-01T00:00:00+00:00"}


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
                      Body=json.dumps([{"key": "raw/tickets/part-0.jsonl", "range": None, "object_bytes": 30}]).encode())
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
    body["States"][states.MIXES]["MaxConcurrency"] = concurrency
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
    assert [name for name in visited if name in states.WORK_STEPS] == list(states.WORK_STEPS), "the local runner reports this same order"
    summary = json.loads(outcome["described"]["output"])
    assert summary["job_name"] == "tickets" and summary["execution_name"] == EXECUTION
    assert summary["sanitisation"]["clean"] == 9 and summary["selection"]["passed"] and summary["endpoint"]["status"] == "InService"
    assert outcome["notifications"] == [summary], "the notification is the summary"
    calls = lambda_inputs(outcome["history"])
    assert calls[0] == {"input": {"job_name": "tickets"}, "execution_name": EXECUTION}
    [validation_start] = [c for c in calls if c.get("step") == "validation"]
    assert validation_start["mix"] == mix and validation_start["plan"] == plan["plan"]
    [deploy] = [c for c in calls if "model_data_s3_uri" in c]
    execution_arn = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:fine-tune:{EXECUTION}"
    assert deploy == {"endpoint_name": "tickets", "execution_name": EXECUTION, "model_data_s3_uri": picked(True)["chosen"]["model_s3_uri"],
                      "instance_type": plan["run"]["deploy"]["instance_type"], "execution_arn": execution_arn}
    assert [c["execution_arn"] for c in calls if "step" in c and "run" in c] == [execution_arn] * 3, "every start names its execution"
    [check_endpoint] = [c for c in calls if "allowance" in c]
    assert check_endpoint["allowance"] == {"started": DEPLOYED["started_at"], "seconds": run_limits.DEPLOYMENT_SECONDS}


def test_a_bad_input_stops_at_the_first_state_with_the_field_named(synthesised):
    cause = "mixing.customer_data_percent: 120 is greater than the maximum of 100"
    outcome = run_pipeline(synthesised, [{"valid": False, "error": {"field": "mixing.customer_data_percent", "cause": cause}}])
    assert failure(outcome) == {"error": "InvalidInput", "cause": cause}
    assert len(lambda_inputs(outcome["history"])) == 1, "nothing ran after the input check"
    assert entered_states(outcome["history"]) == [states.VALIDATE, states.INPUT_VALID, states.INPUT_INVALID]


def test_too_much_quarantined_data_stops_before_training_and_is_cleaned_up_and_notified(synthesised):
    worded = {"error": "QuarantineLimitExceeded", "cause": sanitised(False)[2]["cause"], "stopped_jobs": [], "removed": []}
    outcome = run_pipeline(synthesised, [validated(synthesised), *sanitised(passed=False), worded])
    assert failure(outcome) == {"error": "QuarantineLimitExceeded", "cause": worded["cause"]}
    cleanup = lambda_inputs(outcome["history"])[-1]
    assert cleanup["error"] == {"Error": "QuarantineLimitExceeded", "Cause": worded["cause"]}
    assert cleanup["sanitisation"]["summary"]["passed"] is False
    assert cleanup["plan"]["execution_name"] == EXECUTION
    assert states.VALIDATION_RUN not in entered_states(outcome["history"])
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
    assert states.MIXES not in entered_states(outcome["history"]) and outcome["notifications"] == [worded]


def test_a_model_that_forgot_too_much_is_not_deployed(synthesised):
    plan = validated(synthesised)
    [mix] = plan["plan"]["mixes"]
    outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", "v"), finished("validation", "v"), *trained_and_evaluated(mix),
                                         picked(False)])
    assert failure(outcome) == {"error": "ForgettingGateFailed", "cause": picked(False)["cause"]}
    assert states.DEPLOY not in entered_states(outcome["history"])
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


def in_progress(step: str, job_name: str, wait_seconds: int = 1) -> dict:
    return {"job_name": job_name, "step": step, "target": "training-job", "status": "InProgress", "done": False, "failure_reason": None,
            "output_s3_uri": None, "wait_seconds": wait_seconds}


def test_a_mix_whose_check_raises_has_its_jobs_stopped_and_its_error_recorded(synthesised):
    plan = validated(synthesised, deploy={"enabled": False})
    [mix] = plan["plan"]["mixes"]
    stopped = {"error": "ThrottlingException", "cause": "Rate exceeded", "stopped_jobs": [mix["training_job_name"]], "removed": [], "cleanup_problems": []}
    outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", "v"), finished("validation", "v"),
                                         started("training", mix["training_job_name"]), raised("ThrottlingException", "Rate exceeded"),
                                         stopped, picked(False)])
    visited = entered_states(outcome["history"])
    assert visited.index(states.STOP_MIX) < visited.index(states.MIX_ERROR) < visited.index(states.PICK)
    [stop] = [c for c in lambda_inputs(outcome["history"]) if "error" in c and "mix" in c]
    assert stop["mix"] == mix and stop["plan"] == plan["plan"] and stop["error"]["Error"] == "ThrottlingException"
    pick = next(c for c in lambda_inputs(outcome["history"]) if "results" in c)
    assert pick["results"][0]["mix"] == mix and pick["results"][0]["failed"]["error"] == "ThrottlingException"


def test_a_clean_up_that_fails_still_notifies_and_fails_the_run_with_the_original_error(synthesised):
    outcome = run_pipeline(synthesised, [validated(synthesised), *sanitised(passed=False), raised("Sandbox.Timedout", "Task timed out")])
    cause = sanitised(False)[2]["cause"]
    assert failure(outcome) == {"error": "QuarantineLimitExceeded", "cause": cause}
    [notification] = outcome["notifications"]
    assert (notification["error"], notification["cause"], notification["cleanup_error"]["Error"]) == ("QuarantineLimitExceeded", cause, "Sandbox.Timedout")
    assert entered_states(outcome["history"])[-3:] == [states.CLEAN_UP_FAILED, states.NOTIFY_FAILURE, states.FAILED]


def test_the_clean_up_of_an_aborted_execution_stops_its_job_and_notifies(synthesised, monkeypatch):
    """A console stop runs no state: the EventBridge event's handler reads the plan back from the
    history, stops the validation run's job and publishes; for a FAILED run that notified, it does not publish again."""
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemaker.responses import SageMakerResponse

    from openforge_contract.environment_variables import TrainingEnvironment
    from tests.lambdas.conftest import LambdaContext, load_handler
    from tests.lambdas.training_runs import _stop_training_job, request_for

    monkeypatch.setattr(SageMakerResponse, "stop_training_job", _stop_training_job, raising=False)  # moto lacks it
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("TOPIC_ARN", f"arn:aws:sns:{REGION}:{ACCOUNT}:notifications")
    monkeypatch.delenv("HYPERPOD_CLUSTER_NAME", raising=False)
    plan = validated(synthesised)
    name = plan["plan"]["validation_job_name"]
    with mock_aws(config=MOTO_CONFIG):
        execution = run_pipeline(synthesised, [plan, *sanitised(), started("validation", name), in_progress("validation", name, 3600)],
                                 until=states.WAIT_VALIDATION)["execution_arn"]
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        environment = TrainingEnvironment("gpu-image", "neuron-image", f"arn:aws:iam::{ACCOUNT}:role/train", ("subnet-a",), ("sg-a",),
                                          f"arn:aws:kms:{REGION}:{ACCOUNT}:key/k", "arn:mlflow", 3600)
        sagemaker.create_training_job(**request_for("validation", plan["run"], plan["plan"], plan["plan"]["mixes"][0], environment))
        sagemaker_backends[ACCOUNT][REGION].training_jobs[name].training_job_status = "InProgress"
        sfn = boto3.client("stepfunctions", region_name=REGION)
        sfn.stop_execution(executionArn=execution, error="Console", cause="stopped in the console")
        deadline = time.monotonic() + 10  # moto's worker takes the stop between states
        while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING" and time.monotonic() < deadline:
            time.sleep(0.05)
        event = {"version": "0", "source": "aws.states", "detail-type": "Step Functions Execution Status Change", "account": ACCOUNT, "region": REGION,
                 "resources": [execution], "detail": {"executionArn": execution, "stateMachineArn": described["stateMachineArn"],
                                                      "name": described["name"], "status": described["status"],
                                                      "error": "Console", "cause": "stopped in the console"}}
        result = load_handler("clean_up_ended_run")(event, LambdaContext())
        assert described["status"] == "ABORTED" and result["published"] and result["stopped_jobs"] == [name]
        assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"
        sqs = boto3.client("sqs", region_name=REGION)
        [message] = sqs.receive_message(QueueUrl=sqs.get_queue_url(QueueName="inbox")["QueueUrl"], MaxNumberOfMessages=10)["Messages"]
        assert json.loads(message["Body"])["stopped_jobs"] == [name] and json.loads(message["Body"])["error"] == "Console"

        again = load_handler("clean_up_ended_run")(event, LambdaContext())  # EventBridge delivers at least once
        assert again["stopped_jobs"] == [] and again["cleanup_problems"] == []


def test_polling_cannot_reach_the_history_limit_in_any_environment(synthesised):
    """Events per poll counted from the synthesised machine's own history; the bound for every
    environment of cdk.json stays under Step Functions' 25,000."""
    from openforge_lambda.polling import next_wait_seconds  # isort: skip
    from platform_config.environments import load_environment
    from tests.conftest import CONTEXT, ENVIRONMENTS

    plan = validated(synthesised, deploy={"enabled": False})
    [mix] = plan["plan"]["mixes"]
    training = mix["training_job_name"]
    outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", "v"), finished("validation", "v"), started("training", training),
                                         in_progress("training", training), in_progress("training", training), in_progress("training", training),
                                         finished("training", training), started("evaluation", "e"), finished("evaluation", "e"), picked(False)])
    history = outcome["history"]
    waits = [e["id"] for e in history if e["type"] == "WaitStateEntered" and e["stateEnteredEventDetails"]["name"] == states.WAIT_TRAINING]
    assert len(waits) == 3
    per_poll = {b - a for a, b in zip(waits, waits[1:])}
    [events_per_poll] = per_poll
    assert events_per_poll <= run_limits.EVENTS_PER_POLL
    assert len(history) - len(waits) * events_per_poll <= run_limits.EVENTS_PER_RUN + run_limits.EVENTS_PER_MIX
    # The lane bound is the Lambda's own wait rule, followed.
    age, polls = 0, 0
    while age < 30 * 24 * 3600:
        age += next_wait_seconds(age, 60, run_limits.POLL_AGE_DIVISOR)
        polls += 1
    assert polls == run_limits.polls_of_one_loop(30 * 24 * 3600, 60)
    for name in ENVIRONMENTS:
        config = load_environment(CONTEXT, name)
        bound = run_limits.worst_case_history_events(max_training_hours=config.limits.max_training_hours, poll_seconds=config.pipeline.poll_seconds,
                                                     max_parallel_runs=config.pipeline.max_parallel_runs, events_per_poll=events_per_poll)
        assert bound <= run_limits.HISTORY_EVENT_LIMIT, name
    # Fixed-interval polling (the old machine) would not fit: one 72 h job at 60 s is 4,320 polls.
    assert 72 * 3600 // 60 * events_per_poll > run_limits.HISTORY_EVENT_LIMIT
