"""SageMaker managed MLflow: experiments and the model registry, artifacts in our bucket."""

from __future__ import annotations

from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from constructs.job_role import JobRole


class MlflowTrackingServer(Construct):
    """The server's role starts empty; the stack grants it the artifact prefix and key."""

    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        server_name: str,
        artifact_store_uri: str,
        size: str,
        mlflow_version: str | None,
        weekly_maintenance_window_start: str,
    ) -> None:
        super().__init__(scope, id_)
        self.role = JobRole(
            self,
            "ServerRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"MLflow tracking server {server_name}: artifact store and model registry",
        )
        self.server = sagemaker.CfnMlflowTrackingServer(
            self,
            "Server",
            tracking_server_name=server_name,
            artifact_store_uri=artifact_store_uri,
            role_arn=self.role.role_arn,
            automatic_model_registration=True,
            tracking_server_size=size,
            mlflow_version=mlflow_version,
            weekly_maintenance_window_start=weekly_maintenance_window_start,
        )
        # The policy must be attached before the server first assumes the role.
        self.server.node.add_dependency(self.role)
        self.tracking_server_arn = self.server.attr_tracking_server_arn
