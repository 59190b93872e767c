"""A SageMaker HyperPod cluster (Slurm) in our private subnets.

There is no L2 for HyperPod, so this wraps `CfnCluster` with the platform's rules: every
group in the VPC, every volume under the customer key, deep health checks on accelerated
groups, automatic node recovery, lifecycle scripts from our own bucket.
"""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sagemaker as sagemaker
from constructs import Construct
from constructs.job_role import JobRole

DEEP_HEALTH_CHECKS = ("InstanceStress", "InstanceConnectivity")


@dataclass(frozen=True)
class InstanceGroup:
    name: str
    instance_type: str
    count: int
    accelerated: bool
    training_plan_arn: str | None = None


class HyperPodCluster(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cluster_name: str,
        groups: list[InstanceGroup],
        subnets: list[ec2.ISubnet],
        security_group: ec2.ISecurityGroup,
        volume_key_arn: str,
        volume_size_gb: int,
        lifecycle_source_s3_uri: str,
        on_create_script: str,
    ) -> None:
        super().__init__(scope, id_)
        self.groups = groups
        self.node_role = JobRole(
            self,
            "NodeRole",
            assumed_by=iam.ServicePrincipal("sagemaker.amazonaws.com"),
            description=f"HyperPod {cluster_name} nodes",
        )
        self.cluster = sagemaker.CfnCluster(
            self,
            "Cluster",
            cluster_name=cluster_name,
            node_recovery="Automatic",
            vpc_config=sagemaker.CfnCluster.VpcConfigProperty(
                security_group_ids=[security_group.security_group_id],
                subnets=[subnet.subnet_id for subnet in subnets],
            ),
            instance_groups=[
                self._instance_group(group, volume_key_arn, volume_size_gb, lifecycle_source_s3_uri, on_create_script) for group in groups
            ],
        )
        # The role's policy must exist before HyperPod starts nodes with it.
        self.cluster.node.add_dependency(self.node_role)

    def _instance_group(
        self, group: InstanceGroup, key_arn: str, size_gb: int, source_uri: str, on_create: str
    ) -> sagemaker.CfnCluster.ClusterInstanceGroupProperty:
        return sagemaker.CfnCluster.ClusterInstanceGroupProperty(
            instance_group_name=group.name,
            instance_type=group.instance_type,
            instance_count=group.count,
            execution_role=self.node_role.role_arn,
            life_cycle_config=sagemaker.CfnCluster.ClusterLifeCycleConfigProperty(source_s3_uri=source_uri, on_create=on_create),
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
