"""All stacks of one environment, wired together."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import App, Environment, Tags
from constructs.fine_tuning_pipeline import TrainingPlatform

from openforge_contract import naming
from platform_config.environments import EnvironmentConfig
from stacks.compute_stack import ComputeStack
from stacks.data_stack import DataStack
from stacks.network_stack import NetworkStack
from stacks.pipeline_stack import PipelineStack
from stacks.sanitisation_stack import SanitisationStack
from stacks.tracking_stack import TrackingStack


@dataclass(frozen=True)
class Platform:
    data: DataStack
    network: NetworkStack
    tracking: TrackingStack
    compute: ComputeStack
    sanitisation: SanitisationStack
    pipeline: PipelineStack


def build_platform(app: App, config: EnvironmentConfig) -> Platform:
    env = Environment(account=config.account, region=config.region)
    data = DataStack(app, naming.stack_name(config.name, "Data"), config=config, env=env)
    network = NetworkStack(app, naming.stack_name(config.name, "Network"), config=config, logs_key=data.logs_key, env=env)
    tracking = TrackingStack(app, naming.stack_name(config.name, "Tracking"), config=config, artifacts=data.artifacts, env=env)
    compute = ComputeStack(
        app,
        naming.stack_name(config.name, "Compute"),
        config=config,
        network=network.network,
        datasets=data.datasets,
        artifacts=data.artifacts,
        tracking_server_arn=tracking.mlflow.tracking_server_arn,
        env=env,
    )
    sanitisation = SanitisationStack(app, naming.stack_name(config.name, "Sanitisation"), config=config, network=network.network, datasets=data.datasets,
                                     logs_key=data.logs_key, env=env)
    cluster = compute.cluster
    training = TrainingPlatform(
        role=compute.training_job_role.role,
        security_group=compute.training_security_group,
        gpu_image_uri=compute.training_images.images["gpu"].image_uri,
        neuron_image_uri=compute.training_images.images["neuron"].image_uri,
        tracking_server_arn=tracking.mlflow.tracking_server_arn,
        cluster_name=cluster.cluster_name if cluster else None,
        cluster_arn=cluster.cluster.attr_cluster_arn if cluster else None,
    )
    pipeline = PipelineStack(app, naming.stack_name(config.name, "Pipeline"), config=config, network=network.network, datasets=data.datasets,
                             artifacts=data.artifacts, logs_key=data.logs_key, layer=sanitisation.shared_layer, sanitisation=sanitisation.workflow,
                             training=training, env=env)
    pipeline.node.add_dependency(sanitisation)  # invokes the sanitisation functions by name
    Tags.of(app).add("project", "openforge")
    Tags.of(app).add("environment", config.name)
    return Platform(data=data, network=network, tracking=tracking, compute=compute, sanitisation=sanitisation, pipeline=pipeline)
