"""The fine-tuning pipeline's Lambdas: one per step (lambda/<folder>/handler.py), each with
its own role, the settings it reads from its environment and the permissions its step needs
(grants.py)."""
from __future__ import annotations

from aws_cdk import Fn, Stack
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from constructs.fine_tuning_pipeline.grants import PipelineGrants, TrainingPlatform
from constructs.job_role import JobRole
from constructs.permissions import BucketRef, read_objects, read_write_objects, use_key
from constructs.pipeline_function import FunctionPlacement, build_function

from openforge_contract.environment_variables import (HyperPodCluster, OutputKey, PlatformBuckets, RunDefaults, RunLimits, ServingSettings,
                                                      TrainingEnvironment)
from openforge_contract.s3_layout import (BASE_MODEL_CONFIGS, DEFAULT_BASE_MODEL, DEFAULT_CURATED_DATA, DEFAULT_EVALUATION_DATA, REPORTS_PREFIX,
                                          TRAINING_PREFIX)
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
        validate = self.add("ValidateInput", "validate_input", {**self._run_checks_environment(), **RunDefaults(
            poll_seconds=config.pipeline.poll_seconds,
            max_quarantine_percent=config.sanitisation.max_quarantine_percent,
            # Where the platform keeps what a run uses unless its input says otherwise (docs/pipeline-input.md).
            base_model_s3_uri=f"s3://{artifacts.name}/{DEFAULT_BASE_MODEL}",
            curated_data_s3_uri=f"s3://{datasets.name}/{DEFAULT_CURATED_DATA}",
            evaluation_data_s3_uri=f"s3://{datasets.name}/{DEFAULT_EVALUATION_DATA}",
            endpoint_instance_types=tuple(config.serving.endpoint_instance_types),
        ).as_environment(join=join)})
        # The capacity plan reads each base model's config.json, never its weights.
        validate.allow(["s3:GetObject"], [f"{artifacts.arn(Stack.of(validate))}/{BASE_MODEL_CONFIGS}"],
                       why_wildcard="Any base model's config.json (base-models/<model>/config.json); the key names the file, so no weights are readable.")
        use_key(validate, artifacts.key_arn, encrypt=False)
        training_environment = self.training_environment()
        # The start function checks a run and its plan again (a direct invoke skips ValidateInput).
        # It stops again a job it started for an execution that had ended meanwhile (openforge_lambda.execution_check).
        start = self.add("StartTrainingJob", "start_training_job", {**training_environment, **self._run_checks_environment()})
        grants.allow_training_jobs(start, start=True, stop=True)
        grants.allow_describe_execution(start)
        grants.allow_training_jobs(self.add("CheckTrainingJob", "check_training_job", training_environment), start=False)
        pick = self.add("PickModel", "pick_model", OutputKey(artifacts.key_arn).as_environment())
        for prefix in (TRAINING_PREFIX, REPORTS_PREFIX):
            read_objects(pick, artifacts, prefix)
        read_write_objects(pick, artifacts, REPORTS_PREFIX)
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
        return {**PlatformBuckets(self._datasets.name, self._artifacts.name).as_environment(),
                # No cluster name: compute.target hyperpod is refused.
                **RunLimits(tuple(limits.training_instance_types), limits.max_instance_count, self._training.cluster_name).as_environment(join=join)}

    def training_environment(self) -> dict[str, str]:
        training, limits = self._training, self._config.limits
        environment = TrainingEnvironment(
            gpu_image_uri=training.gpu_image_uri,
            neuron_image_uri=training.neuron_image_uri,
            role_arn=training.role.role_arn,
            subnet_ids=tuple(self._subnet_ids),
            security_group_ids=(training.security_group.security_group_id,),
            kms_key_id=self._artifacts.key_arn,
            mlflow_tracking_server_arn=training.tracking_server_arn,
            max_runtime_seconds=limits.max_training_hours * 3600,
        ).as_environment(join=join)
        if training.cluster_name:
            cluster = HyperPodCluster(training.cluster_name, jobs_bucket=self._artifacts.name, buckets=(self._datasets.name, self._artifacts.name))
            environment.update(cluster.as_environment(join=join))
        return environment

    def serving_environment(self) -> dict[str, str]:
        return {**ServingSettings(
            image_uri=self._config.serving_image_uri,
            role_arn=self._serving_role.role_arn,
            subnet_ids=tuple(self._subnet_ids),
            security_group_ids=(self._endpoint_security_group_id,),
            kms_key_id=self._artifacts.key_arn,
            container_environment=self._config.serving.container_environment,
        ).as_environment(join=join), **self._grants.endpoint_namespace.as_environment()}


def join(items) -> str:
    """A list as one environment variable: Fn.join keeps a list of deploy-time tokens (subnet
    ids from the network stack) one Fn::Join, and joins plain strings at synth."""
    return Fn.join(",", list(items))
