"""A VPC with no route to the internet: isolated subnets, VPC endpoints, flow logs."""

from __future__ import annotations

from dataclasses import dataclass

from aws_cdk import Fn, Stack, Token
from aws_cdk import aws_ec2 as ec2
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from constructs import Construct

from security.acknowledgements import acknowledge

HTTPS = ec2.Port.tcp(443)


@dataclass(frozen=True)
class InterfaceEndpoint:
    service: ec2.InterfaceVpcEndpointAwsService
    why: str


# Every AWS API the platform calls from inside the VPC. No NAT exists, so a service
# missing here is unreachable rather than reached over the internet.
INTERFACE_ENDPOINTS: dict[str, InterfaceEndpoint] = {
    "SageMakerApi": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_API, "training jobs, models, endpoints, HyperPod"),
    "SageMakerRuntime": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_RUNTIME, "private endpoint invocations"),
    "SageMakerExperiments": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_EXPERIMENTS, "managed MLflow tracking server"),
    "SageMakerMetrics": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.SAGEMAKER_METRICS, "training job metrics"),
    "Sts": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.STS, "role sessions for jobs and nodes"),
    "Logs": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_LOGS, "job, node and Lambda logs"),
    "Monitoring": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.CLOUDWATCH_MONITORING, "node and job metrics"),
    "EcrApi": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.ECR, "training image manifests"),
    "EcrDocker": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.ECR_DOCKER, "training image layers (blobs come from S3)"),
    "Kms": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.KMS, "every encrypted read and write"),
    "StepFunctions": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.STEP_FUNCTIONS, "pipeline task callbacks; execution status and history for the start functions and the clean-up"),
    "Sns": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.SNS, "pipeline notifications"),
    "Ssm": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.SSM, "Session Manager access to HyperPod nodes (operators); jobs are submitted through S3"),
    "SsmMessages": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.SSM_MESSAGES, "Session Manager channels to HyperPod nodes"),
    "Ec2Messages": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.EC2_MESSAGES, "SSM agent on HyperPod nodes"),
    "Comprehend": InterfaceEndpoint(ec2.InterfaceVpcEndpointAwsService.COMPREHEND, "optional PII detection during sanitisation"),
}


def custom_resource_response_bucket(region: str) -> str:
    """The AWS-owned bucket CloudFormation gives custom resources in ``region`` a pre-signed
    ResponseURL on: the region's name *without* dashes, e.g.
    cloudformation-custom-resource-response-useast1 (China: ...-cnnorth1).
    https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/vpc-interface-endpoints.html
    A region token (environment-agnostic stack) has its dashes removed by CloudFormation."""
    without_dashes = Fn.join("", Fn.split("-", region)) if Token.is_unresolved(region) else region.replace("-", "")
    return f"cloudformation-custom-resource-response-{without_dashes}"


def ecr_layer_bucket(region: str) -> str:
    """The AWS-owned bucket ECR serves image layers from; here the region keeps its dashes, e.g.
    prod-us-east-1-starport-layer-bucket. https://docs.aws.amazon.com/AmazonECR/latest/userguide/vpc-endpoints.html
    ("Minimum Amazon S3 bucket permissions for Amazon ECR")."""
    return f"prod-{region}-starport-layer-bucket"


