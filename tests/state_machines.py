"""Running a synthesised state machine under moto's Step Functions interpreter: the
template's intrinsic functions resolved to moto's names, Lambda tasks answered from a
queue of canned results (moto does not run handlers; each handler has its own tests)."""
from __future__ import annotations

import json
import time

import boto3

REGION, ACCOUNT = "us-east-1", "123456789012"
MOTO_CONFIG = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}


def resolve(value, names: dict):
    """Fn::Join / Ref / GetAtt / ImportValue of the synthesised definition, with moto's names."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return [resolve(v, names) for v in value]
    (function, argument), = value.items()
    if function == "Fn::Join":
        return argument[0].join(resolve(part, names) for part in argument[1])
    if function == "Ref":
        return names[argument]
    if function == "Fn::GetAtt":
        return names[argument[0]]
    if function == "Fn::ImportValue":
        return names[next(key for key in names if key in argument)]
    raise ValueError(f"cannot resolve {value}")


def pseudo_names() -> dict:
    return {"AWS::Partition": "aws", "AWS::Region": REGION, "AWS::AccountId": ACCOUNT, "AWS::URLSuffix": "amazonaws.com"}


def create_functions(role_arn: str, logical_ids, names: dict) -> None:
    aws_lambda = boto3.client("lambda", region_name=REGION)
    for logical_id in logical_ids:
        names[logical_id] = aws_lambda.create_function(FunctionName=logical_id, Runtime="python3.12", Role=role_arn, Handler="handler.handler",
                                                       Code={"ZipFile": b"not run"})["FunctionArn"]


def raised(error_type: str, message: str) -> dict:
    """A canned result that makes the invocation fail as a handler's exception does (Lambda's
    X-Amz-Function-Error), so the state's Catch runs."""
    return {"errorType": error_type, "errorMessage": message, RAISED: True}


RAISED = "__raised__"


def _invoke_raising(original):
    def invoke(self, function_name, qualifier, body, headers, response_headers):
        payload = original(self, function_name, qualifier, body, headers, response_headers)
        try:
            result = json.loads(payload)
        except ValueError:
            return payload
        if isinstance(result, dict) and result.pop(RAISED, False):
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(result).encode()
        return payload
    return invoke


def queue_results(*results) -> None:
    """What the next Lambda invocations return, in order (``raised(...)``: that one fails)."""
    from moto.awslambda_simple.models import LambdaSimpleBackend
    from moto.moto_api._internal.models import moto_api_backend

    if not getattr(LambdaSimpleBackend.invoke, "raises", False):
        LambdaSimpleBackend.invoke = _invoke_raising(LambdaSimpleBackend.invoke)
        LambdaSimpleBackend.invoke.raises = True
    for result in results:
        moto_api_backend.set_lambda_simple_result(result=json.dumps(result), account_id=ACCOUNT, region=REGION)


def run_to_the_end(sfn, machine_arn: str, execution_input: dict, *, name: str = "exec-1", timeout_s: float = 30) -> dict:
    execution = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input))["executionArn"]
    deadline = time.monotonic() + timeout_s
    while (described := sfn.describe_execution(executionArn=execution))["status"] == "RUNNING":
        if time.monotonic() > deadline:
            raise TimeoutError(f"execution still running after {timeout_s}s")
        time.sleep(0.05)
    history = sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]
    return {"described": described, "history": history}


def run_until(sfn, machine_arn: str, execution_input: dict, state: str, *, name: str = "exec-1", timeout_s: float = 30) -> str:
    """Start an execution and return its ARN once it has entered ``state`` (still running)."""
    execution = sfn.start_execution(stateMachineArn=machine_arn, name=name, input=json.dumps(execution_input))["executionArn"]
    deadline = time.monotonic() + timeout_s
    while state not in entered_states(sfn.get_execution_history(executionArn=execution, maxResults=1000)["events"]):
        if time.monotonic() > deadline or sfn.describe_execution(executionArn=execution)["status"] != "RUNNING":
            raise TimeoutError(f"execution did not reach {state!r}")
        time.sleep(0.05)
    return execution


def entered_states(history: list[dict]) -> list[str]:
    return [event["stateEnteredEventDetails"]["name"] for event in history if event["type"].endswith("StateEntered")]


def lambda_inputs(history: list[dict]) -> list[dict]:
    return [json.loads(event["lambdaFunctionScheduledEventDetails"]["input"]) for event in history if event["type"] == "LambdaFunctionScheduled"]
