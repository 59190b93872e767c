"""Lambda handlers against moto (in-process), loaded from their folders the way the
runtime loads them (the shared layer's packages are installed in the project's environment)."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

LAMBDA_DIR = Path(__file__).resolve().parents[2] / "lambda"


def load_handler(name: str):
    spec = importlib.util.spec_from_file_location(f"openforge_handler_{name}", LAMBDA_DIR / name / "handler.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.handler


@dataclass
class LambdaContext:
    function_name: str = "test-function"
    memory_limit_in_mb: int = 1024
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-function"
    aws_request_id: str = "request-1"


@pytest.fixture
def aws(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        yield


@dataclass
class Buckets:
    s3: object
    kms_key_id: str
    datasets: str = "openforge-test-datasets"

    def put(self, key: str, body: bytes) -> None:
        self.s3.put_object(Bucket=self.datasets, Key=key, Body=body)

    def get(self, key: str) -> bytes:
        return self.s3.get_object(Bucket=self.datasets, Key=key)["Body"].read()


@pytest.fixture
def buckets(aws, monkeypatch) -> Buckets:
    kms_key_id = boto3.client("kms").create_key(Description="datasets")["KeyMetadata"]["KeyId"]
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket=Buckets.datasets)
    s3.put_bucket_encryption(Bucket=Buckets.datasets, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": kms_key_id}, "BucketKeyEnabled": True}]})
    s3.put_bucket_versioning(Bucket=Buckets.datasets, VersioningConfiguration={"Status": "Enabled"})
    monkeypatch.setenv("OUTPUT_KMS_KEY_ID", kms_key_id)
    return Buckets(s3, kms_key_id)


def pipeline_execution(*, stopped: bool) -> str:
    """An execution of a small state machine (one long Wait) under moto, as the start functions'
    caller: still RUNNING, or stopped as the console stops it (ABORTED)."""
    import json

    sfn = boto3.client("stepfunctions")
    role = boto3.client("iam").create_role(RoleName="pipeline-execution", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    machine = sfn.create_state_machine(name="OpenForge-test-FineTune", roleArn=role, definition=json.dumps(
        {"StartAt": "Wait", "States": {"Wait": {"Type": "Wait", "Seconds": 3600, "End": True}}}))["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=machine, name="exec-1")["executionArn"]
    if stopped:
        sfn.stop_execution(executionArn=execution, error="Console", cause="stopped in the console")
    assert sfn.describe_execution(executionArn=execution)["status"] == ("ABORTED" if stopped else "RUNNING")
    return execution
