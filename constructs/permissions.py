"""Permission sets shared by the platform's job roles: exact actions, resources scoped to a
bucket prefix, a key, or a log group, each wildcard with the reason AWS needs it."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from constructs.job_role import JobRole


@dataclass(frozen=True)
class BucketRef:
    """A bucket by its fixed name, so policies and their acknowledgements read literally."""

    name: str
    key_arn: str

    @classmethod
    def of(cls, bucket) -> BucketRef:
        """A PrivateBucket (its fixed name and its key) as a reference."""
        return cls(bucket.name, bucket.encryption_key.key_arn)

    def objects(self, stack: Stack, prefix: str) -> str:
        return f"arn:{stack.partition}:s3:::{self.name}/{prefix.strip('/')}/*"

    def arn(self, stack: Stack) -> str:
        return f"arn:{stack.partition}:s3:::{self.name}"


OBJECTS_UNDER_PREFIX = "Objects under one job-specific prefix; object keys are created at run time, so the prefix is the narrowest scope."


def read_objects(role: JobRole, bucket: BucketRef, prefix: str) -> None:
    _objects(role, bucket, prefix, ["s3:GetObject"])


def read_clean_outputs(role: JobRole, bucket: BucketRef, prefix: str, *, clean: str, withheld: tuple[str, ...]) -> None:
    """Read only the ``clean`` folder of each run under ``prefix`` (<prefix>/<run path>/<clean>/...),
    none of the ``withheld`` folders beside it. IAM's ``*`` also matches "/"
    (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html),
    so <prefix>/*/<clean>/* alone would also match a withheld object whose own path holds a
    folder named <clean> (<run>/quarantine/clean/x.jsonl): an explicit Deny on every withheld
    folder closes that, since a Deny wins over any Allow."""
    stack = Stack.of(role)
    prefix = prefix.strip("/")
    role.allow(["s3:GetObject"], [bucket.objects(stack, f"{prefix}/*/{clean}")],
               why_wildcard=f"Each run's clean output, {prefix}/<job>/<execution>/{clean}/; run paths are created at run time.")
    role.allow(["s3:ListBucket"], [bucket.arn(stack)], conditions={"StringLike": {"s3:prefix": [f"{prefix}/*/{clean}", f"{prefix}/*/{clean}/*"]}})
    role.deny(["s3:GetObject"], [bucket.objects(stack, folder) for kind in withheld for folder in (f"{prefix}/{kind}", f"{prefix}/*/{kind}")])


def write_objects(role: JobRole, bucket: BucketRef, prefix: str) -> None:
    """PutObject only: no reading back, no deleting."""
    role.allow(["s3:PutObject"], [bucket.objects(Stack.of(role), prefix.strip("/"))], why_wildcard=OBJECTS_UNDER_PREFIX)


def read_write_objects(role: JobRole, bucket: BucketRef, prefix: str) -> None:
    _objects(role, bucket, prefix, ["s3:GetObject", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"])


def _objects(role: JobRole, bucket: BucketRef, prefix: str, actions: list[str]) -> None:
    stack = Stack.of(role)
    prefix = prefix.strip("/")
    role.allow(actions, [bucket.objects(stack, prefix)], why_wildcard=OBJECTS_UNDER_PREFIX)
    role.allow(["s3:ListBucket"], [bucket.arn(stack)], conditions={"StringLike": {"s3:prefix": [prefix, f"{prefix}/*"]}})


def use_key(role: JobRole, key_arn: str, *, encrypt: bool) -> None:
    role.allow(["kms:Decrypt", "kms:DescribeKey"] + (["kms:GenerateDataKey", "kms:Encrypt"] if encrypt else []), [key_arn])


def use_key_for_volumes(role: JobRole, key_arn: str) -> None:
    """EBS encryption by a service on the role's behalf: grants only for AWS resources."""
    role.allow(["kms:Encrypt", "kms:Decrypt", "kms:ReEncryptFrom", "kms:ReEncryptTo", "kms:GenerateDataKeyWithoutPlaintext", "kms:DescribeKey"], [key_arn])
    role.allow(["kms:CreateGrant"], [key_arn], conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}})


