"""A SageMaker HyperPod cluster (Slurm) in our private subnets.

There is no L2 for HyperPod, so this wraps `CfnCluster` with the platform's rules: every
group in the VPC, every volume under the customer key, deep health checks on accelerated
groups, automatic node recovery, lifecycle scripts from our own bucket (lifecycle.py ships
the lifecycle_scripts/ folder beside it). The nodes' role may do what training does
(constructs/training_roles.py), read the scripts, open operator shells, and run the job
submitter on the controller (hyperpod_jobs).
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from constructs.hyperpod_cluster.lifecycle import LIFECYCLE_PREFIX, ON_CREATE_SCRIPT, LifecycleScripts
from constructs.job_role import JobRole
from constructs.permissions import BucketRef, put_metrics, read_objects, use_key_for_volumes, write_logs, write_objects
from constructs.private_network import PrivateNetwork
from constructs.training_roles import TrainingAccess, grant_training_access
from hyperpod_jobs.spec import cancel_prefix, jobs_prefix, status_prefix

from platform_config.environments import Compute

DEEP_HEALTH_CHECKS = ("InstanceStress", "InstanceConnectivity")


@dataclass(frozen=True)
class InstanceGroup:
    name: str
    instance_type: str
    count: int
    accelerated: bool
    training_plan_arn: str | None = None


def instance_groups(compute: Compute) -> list[InstanceGroup]:
    """The controller first, then the GPU and Trainium workers (a count of 0 keeps a group
    declared, so it can be scaled)."""
    return [
        InstanceGroup("controller", compute.controller.instance_type, 1, accelerated=False),
        InstanceGroup("gpu-workers", compute.gpu_workers.instance_type, compute.gpu_workers.count, True, compute.gpu_workers.training_plan_arn),
        InstanceGroup(
            "trainium-workers", compute.trainium_workers.instance_type, compute.trainium_workers.count, True, compute.trainium_workers.training_plan_arn
        ),
    ]


class HyperPodCluster(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster_name: str,
        groups: list[InstanceGroup],
        network: PrivateNetwork,
        security_group: ec2.ISecurityGroup,
        volume_size_gb: int,
        lifecycle: LifecycleScripts,
        access: TrainingAccess,
    ) -> None:
        super().__init__(scope, id_)
        self.cluster_name = cluster_name
        self.groups = groups
        self.node_role = JobRole(
            self,
            "NodeRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"HyperPod {cluster_name} nodes",
        )
        # Node volumes hold the training data: under the datasets key.
        volume_key_arn = access.datasets.key_arn
        self.cluster = sagemaker.CfnCluster(
            self,
            "Cluster",
            cluster_name=cluster_name,
            node_recovery="Automatic",
            vpc_config=sagemaker.CfnCluster.VpcConfigProperty(
                security_group_ids=[security_group.security_group_id],
                subnets=[subnet.subnet_id for subnet in network.vpc.select_subnets(subnet_group_name="isolated").subnets],
            ),
            instance_groups=[self._instance_group(group, volume_key_arn, volume_size_gb, lifecycle.s3_uri) for group in groups],
        )
        # The role's policy must exist before HyperPod starts nodes with it, and the scripts
        # must be in the bucket before the first node boots.
        self.cluster.node.add_dependency(self.node_role)
        self.cluster.node.add_dependency(lifecycle.deployment)
        self._grant_node_access(access, volume_key_arn)
        self._allow_job_submission(cluster_name, access.artifacts)

    def _instance_group(self, group: InstanceGroup, key_arn: str, size_gb: int, source_uri: str) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
        return sagemaker.CfnCluster.ClusterInstanceGroupProperty(
            instance_group_name=group.name,
            instance_type=group.instance_type,
            instance_count=group.count,
            execution_role=self.node_role.role_arn,
            life_cycle_config=sagemaker.CfnCluster.ClusterLifeCycleConfigProperty(source_s3_uri=source_uri, on_create=ON_CREATE_SCRIPT),
            instance_storage_configs=[
                sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
                    ebs_volume_config=sagemaker.CfnCluster.ClusterEbsVolumeConfigProperty(root_volume=True, volume_kms_key_id=key_arn)
                ),
                sagemaker.CfnCluster.ClusterInstanceStorageConfigProperty(
                    ebs_volume_config=sagemaker.CfnCluster.ClusterEbsVolumeConfigProperty(volume_size_in_gb=size_gb, volume_kms_key_id=key_arn)
                ),
            ],
            # Deep health checks exist only for GPU and Trainium instances.
            on_start_deep_health_checks=list(DEEP_HEALTH_CHECKS) if group.accelerated else None,
            training_plan_arn=group.training_plan_arn,
            threads_per_core=1 if group.accelerated else None,
        )

    def _grant_node_access(self, access: TrainingAccess, volume_key_arn: str) -> None:
        role = self.node_role
        grant_training_access(role, access)
        read_objects(role, access.artifacts, LIFECYCLE_PREFIX)
        use_key_for_volumes(role, volume_key_arn)
        write_logs(role, "/aws/sagemaker/Clusters")
        put_metrics(role, "/aws/sagemaker/Clusters")
        role.allow(
            ["ssmmessages:CreateControlChannel", "ssmmessages:CreateDataChannel", "ssmmessages:OpenControlChannel", "ssmmessages:OpenDataChannel"],
            ["*"],
            why_wildcard="Session Manager channels (operator shells on HyperPod nodes) have no resource ARN to scope to.",
        )

    def _allow_job_submission(self, cluster_name: str, artifacts: BucketRef) -> None:
        """The submitter on the controller (hyperpod_jobs): reads this cluster's job specs and
        cancel requests, writes their statuses; nothing else under hyperpod/."""
        read_objects(self.node_role, artifacts, jobs_prefix(cluster_name))
        read_objects(self.node_role, artifacts, cancel_prefix(cluster_name))
        read_objects(self.node_role, artifacts, status_prefix(cluster_name))
        write_objects(self.node_role, artifacts, status_prefix(cluster_name))
