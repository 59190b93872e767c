"""What the fine-tuning pipeline's functions may do beyond logs and ENIs: start, watch and
stop this environment's training jobs (or HyperPod job specs), create and change only its own
endpoints, ask about this state machine's executions; and the role its endpoints run as.
Every create is allowed only private and under our key, so IAM refuses anything else a
function could be tricked into."""
from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from constructs import Construct
from constructs.job_role import JobRole
from constructs.permissions import (
    BucketRef,
    manage_network_interfaces,
    put_metrics,
    read_objects,
    use_key,
    use_key_for_volumes,
    write_logs,
    write_objects,
)
from hyperpod_jobs.spec import cancel_prefix, jobs_prefix, status_prefix

from openforge_contract.environment_variables import EndpointNamespace
from openforge_contract.instance_catalogue import volume_kms_key_allowed
from openforge_contract.naming import TAG_ENVIRONMENT, TAG_JOB, TAG_NAMESPACE
from openforge_contract.s3_layout import TRAINING_PREFIX
from platform_config.environments import EnvironmentConfig
from security.condition_keys import KEY_CONDITION, OUTPUT_KMS_KEY, VOLUME_KMS_KEY


SAGEMAKER_JOB_NAMES = "Names are derived at run time from the job name a person gives plus a hash of the execution; the resource type is the narrowest scope."
SAGEMAKER_ENDPOINT_NAMES = ("Endpoint, endpoint config and model names are derived at run time from the job name under the environment's "
                            "prefix; changes are further limited to resources tagged as this environment's.")


@dataclass(frozen=True)
class TrainingPlatform:
    """What the compute and tracking stacks provide for the pipeline's jobs."""

    role: iam.IRole
    security_group: ec2.ISecurityGroup
    gpu_image_uri: str
    neuron_image_uri: str
    tracking_server_arn: str
    cluster_name: str | None
    cluster_arn: str | None