class PrivateNetwork(Construct):
    def __init__(
        self,
        scope: Construct,
        id_: str,
        *,
        cidr: str,
        availability_zones: tuple[str, ...],
        s3_prefix_list_id: str,
        flow_logs_key: kms.IKey,
        log_retention: logs.RetentionDays,
    ) -> None:
        super().__init__(scope, id_)
        self.s3_prefix_list_id = s3_prefix_list_id
        self.cidr = cidr
        self.vpc = self._build_vpc(cidr, availability_zones)
        self.isolated_subnets = ec2.SubnetSelection(subnet_type=ec2.SubnetType.PRIVATE_ISOLATED)
        self.flow_log_group = self._build_flow_logs(flow_logs_key, log_retention)
        self.s3_endpoint = self._build_s3_gateway_endpoint()
        self.endpoint_security_group = self._build_endpoint_security_group()
        self.interface_endpoints = {name: self._build_interface_endpoint(name, spec) for name, spec in INTERFACE_ENDPOINTS.items()}

    def workload_security_group(self, scope: Construct, id_: str, *, description: str) -> ec2.SecurityGroup:
        """A security group for a workload in this VPC: HTTPS out to the interface endpoints
        and to S3 through the gateway endpoint, nothing else; no 0.0.0.0/0 anywhere."""
        group = ec2.SecurityGroup(scope, id_, vpc=self.vpc, description=description, allow_all_outbound=False)
        group.add_egress_rule(self.endpoint_security_group, HTTPS, "AWS APIs through interface endpoints")
        group.add_egress_rule(ec2.Peer.prefix_list(self.s3_prefix_list_id), HTTPS, "S3 through the gateway endpoint")
        return group

    def peer_security_group(self, scope: Construct, id_: str, *, description: str) -> ec2.SecurityGroup:
        """A workload security group whose members also talk to each other on every port: the
        nodes of one training job or cluster (NCCL, EFA, Slurm); nothing else."""
        group = self.workload_security_group(scope, id_, description=description)
        acknowledge(
            group,
            "All-port rules here have this same security group as peer, never a CIDR: EFA and NCCL require all traffic between peers of one job.",
            "HIPAA.Security-EC2RestrictedCommonPorts",
            "NIST.800.53.R5-EC2RestrictedCommonPorts",
        )
        group.add_ingress_rule(group, ec2.Port.all_traffic(), "Peers in the same job or cluster")
        group.add_egress_rule(group, ec2.Port.all_traffic(), "Peers in the same job or cluster")
        return group

    def _build_vpc(self, cidr: str, availability_zones: tuple[str, ...]) -> ec2.Vpc:
        vpc = ec2.Vpc(
            self,
            "Vpc",
            ip_addresses=ec2.IpAddresses.cidr(cidr),
            availability_zones=list(availability_zones),
            nat_gateways=0,
            create_internet_gateway=False,
            subnet_configuration=[ec2.SubnetConfiguration(name="isolated", subnet_type=ec2.SubnetType.PRIVATE_ISOLATED, cidr_mask=20)],
            enable_dns_hostnames=True,
            enable_dns_support=True,
            restrict_default_security_group=True,
        )
        acknowledge(
            vpc,
            "Zones are named in cdk.json on purpose: synth must make no AWS calls, and training-plan capacity is bought in a named zone.",
            "CloudFormation-Validate::W3010",
        )
        return vpc

    def _build_flow_logs(self, key: kms.IKey, retention: logs.RetentionDays) -> logs.LogGroup:
        group = logs.LogGroup(self, "FlowLogs", encryption_key=key, retention=retention)
        flow_log = self.vpc.add_flow_log(
            "AllTraffic",
            destination=ec2.FlowLogDestination.to_cloud_watch_logs(group),
            traffic_type=ec2.FlowLogTrafficType.ALL,
        )
        acknowledge(
            flow_log,
            "CDK writes the flow-log delivery role's two-statement policy (write to this one log group, pass itself) inline; it grants nothing reusable.",
            "HIPAA.Security-IAMNoInlinePolicy",
            "NIST.800.53.R5-IAMNoInlinePolicy",
        )
        return group

    def _account_only_policy(self, *, also_resource_account: bool) -> list[iam.PolicyStatement]:
        stack = Stack.of(self)
        condition = {"aws:PrincipalAccount": stack.account}
        if also_resource_account:
            condition["aws:ResourceAccount"] = stack.account
        return [
            iam.PolicyStatement(
                sid="OnlyThisAccount",
                principals=[iam.AnyPrincipal()],
                actions=["*"],
                resources=["*"],
                conditions={"StringEquals": condition},
            )
        ]

    def _build_s3_gateway_endpoint(self) -> ec2.GatewayVpcEndpoint:
        stack = Stack.of(self)
        endpoint = self.vpc.add_gateway_endpoint("S3", service=ec2.GatewayVpcEndpointAwsService.S3, subnets=[self.isolated_subnets])
        for statement in self._account_only_policy(also_resource_account=True):
            endpoint.add_to_policy(statement)
        # AWS-owned buckets the VPC must still reach, each by its exact name (a trailing
        # wildcard would let code here upload to any bucket whose name starts the same way):
        # ECR stores image layers in S3, and CloudFormation custom resources (deploy-time
        # helpers such as BucketDeployment) answer through a pre-signed URL on a CloudFormation
        # bucket. Only CloudFormation can sign for that bucket, so "/*" opens no route out.
        endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="EcrImageLayers",
                principals=[iam.AnyPrincipal()],
                actions=["s3:GetObject"],
                resources=[f"arn:{stack.partition}:s3:::{ecr_layer_bucket(stack.region)}/*"],
            )
        )
        endpoint.add_to_policy(
            iam.PolicyStatement(
                sid="CloudFormationCustomResourceResponses",
                principals=[iam.AnyPrincipal()],
                actions=["s3:PutObject"],
                resources=[f"arn:{stack.partition}:s3:::{custom_resource_response_bucket(stack.region)}/*"],
            )
        )
        return endpoint

    def _build_endpoint_security_group(self) -> ec2.SecurityGroup:
        group = ec2.SecurityGroup(
            self,
            "EndpointSecurityGroup",
            vpc=self.vpc,
            description="Interface VPC endpoints: HTTPS from inside the VPC only",
            allow_all_outbound=False,
        )
        # The literal CIDR (not the VPC token) so the review can see the rule is VPC-only.
        group.add_ingress_rule(ec2.Peer.ipv4(self.cidr), HTTPS, "HTTPS from the VPC")
        return group

    def _build_interface_endpoint(self, name: str, spec: InterfaceEndpoint) -> ec2.InterfaceVpcEndpoint:
        endpoint = self.vpc.add_interface_endpoint(
            name,
            service=spec.service,
            subnets=self.isolated_subnets,
            security_groups=[self.endpoint_security_group],
            private_dns_enabled=True,
            open=False,
        )
        for statement in self._account_only_policy(also_resource_account=False):
            endpoint.add_to_policy(statement)
        return endpoint
