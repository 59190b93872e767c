"""The S3 gateway endpoint policy, evaluated as AWS would (tests/iam_policy.py) on real request
forms: the deploy-time custom resources inside the VPC can answer CloudFormation, ECR layers
can be pulled, this account's buckets are reachable, and nothing else is: no lookalike of an
AWS-owned bucket and no other account's bucket."""

from __future__ import annotations

import botocore.session
import pytest
from aws_cdk import App, Environment, Stack
from aws_cdk import aws_kms as kms
from aws_cdk import aws_logs as logs
from aws_cdk.assertions import Template
from constructs.private_network import PrivateNetwork

from tests import iam_policy
from tests.iam_policy import ALLOW, Request

# ResponseURL hosts as CloudFormation sends them, per region, recorded from AWS's
# documentation and from real custom-resource events. The bucket is the region without
# dashes in every partition; the URL is virtual-hosted, in the legacy (s3-<region>, s3.) or
# the current (s3.<region>) form. S3 also accepts the path style for the same object.
RECORDED_RESPONSE_HOSTS = {
    "us-east-1": (
        # Lambda developer guide, "Using AWS Lambda with CloudFormation", example event
        "cloudformation-custom-resource-response-useast1.s3-us-east-1.amazonaws.com",
        # a real event (aws-cloudformation/aws-cloudformation-templates issue 100)
        "cloudformation-custom-resource-response-useast1.s3.amazonaws.com",
        "cloudformation-custom-resource-response-useast1.s3.us-east-1.amazonaws.com",
    ),
    "eu-west-1": ("cloudformation-custom-resource-response-euwest1.s3-eu-west-1.amazonaws.com",),
    "ap-northeast-1": ("cloudformation-custom-resource-response-apnortheast1.s3-ap-northeast-1.amazonaws.com",),
    "cn-north-1": ("cloudformation-custom-resource-response-cnnorth1.s3.cn-north-1.amazonaws.com.cn",),
}
# The principal that signed a pre-signed URL (CloudFormation) and the owner of an AWS-owned
# bucket: accounts that are not ours.
AWS_OWNED_ACCOUNT = "000000000000"
OTHER_ACCOUNT = "999999999999"


def environment_of(region: str, account: str) -> iam_policy.Environment:
    partition = botocore.session.get_session().get_partition_for_region(region)
    return iam_policy.Environment(partition, region, account, "amazonaws.com.cn" if partition == "aws-cn" else "amazonaws.com")


def response_urls(region: str, account: str) -> list[str]:
    """Real-form ResponseURLs for a deploy of one of our stacks in ``region``."""
    if region not in RECORDED_RESPONSE_HOSTS:
        pytest.fail(f"no recorded CloudFormation ResponseURL for {region}: add one from a real custom-resource event")
    partition = environment_of(region, account).partition
    key = (f"arn%3A{partition}%3Acloudformation%3A{region}%3A{account}%3Astack/OpenForge-dev-Compute/467c5470-6549-11e6-aed7-50d5cdfd10fa"
           "%7CLifecycleScriptsCustomResource%7C91126ada-82e5-42a4-b45a-37f14cdff905")
    query = "?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20240818T140227Z&X-Amz-SignedHeaders=host&X-Amz-Expires=7200&X-Amz-Signature=ab12"
    hosts = RECORDED_RESPONSE_HOSTS[region]
    path_style_host = hosts[0].split(".", 1)[1]
    path_style = f"https://{path_style_host}/{hosts[0].split('.', 1)[0]}/{key}{query}"
    return [f"https://{host}/{key}{query}" for host in hosts] + [path_style]


def s3_gateway_statements(template: dict, env: iam_policy.Environment) -> list[dict]:
    endpoints = [resource["Properties"] for resource in template["Resources"].values() if resource["Type"] == "AWS::EC2::VPCEndpoint"
                 and iam_policy.resolve(resource["Properties"]["ServiceName"], env) == f"com.amazonaws.{env.region}.s3"]
    assert len(endpoints) == 1, "expected one S3 gateway endpoint"
    return endpoints[0]["PolicyDocument"]["Statement"]


def decide_url(statements, url: str, action: str, env: iam_policy.Environment, *, principal_account: str, resource_account: str) -> str:
    bucket, key = iam_policy.s3_object_of_url(url)
    request = Request(action, f"arn:{env.partition}:s3:::{bucket}/{key}",
                      {"aws:PrincipalAccount": principal_account, "aws:ResourceAccount": resource_account})
    return iam_policy.decide(statements, request, env)


def decide_object(statements, bucket: str, action: str, env, *, principal_account: str, resource_account: str, key: str = "x/part-0") -> str:
    return decide_url(statements, f"https://{bucket}.s3.{env.region}.amazonaws.com/{key}", action, env,
                      principal_account=principal_account, resource_account=resource_account)


