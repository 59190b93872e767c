"""The fine-tuning pipeline's Lambdas: one per step (lambda/<folder>/handler.py), each with
its own role, the settings it reads from its environment and the permissions its step needs
(grants.py)."""
from __future__ import annotations

import json

from aws_cdk import Fn
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from constructs.fine_tuning_pipeline.grants import PipelineGrants, TrainingPlatform
from constructs.job_role import JobRole
from constructs.permissions import BucketRef, read_objects, read_write_objects, use_key
from constructs.pipeline_function import FunctionPlacement, build_function

from platform_config.environments import EnvironmentConfig


class PipelineFunctions:
    """Built in ``scope`` (the pipeline construct); ``functions`` and ``roles`` by id (ValidateInput, ...)."""

    def __init__(self, scope: Construct, *, config: EnvironmentConfig, placement: FunctionPlacement, grants: PipelineGrants,
                 training: TrainingPlatform, datasets: BucketRef, artifacts: BucketRef, subnet_ids: list[str],
                 endpoint_security_group_id: str, serving_role: JobRole) -> None:
        self._scope, self._config, self._placement, self._grants = scope, config, placement, grants
        self._training, self._datasets, self._artifacts, self._subnet_ids = training, datasets, artifacts, subnet_ids
        self._endpoint_security_group_id, self._serving_role = endpoint_security_group_id, serving_role
        self.functions: dict[str, lambda_.Function] = {}
        self.roles: dict[str, JobRole] = {}
        self._build_steps()

    def add(self, id_: str, folder: str, environment: dict[str, str], *, memory_mb: int = 512, concurrency: int = 10) -> JobRole:
        function, role = build_function(self._scope, id_, folder, self._placement, memory_mb=memory_mb, concurrency=concurrency, environment=environment)
        self.functions[id_], self.roles[id_] = function, role
        return role

    def _build_steps(self) -> None:
        config, datasets, artifacts, grants = self._config, self._datasets, self._artifacts, self._grants
        self.add("ValidateInput", "validate_input", {
            **self._run_checks_environment(),
            "POLL_SECONDS": str(config.pipeline.poll_seconds),
            "MAX_QUARANTINE_PERCENT": str(config.sanitisation.max_quarantine_percent),
            # Where the platform keeps what a run uses unless its input says otherwise (docs/pipeline-input.md).
            "DEFAULT_BASE_MODEL_S3_URI": f"s3://{artifacts.name}/base-models/default/",
            "DEFAULT_CURATED_DATA_S3_URI": f"s3://{datasets.name}/curated/",
            "DEFAULT_EVALUATION_DATA_S3_URI": f"s3://{datasets.name}/evaluation/default/",
            "ENDPOINT_INSTANCE_TYPES": ",".join(config.serving.endpoint_instance_types),
        })
        training_environment = self.training_environment()
        # The start function checks a run and its plan again (a direct invoke skips ValidateInput).
        # It stops again a job it started for an execution that had ended meanwhile (openforge_lambda.execution_check).
        start = self.add("StartTrainingJob", "start_training_job", {**training_environment, **self._run_checks_environment()})
        grants.allow_training_jobs(start, start=True, stop=True)
        grants.allow_describe_execution(start)
        grants.allow_training_jobs(self.add("CheckTrainingJob", "check_training_job", training_environment), start=False)
        pick = self.add("PickModel", "pick_model", {"OUTPUT_KMS_KEY_ID": artifacts.key_arn})
        for prefix in ("training", "reports"):
            read_objects(pick, artifacts, prefix)
        read_write_objects(pick, artifacts, "reports")
        use_key(pick, artifacts.key_arn, encrypt=True)
        serving_environment = self.serving_environment()
        deploy = self.add("DeployEndpoint", "deploy_endpoint", serving_environment)
        grants.allow_endpoints(deploy, create=True)
        grants.allow_describe_execution(deploy)
        grants.allow_endpoints(self.add("CheckEndpoint", "check_endpoint", {}), create=False, change=False)
        grants.allow_endpoints(self.add("RollBackEndpoint", "roll_back_endpoint", {}), create=False)
        clean_up = self.add("CleanUpRun", "clean_up_run", {**training_environment, **serving_environment})
        grants.allow_training_jobs(clean_up, start=False, stop=True)
        grants.allow_endpoints(clean_up, create=False)

    def _run_checks_environment(self) -> dict[str, str]:
        """What a run is checked against (openforge_lambda.pipeline_input.EnvironmentPolicy,
        run_plan.PlatformLocations): the buckets, the limits, and whether there is a cluster."""
        limits = self._config.limits
        environment = {
            "DATASETS_BUCKET": self._datasets.name,
            "ARTIFACTS_BUCKET": self._artifacts.name,
            "TRAINING_INSTANCE_TYPES": ",".join(limits.training_instance_types),
            "MAX_INSTANCE_COUNT": str(limits.max_instance_count),
        }
        if self._training.cluster_name:  # unset: compute.target hyperpod is refused
            environment["HYPERPOD_CLUSTER_NAME"] = self._training.cluster_name
        return environment

    def training_environment(self) -> dict[str, str]:
        training, limits = self._training, self._config.limits
        environment = {
            "TRAINING_IMAGE_URI_GPU": training.gpu_image_uri,
            "TRAINING_IMAGE_URI_NEURON": training.neuron_image_uri,
            "TRAINING_ROLE_ARN": training.role.role_arn,
            "TRAINING_SUBNET_IDS": Fn.join(",", self._subnet_ids),
            "TRAINING_SECURITY_GROUP_IDS": training.security_group.security_group_id,
            "TRAINING_KMS_KEY_ARN": self._artifacts.key_arn,
            "MLFLOW_TRACKING_SERVER_ARN": training.tracking_server_arn,
            "MAX_RUNTIME_SECONDS": str(limits.max_training_hours * 3600),
        }
        if training.cluster_name:
            environment["HYPERPOD_CLUSTER_NAME"] = training.cluster_name
            environment["HYPERPOD_JOBS_BUCKET"] = self._artifacts.name
            environment["HYPERPOD_BUCKETS"] = f"{self._datasets.name},{self._artifacts.name}"
        return environment

    def serving_environment(self) -> dict[str, str]:
        return {
            "SERVING_IMAGE_URI": self._config.serving_image_uri,
            "SERVING_ROLE_ARN": self._serving_role.role_arn,
            "ENDPOINT_SUBNET_IDS": Fn.join(",", self._subnet_ids),
            "ENDPOINT_SECURITY_GROUP_IDS": self._endpoint_security_group_id,
            "ENDPOINT_KMS_KEY_ARN": self._artifacts.key_arn,
            "SERVING_CONTAINER_ENVIRONMENT": json.dumps(self._config.serving.container_environment, sort_keys=True),
            # The namespace endpoints are named and tagged in, the same values grants.allow_endpoints demands.
            "ENDPOINT_NAME_PREFIX": self._grants.endpoint_name_prefix,
            "ENDPOINT_OWNER_TAGS": json.dumps(self._grants.endpoint_owner_tags, sort_keys=True),
        }
