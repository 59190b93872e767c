"""The fine-tuning pipeline of one environment: the state machine a person starts from the
console, its Lambdas, the serving role and the notifications topic."""
from __future__ import annotations

from aws_cdk import CfnOutput, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_lambda as lambda_
from constructs import Construct
from constructs.fine_tuning_pipeline import FineTuningPipeline, TrainingPlatform
from constructs.log_retention import log_retention
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork
from constructs.sanitisation_workflow import SanitisationWorkflow

from platform_config.environments import EnvironmentConfig


class PipelineStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, network: PrivateNetwork, datasets: PrivateBucket,
                 artifacts: PrivateBucket, logs_key: kms.IKey, layer: lambda_.ILayerVersion, sanitisation: SanitisationWorkflow,
                 training: TrainingPlatform, **kwargs) -> None:
        super().__init__(scope, id_, **kwargs)
        self.pipeline = FineTuningPipeline(
            self,
            "FineTuning",
            config=config,
            network=network,
            datasets=datasets,
            artifacts=artifacts,
            logs_key=logs_key,
            log_retention=log_retention(config.retention.log_retention_days),
            layer=layer,
            sanitisation=sanitisation,
            training=training,
        )
        CfnOutput(self, "StateMachineArn", value=self.pipeline.state_machine.state_machine_arn,
                  description="Start a fine-tuning run: Step Functions console -> this state machine -> Start execution")
        CfnOutput(self, "NotificationsTopicArn", value=self.pipeline.topic.topic_arn, description="Subscribe to hear when a run finishes or fails")
