"""The sanitisation workflow of one environment: Lambdas in the isolated subnets, a
Distributed Map over the dataset, a report and a quarantine gate; and the shared Lambda
layer, which the fine-tuning pipeline's functions use too."""
from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct
from constructs.log_retention import log_retention
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork
from constructs.sanitisation_workflow import SanitisationWorkflow
from constructs.shared_layer import SharedLayer

from openforge_contract import naming
from platform_config.environments import EnvironmentConfig

SHARED_LAYER_LOGICAL_ID = "SanitisationSharedLayer1063A135"


class SanitisationStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, network: PrivateNetwork, datasets: PrivateBucket,
                 logs_key: kms.IKey, **kwargs) -> None:
        super().__init__(scope, id_, **kwargs)
        self.shared_layer = SharedLayer(self, "SharedLayer")
        # The logical id the layer had when the sanitisation workflow created it: a new id would
        # replace the layer and rename the export the pipeline stack imports, which CloudFormation
        # refuses while that stack still imports the old name.
        self.shared_layer.node.default_child.override_logical_id(SHARED_LAYER_LOGICAL_ID)
        self.workflow = SanitisationWorkflow(
            self,
            "Sanitisation",
            state_machine_name=naming.sanitisation_state_machine(config.name),
            datasets=datasets,
            network=network,
            logs_key=logs_key,
            log_retention=log_retention(config.retention.log_retention_days),
            layer=self.shared_layer,
            max_concurrency=config.sanitisation.max_concurrency,
            shard_memory_mb=config.sanitisation.shard_memory_mb,
            max_quarantine_percent=config.sanitisation.max_quarantine_percent,
        )
