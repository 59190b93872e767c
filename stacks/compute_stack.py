"""Training compute: the training images, the role a SageMaker training job runs as, and the
HyperPod cluster with its lifecycle scripts (when the environment has one)."""

from __future__ import annotations

from aws_cdk import Stack
from constructs import Construct
from constructs.hyperpod_cluster import HyperPodCluster, instance_groups
from constructs.hyperpod_cluster.lifecycle import provisioning_parameters, ship_lifecycle_scripts
from constructs.permissions import BucketRef
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork
from constructs.training_image import TrainingImages
from constructs.training_roles import TrainingAccess, TrainingJobRole

from openforge_contract import naming
from platform_config.environments import EnvironmentConfig


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
        access = TrainingAccess(BucketRef.of(datasets), BucketRef.of(artifacts), tracking_server_arn)
        self.training_security_group = network.peer_security_group(self, "TrainingSecurityGroup", description="SageMaker training jobs")
        self.training_job_role = TrainingJobRole(self, "TrainingJobRole", access=access)
        self.training_images = TrainingImages(self, "TrainingImages")
        self.cluster: HyperPodCluster | None = None
        if config.has_cluster:
            self.cluster = self._build_cluster(config, network, datasets, artifacts, access)

    def _build_cluster(self, config: EnvironmentConfig, network: PrivateNetwork, datasets: PrivateBucket, artifacts: PrivateBucket,
                       access: TrainingAccess) -> HyperPodCluster:
        cluster_name = naming.cluster_name(config.name)
        groups = instance_groups(config.compute)
        security_group = network.peer_security_group(self, "ClusterSecurityGroup", description="HyperPod nodes")
        parameters = provisioning_parameters(groups, cluster_name=cluster_name, bucket=artifacts.name, region=self.region,
                                             buckets=[datasets.name, artifacts.name], image_uris=self.training_images.uris)
        lifecycle = ship_lifecycle_scripts(self, network=network, artifacts=artifacts, parameters=parameters)
        return HyperPodCluster(self, "HyperPod", cluster_name=cluster_name, groups=groups, network=network, security_group=security_group,
                               volume_size_gb=config.compute.node_volume_size_gb, lifecycle=lifecycle, access=access)
