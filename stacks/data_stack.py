"""Keys and buckets: where customer data, models and logs live, each under its own CMK."""

from __future__ import annotations

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from constructs import Construct
from constructs.private_bucket import PrivateBucket

from openforge_contract import naming
from platform_config.environments import EnvironmentConfig
from security.acknowledgements import acknowledge


class DataStack(Stack):
    """Three keys split by blast radius: a leaked artifacts grant cannot read raw data, and
    log readers cannot read either. Buckets: datasets (raw + sanitised customer data),
    artifacts (models, checkpoints, reports, MLflow, HyperPod lifecycle scripts), access logs."""

    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, **kwargs) -> None:
        super().__init__(scope, id_, **kwargs)
        removal = RemovalPolicy.RETAIN if config.retention.keep_data_on_stack_delete else RemovalPolicy.DESTROY
        self.data_key = self._build_key("data", "Customer training and evaluation data, training volumes", removal)
        self.artifacts_key = self._build_key("artifacts", "Models, checkpoints, reports and MLflow artifacts", removal)
        self.logs_key = self._build_key("logs", "CloudWatch log groups and VPC flow logs", removal)
        self._allow_cloudwatch_logs(self.logs_key)

        self.access_logs_bucket = self._build_access_logs_bucket(config, removal)
        self.datasets = PrivateBucket(
            self,
            "Datasets",
            bucket_name=self._bucket_name(config, "datasets"),
            encryption_key=self.data_key,
            access_logs_bucket=self.access_logs_bucket,
            noncurrent_version_days=config.retention.noncurrent_version_days,
            removal_policy=removal,
        )
        self.artifacts = PrivateBucket(
            self,
            "Artifacts",
            bucket_name=self._bucket_name(config, "artifacts"),
            encryption_key=self.artifacts_key,
            access_logs_bucket=self.access_logs_bucket,
            noncurrent_version_days=config.retention.noncurrent_version_days,
            removal_policy=removal,
        )
        for private in (self.datasets, self.artifacts):
            acknowledge(
                private.bucket,
                "Cross-region replication would copy regulated data out of the region the customer chose; "
                "versioning, noncurrent-version retention and the RETAIN policy are the recovery path.",
                "HIPAA.Security-S3BucketReplicationEnabled",
                "NIST.800.53.R5-S3BucketReplicationEnabled",
            )

    def _bucket_name(self, config: EnvironmentConfig, purpose: str) -> str:
        return naming.bucket_name(config.name, purpose, config.account, config.region)

    def _build_key(self, purpose: str, description: str, removal: RemovalPolicy) -> kms.Key:
        return kms.Key(
            self,
            f"{purpose.capitalize()}Key",
            alias=f"alias/openforge/{self.stack_name.lower()}/{purpose}",
            description=f"OpenForge {purpose}: {description}",
            enable_key_rotation=True,
            rotation_period=Duration.days(365),
            pending_window=Duration.days(30),
            removal_policy=removal,
        )

    def _allow_cloudwatch_logs(self, key: kms.Key) -> None:
        # CloudWatch Logs encrypts on the log group's behalf; the encryption context pins
        # the grant to this account's log groups.
        key.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchLogsInThisAccount",
                principals=[iam.ServicePrincipal(f"logs.{self.region}.amazonaws.com")],
                actions=["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
                resources=["*"],
                conditions={"ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:{self.partition}:logs:{self.region}:{self.account}:log-group:*"}},
            )
        )

    def _build_access_logs_bucket(self, config: EnvironmentConfig, removal: RemovalPolicy) -> s3.Bucket:
        bucket = s3.Bucket(
            self,
            "AccessLogs",
            bucket_name=self._bucket_name(config, "access-logs"),
            # S3 server access logging can only deliver to SSE-S3 buckets (not SSE-KMS).
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            minimum_tls_version=1.2,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            versioned=True,
            lifecycle_rules=[
                s3.LifecycleRule(
                    id="expire-old-versions",
                    noncurrent_version_expiration=Duration.days(config.retention.noncurrent_version_days),
                    abort_incomplete_multipart_upload_after=Duration.days(7),
                )
            ],
            removal_policy=removal,
        )
        acknowledge(
            bucket,
            "This is the server-access-log target, and S3 delivers server access logs only to SSE-S3 buckets, not SSE-KMS.",
            "NIST.800.53.R5-S3DefaultEncryptionKMS",
            "HIPAA.Security-S3DefaultEncryptionKMS",
        )
        acknowledge(
            bucket,
            "Access logs are an audit record kept in-region with versioning; replicating them elsewhere would move audit data out of the chosen region.",
            "HIPAA.Security-S3BucketReplicationEnabled",
            "NIST.800.53.R5-S3BucketReplicationEnabled",
        )
        return bucket
