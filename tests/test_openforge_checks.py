"""Our cdk-nag rules fire on what the standard packs cannot see."""

from __future__ import annotations

from aws_cdk import App, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_kms as kms
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker

from security.openforge_checks import OpenForgeChecks


def _rules_fired(stack: Stack) -> set[str]:
    report = OpenForgeChecks().validate_scope(stack)
    return {violation.rule_name for violation in report.violations}


Cluster = sagemaker.CfnCluster


def _volume(**props) -> Cluster.ClusterInstanceStorageConfigProperty:
    return Cluster.ClusterInstanceStorageConfigProperty(ebs_volume_config=Cluster.ClusterEbsVolumeConfigProperty(**props))


def _group(**overrides) -> Cluster.ClusterInstanceGroupProperty:
    group = {
        "instance_group_name": "gpu",
        "instance_type": "ml.p5.48xlarge",
        "instance_count": 1,
        "execution_role": "arn:aws:iam::111111111111:role/node",
        "instance_storage_configs": [_volume(root_volume=True, volume_kms_key_id="key")],
        "on_start_deep_health_checks": ["InstanceStress", "InstanceConnectivity"],
    }
    return Cluster.ClusterInstanceGroupProperty(**{**group, **overrides})


def _cluster(stack: Stack, **overrides) -> None:
    vpc = Cluster.VpcConfigProperty(security_group_ids=["sg-1"], subnets=["subnet-1"])
    props = {"node_recovery": "Automatic", "vpc_config": vpc, "instance_groups": [_group()]}
    sagemaker.CfnCluster(stack, "Cluster", **{**props, **overrides})


def test_a_compliant_cluster_passes():
    stack = Stack(App(), "Good")
    _cluster(stack)
    assert _rules_fired(stack) == set()


def test_cluster_outside_the_vpc_fails():
    stack = Stack(App(), "NoVpc")
    _cluster(stack, vpc_config=None)
    assert _rules_fired(stack) == {"OpenForge-HyperPodInVpc"}


def test_cluster_volume_without_customer_key_fails():
    stack = Stack(App(), "NoKey")
    _cluster(stack, instance_groups=[_group(instance_storage_configs=[_volume(volume_size_in_gb=500)])])
    assert _rules_fired(stack) == {"OpenForge-HyperPodVolumesEncrypted[InstanceGroup::gpu]"}


def test_accelerated_group_without_deep_health_checks_fails():
    stack = Stack(App(), "NoChecks")
    _cluster(stack, node_recovery="None", instance_groups=[_group(on_start_deep_health_checks=["InstanceStress"])])
    assert _rules_fired(stack) == {"OpenForge-HyperPodHealthAndRecovery[NodeRecovery]", "OpenForge-HyperPodHealthAndRecovery[InstanceGroup::gpu]"}


def test_mlflow_store_in_an_unencrypted_bucket_fails_and_in_a_kms_bucket_passes():
    stack = Stack(App(), "Mlflow")
    plain = s3.Bucket(stack, "Plain", encryption=s3.BucketEncryption.S3_MANAGED)
    sagemaker.CfnMlflowTrackingServer(stack, "Plain Server", artifact_store_uri=f"s3://{plain.bucket_name}/m", role_arn="arn:aws:iam::1:role/r", tracking_server_name="a")
    assert _rules_fired(stack) == {"OpenForge-MlflowArtifactsEncrypted"}

    stack = Stack(App(), "MlflowKms")
    keyed = s3.Bucket(stack, "Keyed", encryption=s3.BucketEncryption.KMS, encryption_key=kms.Key(stack, "Key", enable_key_rotation=True))
    sagemaker.CfnMlflowTrackingServer(stack, "Server", artifact_store_uri=f"s3://{keyed.bucket_name}/m", role_arn="arn:aws:iam::1:role/r", tracking_server_name="b")
    assert _rules_fired(stack) == set()


def test_allow_every_action_fails():
    stack = Stack(App(), "Wildcard")
    iam.ManagedPolicy(stack, "Policy", statements=[iam.PolicyStatement(actions=["*"], resources=["arn:aws:s3:::b"])])
    assert _rules_fired(stack) == {"OpenForge-NoFullWildcardAction"}


def test_a_sagemaker_create_without_key_and_vpc_conditions_fails():
    stack = Stack(App(), "Creates")
    iam.ManagedPolicy(stack, "Open", statements=[iam.PolicyStatement(actions=["sagemaker:CreateTrainingJob"], resources=["*"])])
    iam.ManagedPolicy(stack, "Wildcard", statements=[iam.PolicyStatement(actions=["sagemaker:Create*"], resources=["*"])])
    iam.ManagedPolicy(stack, "KeyOnly", statements=[iam.PolicyStatement(actions=["sagemaker:CreateEndpointConfig", "sagemaker:CreateModel"], resources=["*"],
                                                                        conditions={"ArnEquals": {"sagemaker:VolumeKmsKeyArn": "k"}})])
    report = OpenForgeChecks().validate_scope(stack)
    findings = {(v.rule_name, c.construct_path.split("/")[1]) for v in report.violations for c in v.violating_resources}
    assert findings == {("OpenForge-SageMakerCreatesPrivate[Action::sagemaker:CreateTrainingJob]", "Open"),
                        ("OpenForge-SageMakerCreatesPrivate[Action::sagemaker:Create*]", "Wildcard"),
                        ("OpenForge-SageMakerCreatesPrivate[Action::sagemaker:CreateModel]", "KeyOnly")}, "the endpoint config's key condition suffices for it"