def manage_network_interfaces(role: JobRole) -> None:
    """What SageMaker needs to place a job's or node's ENIs in our subnets."""
    stack = Stack.of(role)
    role.allow(
        ["ec2:DescribeNetworkInterfaces", "ec2:DescribeVpcs", "ec2:DescribeDhcpOptions", "ec2:DescribeSubnets", "ec2:DescribeSecurityGroups"],
        ["*"],
        why_wildcard="EC2 Describe* calls support no resource-level permissions.",
    )
    role.allow(
        ["ec2:CreateNetworkInterface", "ec2:CreateNetworkInterfacePermission", "ec2:DeleteNetworkInterface", "ec2:DeleteNetworkInterfacePermission"],
        [f"arn:{stack.partition}:ec2:{stack.region}:{stack.account}:{kind}/*" for kind in ("network-interface", "subnet", "security-group")],
        why_wildcard="ENI ids are created by SageMaker at run time; scoped to this account and region's ENIs, subnets and security groups.",
    )


def write_logs(role: JobRole, log_group_prefix: str, *, writer: str = "SageMaker names log groups and streams per job or node") -> None:
    stack = Stack.of(role)
    group = f"arn:{stack.partition}:logs:{stack.region}:{stack.account}:log-group:{log_group_prefix}*"
    role.allow(
        ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
        [group, f"{group}:log-stream:*"],
        why_wildcard=f"{writer} under {log_group_prefix}; the prefix is the narrowest scope.",
    )


def put_metrics(role: JobRole, namespace: str) -> None:
    role.allow(
        ["cloudwatch:PutMetricData"],
        ["*"],
        conditions={"StringEquals": {"cloudwatch:namespace": namespace}},
        why_wildcard=f"PutMetricData has no resource type; the cloudwatch:namespace condition limits it to {namespace}.",
    )


def pull_images(role: JobRole) -> None:
    """The training image is a CDK asset in the bootstrap container-assets repository."""
    stack = Stack.of(role)
    role.allow(["ecr:GetAuthorizationToken"], ["*"], why_wildcard="ecr:GetAuthorizationToken is account-wide and supports no resource scoping.")
    role.allow(
        ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
        [f"arn:{stack.partition}:ecr:{stack.region}:{stack.account}:repository/cdk-*-container-assets-{stack.account}-{stack.region}"],
        why_wildcard="The CDK bootstrap qualifier in the container-assets repository name is chosen at bootstrap time.",
    )


MLFLOW_LOGGING_ACTIONS = [
    "sagemaker-mlflow:AccessUI",
    "sagemaker-mlflow:CreateExperiment",
    "sagemaker-mlflow:GetExperiment",
    "sagemaker-mlflow:GetExperimentByName",
    "sagemaker-mlflow:SearchExperiments",
    "sagemaker-mlflow:CreateRun",
    "sagemaker-mlflow:GetRun",
    "sagemaker-mlflow:UpdateRun",
    "sagemaker-mlflow:SearchRuns",
    "sagemaker-mlflow:LogMetric",
    "sagemaker-mlflow:LogParam",
    "sagemaker-mlflow:LogBatch",
    "sagemaker-mlflow:LogInputs",
    "sagemaker-mlflow:LogModel",
    "sagemaker-mlflow:SetTag",
    "sagemaker-mlflow:CreateRegisteredModel",
    "sagemaker-mlflow:CreateModelVersion",
    "sagemaker-mlflow:GetRegisteredModel",
]


def log_to_mlflow(role: JobRole, tracking_server_arn: str) -> None:
    role.allow(MLFLOW_LOGGING_ACTIONS, [tracking_server_arn])