class PipelineGrants:
    """The permission sets of the pipeline's functions, scoped to one environment: its subnets
    and security groups, its artifacts key, its endpoint namespace and its state machine."""

    def __init__(self, scope: Construct, *, config: EnvironmentConfig, training: TrainingPlatform, artifacts: BucketRef, subnet_ids: list[str],
                 endpoint_security_group: ec2.ISecurityGroup, serving_role: JobRole, state_machine_name: str) -> None:
        stack = Stack.of(scope)
        self._config, self._training, self._artifacts, self._subnet_ids = config, training, artifacts, subnet_ids
        self._endpoint_security_group, self._serving_role = endpoint_security_group, serving_role
        self._sagemaker = f"arn:{stack.partition}:sagemaker:{stack.region}:{stack.account}"
        # This state machine's executions (ARNs name the machine; execution names are chosen per run).
        self.executions = f"arn:{stack.partition}:states:{stack.region}:{stack.account}:execution:{state_machine_name}:*"

    @property
    def endpoint_namespace(self) -> EndpointNamespace:
        """The namespace endpoints are named and tagged in: the same values allow_endpoints demands."""
        return EndpointNamespace.of(self._config.name)

    @property
    def endpoint_name_prefix(self) -> str:
        return self.endpoint_namespace.name_prefix

    @property
    def endpoint_owner_tags(self) -> dict[str, str]:
        return self.endpoint_namespace.owner_tags

    def allow_describe_execution(self, role: JobRole) -> None:
        """A start function asks whether its execution still runs (openforge_lambda.execution_check)."""
        role.allow(["states:DescribeExecution"], [self.executions],
                   why_wildcard="Execution names are chosen when a run starts; this state machine's executions only.")

    def allow_training_jobs(self, role: JobRole, *, start: bool, stop: bool = False) -> None:
        jobs = [f"{self._sagemaker}:training-job/*"]
        role.allow(["sagemaker:DescribeTrainingJob"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES)
        if stop:
            role.allow(["sagemaker:StopTrainingJob"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES)
        if start:
            # Only jobs in our subnets and security group, output under our key, and the volume
            # under our key unless every instance has local NVMe (hardware-encrypted; AWS refuses
            # a volume key there): IAM refuses any other CreateTrainingJob this role could be tricked into.
            private = {
                "Bool": {"sagemaker:InterContainerTrafficEncryption": "true"},
                "ForAllValues:StringEquals": {"sagemaker:VpcSubnets": self._subnet_ids,
                                              "sagemaker:VpcSecurityGroupIds": [self._training.security_group.security_group_id]},
                "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"},
            }
            for conditions in _volume_key_conditions(private, self._artifacts.key_arn, self._config.limits.training_instance_types,
                                                     output_key=True):
                role.allow(["sagemaker:CreateTrainingJob"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES, conditions=conditions)
            # Tag-on-create is authorised as AddTags: only OpenForge's tag keys, and only on a job
            # that has none yet (a job being created), so no other team's job can be retagged.
            role.allow(["sagemaker:AddTags"], jobs, why_wildcard=SAGEMAKER_JOB_NAMES, conditions={
                "ForAllValues:StringLike": {"aws:TagKeys": [f"{TAG_NAMESPACE}*"]},
                "Null": {f"aws:ResourceTag/{TAG_JOB}": "true"}})
            role.allow(["iam:PassRole"], [self._training.role.role_arn], conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
        if self._training.cluster_arn:
            self._allow_hyperpod(role, start=start, stop=stop)

    def _allow_hyperpod(self, role: JobRole, *, start: bool, stop: bool) -> None:
        """compute.target = hyperpod: job specs, statuses and cancel requests under this
        cluster's prefix of the artifacts bucket (hyperpod_jobs); the submitter on the
        controller does the rest. No SSM, no other prefix."""
        cluster, artifacts = self._training.cluster_name, self._artifacts
        if not start or stop:  # a cancel reads the status first
            read_objects(role, artifacts, status_prefix(cluster))
        if start:
            write_objects(role, artifacts, jobs_prefix(cluster))
        if stop:
            read_objects(role, artifacts, jobs_prefix(cluster))
            write_objects(role, artifacts, cancel_prefix(cluster))
        use_key(role, artifacts.key_arn, encrypt=start or stop)

    def allow_endpoints(self, role: JobRole, *, create: bool, change: bool = True) -> None:
        """Only endpoints, endpoint configs and models named under the environment's prefix;
        changed only when they carry its tags, created only with them. Condition keys per
        action: https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html"""
        sagemaker, prefix = self._sagemaker, self.endpoint_name_prefix
        endpoints, configs, models = f"{sagemaker}:endpoint/{prefix}*", f"{sagemaker}:endpoint-config/{prefix}*", f"{sagemaker}:model/{prefix}*"
        role.allow(["sagemaker:DescribeEndpoint"], [endpoints], why_wildcard=SAGEMAKER_ENDPOINT_NAMES)
        if not change:
            return
        owned = {"StringEquals": {f"aws:ResourceTag/{key}": value for key, value in self.endpoint_owner_tags.items()}}
        role.allow(["sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel", "sagemaker:ListTags"], [endpoints, configs, models],
                   why_wildcard=SAGEMAKER_ENDPOINT_NAMES)
        # UpdateEndpoint is authorised on the endpoint and on the config it switches to: both must be ours.
        role.allow(["sagemaker:UpdateEndpoint"], [endpoints, configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        role.allow(["sagemaker:DeleteEndpoint"], [endpoints], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        role.allow(["sagemaker:DeleteEndpointConfig"], [configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        role.allow(["sagemaker:DeleteModel"], [models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=owned)
        if not create:
            return
        # Created only with our tags, and with no tag outside our namespace.
        tagged = {f"aws:RequestTag/{key}": value for key, value in self.endpoint_owner_tags.items()}
        our_keys = {"aws:TagKeys": [f"{TAG_NAMESPACE}*"]}
        # Private and encrypted, or IAM refuses: the model in our subnets with network
        # isolation, the endpoint's volume under our key.
        role.allow(["sagemaker:CreateModel"], [models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions={
            "Bool": {"sagemaker:NetworkIsolation": "true"},
            "StringEquals": tagged,
            "ForAllValues:StringLike": our_keys,
            "ForAllValues:StringEquals": {"sagemaker:VpcSubnets": self._subnet_ids,
                                          "sagemaker:VpcSecurityGroupIds": [self._endpoint_security_group.security_group_id]},
            "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VpcSecurityGroupIds": "false"},
        })
        private = {"StringEquals": tagged, "ForAllValues:StringLike": our_keys}
        for conditions in _volume_key_conditions(private, self._artifacts.key_arn, self._config.serving.endpoint_instance_types, output_key=False):
            role.allow(["sagemaker:CreateEndpointConfig"], [configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=conditions)
        role.allow(["sagemaker:CreateEndpoint"], [endpoints, configs], why_wildcard=SAGEMAKER_ENDPOINT_NAMES, conditions=private)
        # Tagging on create is authorised as AddTags too; only our tags, only under our prefix,
        # and only on a resource not yet tagged with an environment or already this one's:
        # AddTags overwrites, and another environment's prefix can start with ours
        # (openforge-dev- is a prefix of openforge-dev-eu-), so without this the role could
        # retag that environment's endpoint as its own and then update or delete it.
        environment_tag = f"aws:ResourceTag/{TAG_ENVIRONMENT}"
        role.allow(["sagemaker:AddTags"], [endpoints, configs, models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES,
                   conditions={**private, "Null": {environment_tag: "true"}})
        role.allow(["sagemaker:AddTags"], [endpoints, configs, models], why_wildcard=SAGEMAKER_ENDPOINT_NAMES,
                   conditions={**private, "StringEquals": {**private["StringEquals"], environment_tag: self._config.name}})
        role.allow(["iam:PassRole"], [self._serving_role.role_arn], conditions={"StringEquals": {"iam:PassedToService": "sagemaker.amazonaws.com"}})
        # The endpoint's volume is encrypted by SageMaker on the caller's behalf.
        role.allow(["kms:CreateGrant", "kms:DescribeKey"], [self._artifacts.key_arn], conditions={"Bool": {"kms:GrantIsForAWSResource": "true"}})


def build_serving_role(scope: Construct, artifacts: BucketRef, serving_image_uri: str) -> JobRole:
    """What a private endpoint runs as: reads the tuned weights, pulls the serving image."""
    stack = Stack.of(scope)
    role = JobRole(scope, "ServingRole", assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"), description="Private inference endpoints of tuned models")
    read_objects(role, artifacts, TRAINING_PREFIX)
    use_key(role, artifacts.key_arn, encrypt=False)
    use_key_for_volumes(role, artifacts.key_arn)
    manage_network_interfaces(role)
    write_logs(role, "/aws/sagemaker/Endpoints")
    put_metrics(role, "/aws/sagemaker/Endpoints")
    account, region, repository = _image_repository(serving_image_uri)
    role.allow(["ecr:GetAuthorizationToken"], ["*"], why_wildcard="ecr:GetAuthorizationToken is account-wide and supports no resource scoping.")
    role.allow(["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"],
               [f"arn:{stack.partition}:ecr:{region}:{account}:repository/{repository}"])
    return role


def _volume_key_conditions(private: dict, key_arn: str, instance_types, *, output_key: bool) -> list[dict]:
    """IAM conditions for a SageMaker create that names instance types and a volume key: one
    statement with the volume key (and the output key), and, for the allowed types with local
    NVMe (instance_catalogue.volume_kms_key_allowed), one without a volume key that holds only
    when every instance type of the request is one of those. Null on InstanceTypes: without it
    a request naming no type would pass ForAllValues. The key is sagemaker:InstanceTypes for
    CreateTrainingJob and CreateEndpointConfig (Service Authorization Reference,
    https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazonsagemaker.html)."""
    keys = {VOLUME_KMS_KEY: key_arn, **({OUTPUT_KMS_KEY: key_arn} if output_key else {})}
    keyed = {**private, KEY_CONDITION: keys}
    local = sorted(instance_type for instance_type in instance_types if not volume_kms_key_allowed(instance_type))
    if not local:
        return [keyed]
    unkeyed = {**private,
               "ForAllValues:StringEquals": {**private.get("ForAllValues:StringEquals", {}), "sagemaker:InstanceTypes": local},
               "Null": {**private.get("Null", {}), VOLUME_KMS_KEY: "true", "sagemaker:InstanceTypes": "false"}}
    if output_key:
        unkeyed[KEY_CONDITION] = {OUTPUT_KMS_KEY: key_arn}
    return [keyed, unkeyed]


def _image_repository(image_uri: str) -> tuple[str, str, str]:
    """(account, region, repository) of an ECR image URI."""
    registry, _, rest = image_uri.partition("/")
    account, _, _, region, *_ = registry.split(".")
    repository = rest.split("@")[0].rsplit(":", 1)[0]
    return account, region, repository
