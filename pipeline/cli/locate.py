"""What ``start`` works out before it sends anything: the pipeline input, checked here as far
as it can be without the environment; the environment's state machine; the execution's
name; and where the console shows the execution.

The check before starting is the schema (``openforge_lambda.pipeline_input``: a missing
required field, an unknown field, a wrong type or a value out of range) plus the rules across
fields that do not depend on the environment (curated weights sum to 100, batch sizes divide,
HyperPod worker types), so a typo fails here, naming the field, before anything is sent. What
depends on the environment (its default base model, curated and evaluation data, its
instance-type and instance-count limits) is not known here: ``ValidateInput`` checks that
in the cloud, and a refusal there fails the run at its first state with the field named.
The input is sent as written; the defaults are filled in the cloud.
"""
from __future__ import annotations

import json
from datetime import datetime, timezone
from pathlib import Path

from openforge_contract import naming
from pipeline.cli.terminal import UsageError

ROOT = Path(__file__).resolve().parents[2]
CDK_JSON = ROOT / "cdk.json"
EXECUTION_NAME_PATTERN = r"^[A-Za-z0-9_-]{1,80}$"


def check_input(path: str | Path) -> dict:
    """The pipeline input in ``path``, checked as far as it can be without the environment
    (see this module's docstring); UsageError names the file and the field."""
    from openforge_lambda.pipeline_input import EnvironmentPolicy, PipelineInputError, normalise

    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: cannot be read ({error})") from None
    try:
        pipeline_input = json.loads(text)
    except json.JSONDecodeError as error:
        raise UsageError(f"{path}: not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})") from None
    # Stand-ins for the environment's defaults, so only the environment-independent rules
    # apply; the stand-ins never leave this function (the input is sent as written).
    unknown_here = "s3://environment-default/"
    policy = EnvironmentPolicy(base_model_s3_uri=unknown_here, curated_data_s3_uri=unknown_here, evaluation_data_s3_uri=unknown_here)
    try:
        normalise(pipeline_input, policy)
    except PipelineInputError as error:
        raise UsageError(f"{path}: {error}") from None
    return pipeline_input


def partition_of(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def state_machine_arn(env: str, cdk_json: Path = CDK_JSON) -> str:
    """arn:<partition>:states:<region>:<account>:stateMachine:OpenForge-<env>-FineTune, with
    the account and region of cdk.json's environments.<env>."""
    try:
        environments = json.loads(cdk_json.read_text())["context"]["environments"]
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"{cdk_json}: cannot read context.environments ({error})") from None
    if env not in environments:
        raise UsageError(f"unknown environment {env!r}: {cdk_json.name} defines {', '.join(sorted(environments))}")
    account, region = environments[env].get("account"), environments[env].get("region")
    if not account or not region:
        raise UsageError(f"{cdk_json.name}: environments.{env} has no account or region")
    return f"arn:{partition_of(region)}:states:{region}:{account}:stateMachine:{naming.fine_tuning_state_machine(env)}"


def execution_name(job_name: str, now: datetime) -> str:
    """<job_name>-<UTC timestamp>, e.g. support-tickets-20261201T143633Z."""
    return f"{job_name}-{now.astimezone(timezone.utc):%Y%m%dT%H%M%SZ}"


def arn_parts(arn: str) -> tuple[str, str]:
    """(partition, region) of a Step Functions ARN; UsageError if it is not one."""
    parts = arn.split(":")
    if len(parts) < 7 or parts[0] != "arn" or parts[2] != "states" or not parts[3]:
        raise UsageError(f"{arn!r} is not a Step Functions ARN (arn:aws:states:<region>:<account>:execution:<machine>:<name>)")
    return parts[1], parts[3]


def console_url(execution_arn: str) -> str:
    partition, region = arn_parts(execution_arn)
    host = {"aws-cn": f"{region}.console.amazonaws.cn", "aws-us-gov": "console.amazonaws-us-gov.com"}.get(
        partition, f"{region}.console.aws.amazon.com")
    return f"https://{host}/states/home?region={region}#/v2/executions/details/{execution_arn}"
