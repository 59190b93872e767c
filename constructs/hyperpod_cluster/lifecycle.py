"""The HyperPod nodes' lifecycle scripts in the artifacts bucket: lifecycle_scripts/ beside
this module, the job submitter package (hyperpod_jobs, which on_create.sh installs) and the
provisioning parameters, copied by CDK's BucketDeployment at deploy time."""
from __future__ import annotations

import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import DefaultStackSynthesizer, Stack
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_s3_deployment as s3_deployment
from constructs import Construct
from constructs.private_bucket import PrivateBucket
from constructs.private_network import PrivateNetwork

from openforge_contract.s3_layout import LIFECYCLE_PREFIX
from security.acknowledgements import acknowledge

LIFECYCLE_SCRIPTS_DIR = Path(__file__).resolve().parent / "lifecycle_scripts"
ON_CREATE_SCRIPT = "on_create.sh"
REPO_ROOT = Path(__file__).resolve().parents[2]
# The submitter package, copied next to the lifecycle scripts (on_create.sh installs it).
HYPERPOD_JOBS_PACKAGE = "hyperpod_jobs"


@dataclass(frozen=True)
class LifecycleScripts:
    """Where the nodes read the scripts, and the deployment that puts them there."""

    deployment: s3_deployment.BucketDeployment
    s3_uri: str


def ship_lifecycle_scripts(scope: Construct, *, network: PrivateNetwork, artifacts: PrivateBucket, parameters: dict) -> LifecycleScripts:
    """The deployment, its security group and the destination, created in ``scope`` (the
    stack): their logical ids are the ones they had before the cluster's folder shipped them,
    and a deployment with a new id would be replaced, its predecessor deleting the scripts on
    its way out. ``parameters``: provisioning_parameters.json (see provisioning_parameters)."""
    # By name, so the deployment's policy names the bucket literally.
    destination = s3.Bucket.from_bucket_attributes(scope, "LifecycleDestination", bucket_name=artifacts.name, encryption_key=artifacts.encryption_key)
    deployment = s3_deployment.BucketDeployment(
        scope,
        "LifecycleScripts",
        sources=[
            s3_deployment.Source.asset(str(LIFECYCLE_SCRIPTS_DIR), exclude=["__pycache__", "*.pyc"]),
            s3_deployment.Source.asset(_package_folder(HYPERPOD_JOBS_PACKAGE)),
            s3_deployment.Source.json_data("provisioning_parameters.json", parameters),
        ],
        destination_bucket=destination,
        destination_key_prefix=LIFECYCLE_PREFIX,
        server_side_encryption=s3_deployment.ServerSideEncryption.AWS_KMS,
        server_side_encryption_aws_kms_key_id=artifacts.encryption_key.key_id,
        vpc=network.vpc,
        vpc_subnets=network.isolated_subnets,
        security_groups=[network.workload_security_group(scope, "LifecycleDeploymentSecurityGroup", description="Deploy-time copy of lifecycle scripts")],
        prune=True,
        retain_on_delete=False,
    )
    _acknowledge_deployment_helper(Stack.of(scope), artifacts.name)
    return LifecycleScripts(deployment, f"s3://{artifacts.name}/{LIFECYCLE_PREFIX}")


def provisioning_parameters(groups, *, cluster_name: str, bucket: str, region: str, buckets: list[str], image_uris: list[str]) -> dict:
    """What configure_slurm.py reads (the controller group, one partition per worker group) and
    what the submitter accepts (hyperpod_jobs.install writes its config from it)."""
    return {
        "version": "1.0.0",
        "workload_manager": "slurm",
        "controller_group": groups[0].name,
        "worker_groups": [{"instance_group_name": group.name, "partition_name": group.name} for group in groups[1:]],
        "submitter": {"cluster_name": cluster_name, "bucket": bucket, "region": region, "buckets": buckets, "images": image_uris},
    }


def _acknowledge_deployment_helper(stack: Stack, bucket_name: str) -> None:
    """BucketDeployment's Lambda is CDK's own deploy-time helper; its shape is not ours to change."""
    helpers = [child for child in stack.node.children if child.node.id.startswith("Custom::CDKBucketDeployment")]
    qualifier = DefaultStackSynthesizer.DEFAULT_QUALIFIER
    for helper in helpers:
        acknowledge(
            helper,
            "CDK's BucketDeployment helper runs only during CloudFormation deploys to copy lifecycle scripts; its runtime, role and policy are fixed by aws-cdk-lib, and it runs in the isolated subnets.",
            "AwsSolutions-L1",
            "HIPAA.Security-LambdaConcurrency",
            "NIST.800.53.R5-LambdaConcurrency",
            "HIPAA.Security-LambdaDLQ",
            "NIST.800.53.R5-LambdaDLQ",
            "HIPAA.Security-IAMNoInlinePolicy",
            "NIST.800.53.R5-IAMNoInlinePolicy",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
            "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaVPCAccessExecutionRole]",
        )
        acknowledge(
            helper,
            "CDK grants its deploy-time copier read on the CDK asset bucket and read-write on the destination bucket (and its key) with grouped actions; it holds them only while CloudFormation runs it.",
            *(
                f"AwsSolutions-IAM5[Action::{action}]"
                for action in ("s3:GetBucket*", "s3:GetObject*", "s3:List*", "s3:Abort*", "s3:DeleteObject*", "kms:GenerateDataKey*", "kms:ReEncrypt*")
            ),
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::cdk-{qualifier}-assets-{stack.account}-{stack.region}/*]",
            f"AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::{bucket_name}/*]",
        )


def _package_folder(package: str) -> str:
    """A folder holding just the package, so it lands as <prefix>/<package>/ in the bucket."""
    folder = Path(tempfile.mkdtemp(prefix=f"openforge-{package}-"))
    shutil.copytree(REPO_ROOT / package, folder / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    return str(folder)
