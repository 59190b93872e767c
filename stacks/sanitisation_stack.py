"""The sanitisation workflow of one environment: Lambdas in the isolated subnets, a
Distributed Map over the dataset, a report and a quarantine gate."""
from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork
from constructs.sanitisation_workflow import SanitisationWorkflow

from openforge_contract import naming
from stacks.environment_config import EnvironmentConfig
from stacks.log_retention import log_retention


class SanitisationStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, network: PrivateNetwork, datasets: PrivateBucket,
                 logs_key: kms.IKey, **kwargs) -> None:
        super().__init__(scope, id_, **kwargs)
        self.workflow = SanitisationWorkflow(
            self,
            "Sanitisation",
            state_machine_name=naming.sanitisation_state_machine(config.name),
            datasets=datasets,
            network=network,
            logs_key=logs_key,
            log_retention=log_retention(config.retention.log_retention_days),
            max_concurrency=config.sanitisation.max_concurrency,
            shard_memory_mb=config.sanitisation.shard_memory_mb,
            max_quarantine_percent=config.sanitisation.max_quarantine_percent,
        )
