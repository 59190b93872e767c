"""The platform's security invariants, asserted on the synthesised templates of every environment."""

from __future__ import annotations

import json

from aws_cdk.assertions import Match

OPEN_CIDRS = {"0.0.0.0/0", "::/0"}


def test_no_route_to_the_internet(env):
    for resource_type in ("AWS::EC2::InternetGateway", "AWS::EC2::NatGateway", "AWS::EC2::EgressOnlyInternetGateway", "AWS::EC2::VPCGatewayAttachment"):
        assert env.resources(resource_type) == {}, resource_type
    for _, (_, route) in env.resources("AWS::EC2::Route").items():
        assert "GatewayId" not in route["Properties"] and "NatGatewayId" not in route["Properties"]
    for _, (_, subnet) in env.resources("AWS::EC2::Subnet").items():
        assert subnet["Properties"].get("MapPublicIpOnLaunch") in (None, False)


def test_vpc_spans_at_least_two_zones(env):
    zones = {subnet["Properties"]["AvailabilityZone"] for _, subnet in env.resources("AWS::EC2::Subnet").values()}
    config = env.platform.data.node.try_get_context("environments")[env.platform.data.stack_name.split("-")[1]]
    assert len(zones) == config["network"]["az_count"] >= 2


def test_every_aws_service_has_an_endpoint_locked_to_this_account(env):
    endpoints = [endpoint["Properties"] for _, endpoint in env.resources("AWS::EC2::VPCEndpoint").values()]
    services = {json.dumps(endpoint["ServiceName"]) for endpoint in endpoints}
    for needed in ("sagemaker.api", "sagemaker.runtime", "experiments", "sts", "logs", "monitoring", "ecr.api", "ecr.dkr", "kms", "states", "sns", "ssm", "ssmmessages", "ec2messages", "s3"):
        assert any(needed in service for service in services), f"no VPC endpoint for {needed}"
    account = env.platform.network.account
    for endpoint in endpoints:
        statements = endpoint["PolicyDocument"]["Statement"]
        account_locked = [s for s in statements if s["Action"] == "*"]
        assert account_locked, endpoint["ServiceName"]
        for statement in account_locked:
            assert statement["Condition"]["StringEquals"]["aws:PrincipalAccount"] == account
        if endpoint.get("VpcEndpointType") == "Interface":
            assert endpoint["PrivateDnsEnabled"] is True


def test_no_security_group_opens_to_the_world(env):
    for resource_type in ("AWS::EC2::SecurityGroup", "AWS::EC2::SecurityGroupIngress", "AWS::EC2::SecurityGroupEgress"):
        for logical_id, (_, group) in env.resources(resource_type).items():
            rules = group["Properties"].get("SecurityGroupIngress", []) + group["Properties"].get("SecurityGroupEgress", []) + [group["Properties"]]
            for rule in rules:
                assert rule.get("CidrIp") not in OPEN_CIDRS and rule.get("CidrIpv6") not in OPEN_CIDRS, logical_id


def test_flow_logs_go_to_a_kms_encrypted_log_group(env):
    env.templates["Network"].has_resource_properties("AWS::EC2::FlowLog", {"TrafficType": "ALL", "LogDestinationType": "cloud-watch-logs"})
    for _, (_, group) in env.resources("AWS::Logs::LogGroup").items():
        assert "KmsKeyId" in group["Properties"] and group["Properties"]["RetentionInDays"] >= 365


def test_every_key_rotates(env):
    keys = env.resources("AWS::KMS::Key")
    assert len(keys) == 4  # datasets, artifacts, logs, pipeline notifications
    for _, (_, key) in keys.items():
        assert key["Properties"]["EnableKeyRotation"] is True


def test_every_bucket_is_private_versioned_and_encrypted(env):
    buckets = env.resources("AWS::S3::Bucket")
    assert len(buckets) == 3
    policies = {json.dumps(policy["Properties"]["Bucket"]): policy["Properties"]["PolicyDocument"] for _, policy in env.resources("AWS::S3::BucketPolicy").values()}
    for logical_id, (_, bucket) in buckets.items():
        props = bucket["Properties"]
        assert props["PublicAccessBlockConfiguration"] == {key: True for key in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")}
        assert props["VersioningConfiguration"] == {"Status": "Enabled"}
        assert any("NoncurrentVersionExpiration" in rule for rule in props["LifecycleConfiguration"]["Rules"])
        encryption = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]["ServerSideEncryptionByDefault"]
        statements = policies[json.dumps({"Ref": logical_id})]["Statement"]
        assert any(s["Effect"] == "Deny" and s["Condition"] == {"Bool": {"aws:SecureTransport": "false"}} for s in statements), logical_id
        if "LoggingConfiguration" in props:  # data buckets: CMK, access-logged, no foreign encryption
            assert encryption["SSEAlgorithm"] == "aws:kms" and "KMSMasterKeyID" in encryption
            assert any(s.get("Sid") == "DenyPutsNotUsingKms" for s in statements)
        else:  # the access-log target: S3 only delivers server access logs to SSE-S3 buckets
            assert encryption["SSEAlgorithm"] == "AES256"
            assert all("LoggingConfiguration" in other["Properties"] for other_id, (_, other) in buckets.items() if other_id != logical_id)


def test_no_policy_allows_every_action(env):
    for resource_type in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for logical_id, (_, policy) in env.resources(resource_type).items():
            for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
                actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
                assert "*" not in actions and not any(action.endswith(":*") for action in actions), logical_id


def test_each_job_has_its_own_role(env):
    roles = env.resources("AWS::IAM::Role")
    descriptions = [role["Properties"].get("Description", "") for _, role in roles.values()]
    for job in ("HyperPod", "SageMaker training", "MLflow"):
        assert sum(job in description for description in descriptions) == 1, job


def test_hyperpod_cluster_is_private_encrypted_and_self_healing(env):
    clusters = env.resources("AWS::SageMaker::Cluster")
    assert len(clusters) == 1
    (_, cluster), = clusters.values()
    props = cluster["Properties"]
    assert props["NodeRecovery"] == "Automatic"
    isolated_subnets = {logical_id for logical_id in env.templates["Network"].find_resources("AWS::EC2::Subnet")}
    assert len(props["VpcConfig"]["Subnets"]) == len(isolated_subnets)
    groups = {group["InstanceGroupName"]: group for group in props["InstanceGroups"]}
    assert set(groups) == {"controller", "gpu-workers", "trainium-workers"}
    assert groups["gpu-workers"]["InstanceType"] == "ml.p5.48xlarge"
    assert groups["trainium-workers"]["InstanceType"] == "ml.trn1.32xlarge"
    for name, group in groups.items():
        volumes = [config["EbsVolumeConfig"] for config in group["InstanceStorageConfigs"]]
        assert all("VolumeKmsKeyId" in volume for volume in volumes) and any(volume.get("RootVolume") for volume in volumes), name
        assert group["LifeCycleConfig"]["SourceS3Uri"].startswith("s3://openforge-")
        if name != "controller":
            assert set(group["OnStartDeepHealthChecks"]) == {"InstanceStress", "InstanceConnectivity"}


def test_mlflow_stores_artifacts_in_the_encrypted_artifacts_bucket(env):
    env.templates["Tracking"].has_resource_properties(
        "AWS::SageMaker::MlflowTrackingServer",
        {"AutomaticModelRegistration": True, "ArtifactStoreUri": Match.object_like({"Fn::Join": Match.array_with([Match.array_with(["s3://", "/mlflow"])])})},
    )
