"""Training compute: the HyperPod cluster (when the environment has one) and the role a
SageMaker training job runs as."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

from aws_cdk import DefaultStackSynthesizer, IgnoreMode, Stack
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_ecr_assets as ecr_assets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct
from constructs.hyperpod_cluster import HyperPodCluster, InstanceGroup
from constructs.job_role import JobRole
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork
from hyperpod_jobs.spec import cancel_prefix, jobs_prefix, status_prefix

from openforge_contract import naming
from openforge_contract.s3_layout import (CLEAN_OUTPUT, LIFECYCLE_PREFIX, SANITISED_PREFIX, TRAINING_READS_ARTIFACTS, TRAINING_READS_DATASETS,
                                          TRAINING_WRITES_ARTIFACTS, WITHHELD_OUTPUTS)
from security.acknowledgements import acknowledge
from stacks.environment_config import EnvironmentConfig
from stacks.permissions import (
    BucketRef,
    log_to_mlflow,
    manage_network_interfaces,
    pull_images,
    put_metrics,
    read_clean_outputs,
    read_objects,
    read_write_objects,
    use_key,
    write_objects,
    use_key_for_volumes,
    write_logs,
)
from training_container.base_images import BASE_IMAGES

LIFECYCLE_SCRIPTS_DIR = "lifecycle_scripts"
# The submitter package, copied next to the lifecycle scripts (on_create.sh installs it).
HYPERPOD_JOBS_PACKAGE = "hyperpod_jobs"
REPO_ROOT = Path(__file__).resolve().parent.parent
TRAINING_CONTAINER_DIR = REPO_ROOT / "training_container"
# The build context is the repository, narrowed to what the image copies.
TRAINING_IMAGE_CONTEXT = ["*", "!training_container", "!sanitiser", "!openforge_contract", "**/__pycache__", "**/*.pyc"]
# One image per accelerator family, same package: CUDA for p5, Neuron for trn1.
TRAINING_DOCKERFILES = {"gpu": "Dockerfile", "neuron": "Dockerfile.neuron"}


class ComputeStack(Stack):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        config: EnvironmentConfig,
        network: PrivateNetwork,
        datasets: PrivateBucket,
        artifacts: PrivateBucket,
        tracking_server_arn: str,
        **kwargs,
    ) -> None:
        super().__init__(scope, id_, **kwargs)
        self._config = config
        self.training_security_group = network.workload_security_group(self, "TrainingSecurityGroup", description="SageMaker training jobs")
        _allow_within(self.training_security_group)
        datasets_ref = BucketRef(datasets.name, datasets.encryption_key.key_arn)
        artifacts_ref = BucketRef(artifacts.name, artifacts.encryption_key.key_arn)
        self.training_job_role = self._build_training_job_role(datasets_ref, artifacts_ref, tracking_server_arn)
        self.training_images = self._build_training_images()
        self.cluster: HyperPodCluster | None = None
        if config.has_cluster:
            self.cluster = self._build_cluster(network, datasets_ref, artifacts, artifacts_ref, tracking_server_arn)
            self._allow_job_submission(self.cluster, artifacts_ref)

    def _build_training_images(self) -> dict[str, ecr_assets.DockerImageAsset]:
        """Built by `cdk deploy` (Docker needed there, not for synth) into the bootstrap
        container-assets repository, which the training role may pull from."""
        commit = source_commit()
        return {
            family: ecr_assets.DockerImageAsset(
                self,
                f"TrainingImage{family.capitalize()}",
                directory=str(REPO_ROOT),
                file=f"training_container/{dockerfile}",
                platform=ecr_assets.Platform.LINUX_AMD64,
                build_args={
                    "OPENFORGE_COMMIT": commit,
                    "BASE_IMAGE": BASE_IMAGES[dockerfile].uri,
                    "BASE_PACKAGES": " ".join(BASE_IMAGES[dockerfile].packages),
                },
                exclude=TRAINING_IMAGE_CONTEXT,
                ignore_mode=IgnoreMode.DOCKER,
            )
            for family, dockerfile in TRAINING_DOCKERFILES.items()
        }

    def _grant_training_access(self, role: JobRole, datasets: BucketRef, artifacts: BucketRef, tracking_server_arn: str) -> None:
        # Of the sanitiser's output, training reads only the clean lines: quarantine files hold
        # the raw, unscrubbed lines the sanitiser refused.
        read_clean_outputs(role, datasets, SANITISED_PREFIX, clean=CLEAN_OUTPUT, withheld=WITHHELD_OUTPUTS)
        for prefix in TRAINING_READS_DATASETS:
            read_objects(role, datasets, prefix)
        for prefix in TRAINING_READS_ARTIFACTS:
            read_objects(role, artifacts, prefix)
        for prefix in TRAINING_WRITES_ARTIFACTS:
            read_write_objects(role, artifacts, prefix)
        use_key(role, datasets.key_arn, encrypt=False)
        use_key(role, artifacts.key_arn, encrypt=True)
        manage_network_interfaces(role)
        pull_images(role)
        log_to_mlflow(role, tracking_server_arn)

    def _build_training_job_role(self, datasets: BucketRef, artifacts: BucketRef, tracking_server_arn: str) -> JobRole:
        role = JobRole(
            self,
            "TrainingJobRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description="SageMaker training and evaluation jobs started by the pipeline",
        )
        self._grant_training_access(role, datasets, artifacts, tracking_server_arn)
        use_key_for_volumes(role, datasets.key_arn)
        write_logs(role, "/aws/sagemaker/TrainingJobs")
        put_metrics(role, "/aws/sagemaker/TrainingJobs")
        return role

    def _build_cluster(
        self, network: PrivateNetwork, datasets: BucketRef, artifacts: PrivateBucket, artifacts_ref: BucketRef, tracking_server_arn: str
    ) -> HyperPodCluster:
        compute = self._config.compute
        groups = [
            InstanceGroup("controller", compute.controller.instance_type, 1, accelerated=False),
            InstanceGroup("gpu-workers", compute.gpu_workers.instance_type, compute.gpu_workers.count, True, compute.gpu_workers.training_plan_arn),
            InstanceGroup(
                "trainium-workers", compute.trainium_workers.instance_type, compute.trainium_workers.count, True, compute.trainium_workers.training_plan_arn
            ),
        ]
        security_group = network.workload_security_group(self, "ClusterSecurityGroup", description="HyperPod nodes")
        _allow_within(security_group)
        cluster_name = naming.cluster_name(self._config.name)
        lifecycle = self._deploy_lifecycle_scripts(network, artifacts, groups, cluster_name, datasets.name)
        cluster = HyperPodCluster(
            self,
            "HyperPod",
            cluster_name=cluster_name,
            groups=groups,
            subnets=network.vpc.select_subnets(subnet_group_name="isolated").subnets,
            security_group=security_group,
            volume_key_arn=datasets.key_arn,
            volume_size_gb=compute.node_volume_size_gb,
            lifecycle_source_s3_uri=f"s3://{artifacts.name}/{LIFECYCLE_PREFIX}",
            on_create_script="on_create.sh",
        )
        # Scripts must be in the bucket before the first node boots.
        cluster.cluster.node.add_dependency(lifecycle)
        role = cluster.node_role
        self._grant_training_access(role, datasets, artifacts_ref, tracking_server_arn)
        read_objects(role, artifacts_ref, LIFECYCLE_PREFIX)
        use_key_for_volumes(role, datasets.key_arn)
        write_logs(role, "/aws/sagemaker/Clusters")
        put_metrics(role, "/aws/sagemaker/Clusters")
        role.allow(
            ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
            ["*"],
            why_wildcard="Session Manager channels (operator shells on HyperPod nodes) have no resource ARN to scope to.",
        )
        return cluster

    def _allow_job_submission(self, cluster: HyperPodCluster, artifacts: BucketRef) -> None:
        """The submitter on the controller (hyperpod_jobs): reads this cluster's job specs and
        cancel requests, writes their statuses; nothing else under hyperpod/."""
        name = cluster.cluster.cluster_name
        read_objects(cluster.node_role, artifacts, jobs_prefix(name))
        read_objects(cluster.node_role, artifacts, cancel_prefix(name))
        read_objects(cluster.node_role, artifacts, status_prefix(name))
        write_objects(cluster.node_role, artifacts, status_prefix(name))

    def _deploy_lifecycle_scripts(
        self, network: PrivateNetwork, artifacts: PrivateBucket, groups: list[InstanceGroup], cluster_name: str, datasets_name: str
    ) -> s3_deployment.BucketDeployment:
        parameters = {
            "version": "1.0.0",
            "workload_manager": "slurm",
            "controller_group": groups[0].name,
            "worker_groups": [{"instance_group_name": group.name, "partition_name": group.name} for group in groups[1:]],
            # What the submitter accepts (hyperpod_jobs.install writes its config from this).
            "submitter": {
                "cluster_name": cluster_name,
                "bucket": artifacts.name,
                "region": self.region,
                "buckets": [datasets_name, artifacts.name],
                "images": [image.image_uri for image in self.training_images.values()],
            },
        }
        # By name, so the deployment's policy names the bucket literally.
        destination = s3.Bucket.from_bucket_attributes(self, "LifecycleDestination", bucket_name=artifacts.name, encryption_key=artifacts.encryption_key)
        deployment = s3_deployment.BucketDeployment(
            self,
            "LifecycleScripts",
            sources=[
                s3_deployment.Source.asset(LIFECYCLE_SCRIPTS_DIR, exclude=["__pycache__", "*.pyc"]),
                s3_deployment.Source.asset(_package_folder(HYPERPOD_JOBS_PACKAGE)),
                s3_deployment.Source.json_data("provisioning_parameters.json", parameters),
            ],
            destination_bucket=destination,
            destination_key_prefix=LIFECYCLE_PREFIX,
            server_side_encryption=s3_deployment.ServerSideEncryption.AWS_KMS,
            server_side_encryption_aws_kms_key_id=artifacts.encryption_key.key_id,
            vpc=network.vpc,
            vpc_subnets=network.isolated_subnets,
            security_groups=[network.workload_security_group(self, "LifecycleDeploymentSecurityGroup", description="Deploy-time copy of lifecycle scripts")],
            prune=True,
            retain_on_delete=False,
        )
        self._acknowledge_deployment_helper(artifacts.name)
        return deployment

    def _acknowledge_deployment_helper(self, bucket_name: str) -> None:
        """BucketDeployment's Lambda is CDK's own deploy-time helper; its shape is not ours to change."""
        helpers = [child for child in self.node.children if child.node.id.startswith("Custom::CDKBucketDeployment")]
        qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
        for helper in helpers:
            acknowledge(
                helper,
                "CDK's BucketDeployment helper runs only during CloudFormation deploys to copy lifecycle scripts; its runtime, role and policy are fixed by aws-cdk-lib, and it runs in the isolated subnets.",
                "AwsSolutions-L1",
                "HIPAA.Security-LambdaConcurrency",
                "NIST.800.53.R5-LambdaConcurrency",
                "HIPAA.Security-LambdaDLQ",
                "NIST.800.53.R5-LambdaDLQ",
                "HIPAA.Security-IAMNoInlinePolicy",
                "NIST.800.53.R5-IAMNoInlinePolicy",
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
                "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
            )
            acknowledge(
                helper,
                "CDK grants its deploy-time copier read on the CDK asset bucket and read-write on the destination bucket (and its key) with grouped actions; it holds them only while CloudFormation runs it.",
                *(
                    f"AwsSolutions-IAM5[Action::{action}]"
                    for action in ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*", "kms:GenerateDataKey*", "kms:ReEncrypt*")
                ),
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-{qualifier}-assets-{self.account}-{self.region}/*]",
                f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket_name}/*]",
            )

def _allow_within(group: ec2.SecurityGroup) -> None:
    """Nodes of one job talk to each other on every port (NCCL, EFA, Slurm); nothing else."""
    acknowledge(
        group,
        "All-port rules here have this same security group as peer, never a CIDR: EFA and NCCL require all traffic between peers of one job.",
        "HIPAA.Security-EC2RestrictedCommonPorts",
        "NIST.800.53.R5-EC2RestrictedCommonPorts",
    )
    group.add_ingress_rule(group, ec2.Port.all_traffic(), "Peers in the same job or cluster")
    group.add_egress_rule(group, ec2.Port.all_traffic(), "Peers in the same job or cluster")


def _package_folder(package: str) -> str:
    """A folder holding just the package, so it lands as <prefix>/<package>/ in the bucket."""
    folder = Path(tempfile.mkdtemp(prefix=f"openforge-{package}-"))
    shutil.copytree(REPO_ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return str(folder)


def source_commit() -> str:
    """The repository's commit, baked into the image and tagged on every MLflow run."""
    try:
        result = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=TRAINING_CONTAINER_DIR, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return result.stdout.strip() if result.returncode == 0 else "unknown"
