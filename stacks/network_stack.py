"""The private network every other stack runs in."""

from __future__ import annotations

from aws_cdk import Stack
from aws_cdk import aws_kms as kms
from constructs import Construct
from constructs.log_retention import log_retention
from constructs.private_network import PrivateNetwork

from platform_config.environments import EnvironmentConfig


class NetworkStack(Stack):
    def __init__(self, scope: Construct, id_: str, *, config: EnvironmentConfig, logs_key: kms.IKey, **kwargs) -> None:
        self._zones = list(config.availability_zones)
        super().__init__(scope, id_, **kwargs)
        self.network = PrivateNetwork(
            self,
            "Network",
            cidr=config.network.vpc_cidr,
            availability_zones=config.availability_zones,
            s3_prefix_list_id=config.network.s3_prefix_list_id,
            flow_logs_key=logs_key,
            log_retention=log_retention(config.retention.log_retention_days),
        )


    @property
    def availability_zones(self) -> list[str]:
        # Zones come from configuration: the default would look them up in the account,
        # and synth makes no AWS calls.
        return self._zones