def test_a_sagemaker_create_with_every_condition_passes():
    stack = Stack(App(), "Conditioned")
    iam.ManagedPolicy(stack, "Policy", statements=[
        iam.PolicyStatement(actions=["sagemaker:CreateTrainingJob"], resources=["*"], conditions={
            "ArnEquals": {"sagemaker:VolumeKmsKeyArn": "k", "sagemaker:OutputKmsKeyArn": "k"},
            "ForAllValues:StringEquals": {"sagemaker:VpcSubnets": ["s"], "sagemaker:VpcSecurityGroupIds": ["g"]},
            "Null": {"sagemaker:VpcSubnets": "false"}}),
        iam.PolicyStatement(actions=["sagemaker:CreateEndpointConfig"], resources=["*"], conditions={"ArnEquals": {"sagemaker:VolumeKmsKeyArn": "k"}}),
    ])
    assert _rules_fired(stack) == set()


def _no_volume_key(instance_types, *, null_instance_types: bool = True) -> dict:
    null = {"sagemaker:VolumeKmsKeyArn": "true", **({"sagemaker:InstanceTypes": "false"} if null_instance_types else {})}
    return {"Null": null, "ForAllValues:StringEquals": {"sagemaker:InstanceTypes": instance_types}}


def test_an_endpoint_config_without_a_volume_key_passes_only_for_local_nvme_types():
    """AWS refuses the volume key on local-NVMe types; a statement without it must name only
    those, and demand that the request names its types (ForAllValues holds for none)."""
    stack = Stack(App(), "LocalStorage")
    for name, conditions in {"Local": _no_volume_key(["ml.g5.2xlarge", "ml.p5.48xlarge"]),
                             "EbsSmuggled": _no_volume_key(["ml.g5.2xlarge", "ml.m5.xlarge"]),
                             "Unknown": _no_volume_key(["ml.g5.3xlarge"]),
                             "NoNull": _no_volume_key(["ml.g5.2xlarge"], null_instance_types=False)}.items():
        iam.ManagedPolicy(stack, name, statements=[iam.PolicyStatement(actions=["sagemaker:CreateEndpointConfig"], resources=["*"], conditions=conditions)])
    report = OpenForgeChecks().validate_scope(stack)
    findings = {c.construct_path.split("/")[1] for v in report.violations for c in v.violating_resources}
    assert findings == {"EbsSmuggled", "Unknown", "NoNull"}


def test_a_training_job_without_a_volume_key_still_needs_the_output_key_and_the_vpc():
    stack = Stack(App(), "LocalTraining")
    vpc = {"ForAllValues:StringEquals": {"sagemaker:VpcSubnets": ["s"], "sagemaker:VpcSecurityGroupIds": ["g"],
                                         "sagemaker:InstanceTypes": ["ml.p5.48xlarge"]},
           "Null": {"sagemaker:VpcSubnets": "false", "sagemaker:VolumeKmsKeyArn": "true", "sagemaker:InstanceTypes": "false"}}
    iam.ManagedPolicy(stack, "Complete", statements=[iam.PolicyStatement(actions=["sagemaker:CreateTrainingJob"], resources=["*"], conditions={
        **vpc, "ArnEquals": {"sagemaker:OutputKmsKeyArn": "k"}})])
    iam.ManagedPolicy(stack, "NoOutputKey", statements=[iam.PolicyStatement(actions=["sagemaker:CreateTrainingJob"], resources=["*"], conditions=vpc)])
    report = OpenForgeChecks().validate_scope(stack)
    assert {c.construct_path.split("/")[1] for v in report.violations for c in v.violating_resources} == {"NoOutputKey"}


def test_a_launching_lambda_without_its_key_setting_fails():
    from aws_cdk import aws_lambda as lambda_

    stack = Stack(App(), "Launcher")
    role = iam.Role(stack, "Role", assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"))
    for name, variables in (("Unkeyed", {"TRAINING_ROLE_ARN": "r", "TRAINING_SUBNET_IDS": "s", "TRAINING_SECURITY_GROUP_IDS": "g"}),
                            ("Keyed", {"TRAINING_ROLE_ARN": "r", "TRAINING_SUBNET_IDS": "s", "TRAINING_SECURITY_GROUP_IDS": "g", "TRAINING_KMS_KEY_ARN": "k"})):
        lambda_.Function(stack, name, runtime=lambda_.Runtime.PYTHON_3_12, handler="h.h", code=lambda_.Code.from_inline("x"), role=role, environment=variables)
    report = OpenForgeChecks().validate_scope(stack)
    findings = {(v.rule_name, c.construct_path.split("/")[1]) for v in report.violations for c in v.violating_resources}
    launch = {(rule, path) for rule, path in findings if "LaunchSettings" in rule}
    assert launch == {("OpenForge-LambdaLaunchSettings[Environment::TRAINING_KMS_KEY_ARN]", "Unkeyed")}


def test_a_create_conditioned_on_the_retired_short_key_names_fails():
    """sagemaker:VolumeKmsKey / OutputKmsKey are filled by no action any more: a condition on
    them never holds in a real account (every create refused), so it does not count as ours."""
    stack = Stack(App(), "Retired")
    iam.ManagedPolicy(stack, "ShortNames", statements=[iam.PolicyStatement(actions=["sagemaker:CreateTrainingJob"], resources=["*"], conditions={
        "StringEquals": {"sagemaker:VolumeKmsKey": "k", "sagemaker:OutputKmsKey": "k"},
        "ForAllValues:StringEquals": {"sagemaker:VpcSubnets": ["s"], "sagemaker:VpcSecurityGroupIds": ["g"]},
        "Null": {"sagemaker:VpcSubnets": "false"}})])
    report = OpenForgeChecks().validate_scope(stack)
    assert {c.construct_path.split("/")[1] for v in report.violations for c in v.violating_resources} == {"ShortNames"}
