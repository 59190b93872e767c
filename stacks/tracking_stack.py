"""Experiment tracking and model registry."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct
from constructs.mlflow_tracking_server import MlflowTrackingServer
from constructs.permissions import BucketRef, read_write_objects, use_key
from constructs.private_bucket import PrivateBucket

from openforge_contract import naming
from openforge_contract.s3_layout import MLFLOW_PREFIX
from platform_config.environments import EnvironmentConfig


class TrackingStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, artifacts: PrivateBucket, **kwargs) -> None:
        super().__init__(scope, id_, **kwargs)
        self.mlflow = MlflowTrackingServer(
            self,
            "Mlflow",
            server_name=naming.tracking_server_name(config.name),
            # The bucket token (not the literal name) lets the security review trace the
            # store back to the bucket and check its encryption.
            artifact_store_uri=f"s3://{artifacts.bucket.bucket_name}/{MLFLOW_PREFIX}",
            size=config.tracking.server_size,
            mlflow_version=config.tracking.mlflow_version,
            weekly_maintenance_window_start=config.tracking.weekly_maintenance_window_start,
        )
        role = self.mlflow.role
        read_write_objects(role, BucketRef.of(artifacts), MLFLOW_PREFIX)
        use_key(role, artifacts.encryption_key.key_arn, encrypt=True)
        # automatic_model_registration creates model packages when a run registers a model.
        role.allow(
            [
                "sagemaker:CreateModelPackageGroup",
                "sagemaker:DescribeModelPackageGroup",
                "sagemaker:CreateModelPackage",
                "sagemaker:DescribeModelPackage",
                "sagemaker:UpdateModelPackage",
                "sagemaker:AddTags",
            ],
            [
                self.format_arn(service="sagemaker", resource="model-package-group", resource_name="*"),
                self.format_arn(service="sagemaker", resource="model-package", resource_name="*"),
            ],
            why_wildcard="MLflow names a model package group after each registered model at run time; scoped to this account and region.",
        )