@pytest.fixture(scope="module")
def platform_endpoint(env):
    network = env.platform.network
    aws = environment_of(network.region, network.account)
    return s3_gateway_statements(env.templates["Network"].to_json(), aws), aws


def test_custom_resources_in_the_vpc_can_answer_cloudformation(platform_endpoint):
    statements, aws = platform_endpoint
    for url in response_urls(aws.region, aws.account):
        decision = decide_url(statements, url, "s3:PutObject", aws, principal_account=AWS_OWNED_ACCOUNT, resource_account=AWS_OWNED_ACCOUNT)
        assert decision == ALLOW, f"the endpoint policy blocks CloudFormation's response URL {url}: {decision}"


def test_no_lookalike_of_an_aws_bucket_and_no_other_accounts_bucket_is_reachable(platform_endpoint):
    statements, aws = platform_endpoint
    response_bucket, _ = iam_policy.s3_object_of_url(response_urls(aws.region, aws.account)[0])
    lookalikes = [f"{response_bucket}-evil", f"{response_bucket}x", f"cloudformation-custom-resource-response-{aws.region}",
                  f"cloudformation-custom-resource-response-{aws.region}x", f"prod-{aws.region}-starport-layer-bucket-evil"]
    for bucket in lookalikes:
        for action in ("s3:PutObject", "s3:GetObject"):
            decision = decide_object(statements, bucket, action, aws, principal_account=aws.account, resource_account=OTHER_ACCOUNT)
            assert decision != ALLOW, f"code in the VPC may {action} on s3://{bucket}, a bucket anyone can create"
    for action in ("s3:PutObject", "s3:GetObject"):
        assert decide_object(statements, "someone-elses-bucket", action, aws, principal_account=aws.account, resource_account=OTHER_ACCOUNT) != ALLOW
    # The response bucket accepts only CloudFormation's pre-signed uploads: reading it is not needed.
    assert decide_object(statements, response_bucket, "s3:GetObject", aws, principal_account=aws.account, resource_account=AWS_OWNED_ACCOUNT) != ALLOW


def test_ecr_layers_and_this_accounts_buckets_are_reachable(platform_endpoint, env):
    statements, aws = platform_endpoint
    # ECR's layer bucket keeps the region's dashes (ECR user guide, VPC endpoints).
    layers = f"prod-{aws.region}-starport-layer-bucket"
    layer_key = "sha256/3f0a9d5b8e1c"
    assert decide_object(statements, layers, "s3:GetObject", aws, principal_account=aws.account, resource_account=AWS_OWNED_ACCOUNT, key=layer_key) == ALLOW
    assert decide_object(statements, layers, "s3:PutObject", aws, principal_account=aws.account, resource_account=AWS_OWNED_ACCOUNT, key=layer_key) != ALLOW
    datasets = env.platform.data.datasets.name
    for action in ("s3:GetObject", "s3:PutObject"):
        assert decide_object(statements, datasets, action, aws, principal_account=aws.account, resource_account=aws.account) == ALLOW


def _network_in(region: str | None) -> dict:
    stack = Stack(App(), "Network", env=Environment(account="123456789012", region=region) if region else None)
    PrivateNetwork(stack, "Network", cidr="10.0.0.0/16", availability_zones=("a", "b") if region is None else (f"{region}a", f"{region}b"),
                   s3_prefix_list_id="pl-12345678", flow_logs_key=kms.Key(stack, "Key"), log_retention=logs.RetentionDays.ONE_YEAR)
    return Template.from_stack(stack).to_json()


@pytest.mark.parametrize("region", sorted(set(RECORDED_RESPONSE_HOSTS) - {"us-east-1"}))
def test_the_response_bucket_follows_each_region_and_partition(region):
    aws = environment_of(region, "123456789012")
    statements = s3_gateway_statements(_network_in(region), aws)
    for url in response_urls(region, aws.account):
        assert decide_url(statements, url, "s3:PutObject", aws, principal_account=AWS_OWNED_ACCOUNT, resource_account=AWS_OWNED_ACCOUNT) == ALLOW, url


def test_an_environment_agnostic_stack_names_the_response_bucket_at_deploy_time():
    """A region token: CloudFormation removes the dashes (Fn::Join of Fn::Split)."""
    template = _network_in(None)
    for region in ("us-east-1", "cn-north-1"):
        aws = environment_of(region, "123456789012")
        statements = s3_gateway_statements(template, aws)
        for url in response_urls(region, aws.account):
            assert decide_url(statements, url, "s3:PutObject", aws, principal_account=AWS_OWNED_ACCOUNT, resource_account=AWS_OWNED_ACCOUNT) == ALLOW, url
