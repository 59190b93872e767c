"""A handler folder as a Step Functions step: the Lambda (isolated subnets, shared layer,
its own JobRole, a KMS-encrypted log group and environment, reserved concurrency) and the
task that invokes it with retries on Lambda's own transient errors."""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Duration
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_stepfunctions as sfn
from aws_cdk import aws_stepfunctions_tasks as tasks
from constructs import Construct
from constructs.job_role import JobRole
from constructs.lambda_packaging import RUNTIME, handler_code
from constructs.permissions import manage_network_interfaces, write_logs
from constructs.private_network import PrivateNetwork

from security.acknowledgements import acknowledge

LAMBDA_TIMEOUT = Duration.minutes(15)
LAMBDA_SERVICE_ERRORS = ["Lambda.TooManyRequestsException", "Lambda.ServiceException", "Lambda.SdkClientException", "Lambda.AWSLambdaException"]
# boto3 inside the handlers backs off on throttling and transient AWS errors by itself.
BOTO_RETRIES = {"AWS_RETRY_MODE": "adaptive", "AWS_MAX_ATTEMPTS": "8"}


@dataclass(frozen=True)
class FunctionPlacement:
    """Where every function of one workflow runs and what encrypts its logs and settings."""

    layer: lambda_.ILayerVersion
    network: PrivateNetwork
    security_group: ec2.ISecurityGroup
    logs_key: kms.IKey
    environment_key: kms.IKey
    log_retention: logs.RetentionDays
    log_group_prefix: str


def build_function(scope: Construct, id_: str, folder: str, placement: FunctionPlacement, *, memory_mb: int, concurrency: int,
                   environment: dict[str, str] | None = None, function_name: str | None = None) -> tuple[lambda_.Function, JobRole]:
    """lambda/<folder>/handler.py as a function; the role starts with logs and ENIs only.
    ``function_name``: a fixed name, for functions another stack's state machine invokes."""
    role = JobRole(scope, f"{id_}Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"), description=f"OpenForge {folder} Lambda")
    manage_network_interfaces(role)
    # A fixed name, so the role's log permission is a plain string too.
    log_group_name = f"{placement.log_group_prefix}/{folder}"
    log_group = logs.LogGroup(scope, f"{id_}Logs", log_group_name=log_group_name, encryption_key=placement.logs_key, retention=placement.log_retention)
    write_logs(role, log_group_name, writer="The Lambda runtime names a log stream per execution environment")
    function = lambda_.Function(
        scope,
        id_,
        function_name=function_name,
        runtime=RUNTIME,
        handler="handler.handler",
        code=handler_code(folder),
        layers=[placement.layer],
        role=role.role,
        memory_size=memory_mb,
        timeout=LAMBDA_TIMEOUT,
        vpc=placement.network.vpc,
        vpc_subnets=placement.network.isolated_subnets,
        security_groups=[placement.security_group],
        environment={"POWERTOOLS_SERVICE_NAME": folder, **BOTO_RETRIES, **(environment or {})},
        environment_encryption=placement.environment_key,
        reserved_concurrent_executions=concurrency,
        log_group=log_group,
    )
    acknowledge(function, "Invoked synchronously by Step Functions: a failure fails the task, which retries or stops the execution with the error; nothing is queued for a dead-letter queue.",
                "HIPAA.Security-LambdaDLQ", "NIST.800.53.R5-LambdaDLQ")
    acknowledge(function, "Pinned to Python 3.12 because the layer's native wheels (orjson, xxhash, rensa, hyperscan) are installed for it; runtime and wheels move together.",
                "AwsSolutions-L1")
    return function, role


def invoke(scope: Construct, function: lambda_.IFunction, name: str, *, payload: sfn.TaskInput | None = None, input_path: str | None = None,
           result_path: str | None = None) -> tasks.LambdaInvoke:
    """The function as a task whose result is the handler's return value; its event is
    ``payload``, or the state's input at ``input_path`` (default: all of it)."""
    task = tasks.LambdaInvoke(scope, name, lambda_function=function, payload=payload, input_path=input_path, payload_response_only=True,
                              result_path=result_path, retry_on_service_exceptions=False)
    task.add_retry(errors=LAMBDA_SERVICE_ERRORS, interval=Duration.seconds(2), backoff_rate=2, max_attempts=6)
    return task
