"""What OpenForge's resources are called, and the tags that mark what it made, said once.

Read by the CDK app (stacks/platform.py names the stacks, the stacks and constructs name the
state machines, the buckets, the HyperPod cluster and the tracking server, and write the
endpoint namespace and the tag keys into IAM conditions), the Lambdas (openforge_lambda:
jobs and endpoints are tagged and named in that namespace) and the command-line client
(pipeline/cli/ finds an environment's state machine, and an execution's environment).

One environment (cdk.json's ``environments.<name>``) is one set of names:

    OpenForge-<env>-<Part>          the stacks (Data, Network, Tracking, Compute, Sanitisation, Pipeline)
    OpenForge-<env>-FineTune        the fine-tuning state machine
    OpenForge-<env>-Sanitise        the standalone sanitisation state machine
    openforge-<env>                 the HyperPod cluster and the MLflow tracking server
    openforge-<env>-<purpose>-<account>-<region>    the buckets
    openforge-<env>-<job name>      the endpoints (and their configs and models)
"""
from __future__ import annotations

STACK_PREFIX = "OpenForge"
FINE_TUNING = "FineTune"
SANITISATION = "Sanitise"
RESOURCE_PREFIX = "openforge"

# Every tag OpenForge puts on what it creates at run time starts so (IAM allows only these keys).
# SageMaker's tag keys: 1-128 characters, no "aws:" prefix
# (https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Tag.html).
TAG_NAMESPACE = "openforge:"
TAG_EXECUTION, TAG_JOB, TAG_STEP = f"{TAG_NAMESPACE}execution", f"{TAG_NAMESPACE}job", f"{TAG_NAMESPACE}step"
# What marks an endpoint, endpoint config or model as one environment's: both tags, with these values.
TAG_MANAGED_BY, TAG_ENVIRONMENT = f"{TAG_NAMESPACE}managed-by", f"{TAG_NAMESPACE}environment"
MANAGED_BY = "openforge"


def stack_name(environment: str, part: str) -> str:
    return f"{STACK_PREFIX}-{environment}-{part}"


def fine_tuning_state_machine(environment: str) -> str:
    """The state machine a person starts a run on."""
    return stack_name(environment, FINE_TUNING)


def sanitisation_state_machine(environment: str) -> str:
    return stack_name(environment, SANITISATION)


def environment_of_execution(execution_arn: str) -> str:
    """The environment whose fine-tuning state machine ran an execution, from the
    execution's ARN (arn:<partition>:states:<region>:<account>:execution:<machine>:<name>)."""
    machine = execution_arn.split(":")[6]
    return machine.removeprefix(f"{STACK_PREFIX}-").removesuffix(f"-{FINE_TUNING}")


def cluster_name(environment: str) -> str:
    """The environment's HyperPod cluster."""
    return f"{RESOURCE_PREFIX}-{environment}"


def tracking_server_name(environment: str) -> str:
    """The environment's MLflow tracking server."""
    return f"{RESOURCE_PREFIX}-{environment}"


def bucket_name(environment: str, purpose: str, account: str, region: str) -> str:
    """Bucket names are global: the account and region make them the environment's own."""
    return f"{RESOURCE_PREFIX}-{environment}-{purpose}-{account}-{region}"


def endpoint_name_prefix(environment: str) -> str:
    """What every endpoint, endpoint config and model of the environment is named under. Lower
    case: SageMaker writes names in lower case in resource ARNs, which IAM compares
    case-sensitively."""
    return f"{RESOURCE_PREFIX}-{environment}-".lower()


def owner_tags(environment: str) -> dict[str, str]:
    """The tags that mark an endpoint, endpoint config or model as this environment's OpenForge's."""
    return {TAG_MANAGED_BY: MANAGED_BY, TAG_ENVIRONMENT: environment}
