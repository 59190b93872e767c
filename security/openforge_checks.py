"""cdk-nag rules for what the standard packs cannot see.

No pack has rules for HyperPod clusters or managed MLflow servers, so these check the
platform's invariants on them directly, and refuse `Action: "*"` anywhere.
"""

from __future__ import annotations

from collections.abc import Callable

import jsii
from aws_cdk import CfnResource, Stack, Tokenization
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sagemaker as sagemaker
from cdk_nag import IApplyRule, NagMessageLevel, NagPack, NagRuleCompliance
from constructs import IConstruct

from openforge_contract.environment_variables import ServingSettings, TrainingEnvironment
from openforge_contract.instance_catalogue import UnknownInstanceType, volume_kms_key_allowed
from security.condition_keys import KEY_CONDITION, OUTPUT_KMS_KEY, VOLUME_KMS_KEY

PACK_NAME = "OpenForge"
ACCELERATED_PREFIXES = ("ml.p", "ml.g", "ml.trn", "ml.inf")
REQUIRED_DEEP_HEALTH_CHECKS = {"InstanceStress", "InstanceConnectivity"}

Result = NagRuleCompliance | list[str]


def _resolved(node: CfnResource, value):
    return Stack.of(node).resolve(value)


def hyperpod_cluster_in_vpc(node: CfnResource) -> Result:
    if not isinstance(node, sagemaker.CfnCluster):
        return NagRuleCompliance.NOT_APPLICABLE
    vpc = _resolved(node, node.vpc_config) or {}
    if not vpc.get("subnets") or not vpc.get("securityGroupIds"):
        return NagRuleCompliance.NON_COMPLIANT
    return NagRuleCompliance.COMPLIANT


def hyperpod_volumes_encrypted(node: CfnResource) -> Result:
    if not isinstance(node, sagemaker.CfnCluster):
        return NagRuleCompliance.NOT_APPLICABLE
    findings = []
    for group in _resolved(node, node.instance_groups) or []:
        volumes = [config.get("ebsVolumeConfig", {}) for config in group.get("instanceStorageConfigs") or []]
        root_keyed = any(volume.get("rootVolume") and volume.get("volumeKmsKeyId") for volume in volumes)
        all_keyed = all(volume.get("volumeKmsKeyId") for volume in volumes)
        if not volumes or not root_keyed or not all_keyed:
            findings.append(f"InstanceGroup::{group.get('instanceGroupName')}")
    return findings or NagRuleCompliance.COMPLIANT


def hyperpod_health_and_recovery(node: CfnResource) -> Result:
    if not isinstance(node, sagemaker.CfnCluster):
        return NagRuleCompliance.NOT_APPLICABLE
    findings = [] if _resolved(node, node.node_recovery) == "Automatic" else ["NodeRecovery"]
    for group in _resolved(node, node.instance_groups) or []:
        accelerated = str(group.get("instanceType", "")).startswith(ACCELERATED_PREFIXES)
        if accelerated and not REQUIRED_DEEP_HEALTH_CHECKS <= set(group.get("onStartDeepHealthChecks") or []):
            findings.append(f"InstanceGroup::{group.get('instanceGroupName')}")
    return findings or NagRuleCompliance.COMPLIANT


def mlflow_artifacts_in_kms_bucket(node: CfnResource) -> Result:
    """The artifact store URI must point into a bucket of this app that is SSE-KMS encrypted."""
    if not isinstance(node, sagemaker.CfnMlflowTrackingServer):
        return NagRuleCompliance.NOT_APPLICABLE
    for token in Tokenization.reverse_string(node.artifact_store_uri).tokens:
        target = getattr(token, "target", None)
        bucket = target if isinstance(target, s3.CfnBucket) else None
        if bucket is None:
            continue
        encryption = _resolved(bucket, bucket.bucket_encryption) or {}
        rules = encryption.get("serverSideEncryptionConfiguration", [])
        if any(rule.get("serverSideEncryptionByDefault", {}).get("sseAlgorithm") == "aws:kms" and rule["serverSideEncryptionByDefault"].get("kmsMasterKeyId") for rule in rules):
            return NagRuleCompliance.COMPLIANT
    return NagRuleCompliance.NON_COMPLIANT


def no_full_wildcard_action(node: CfnResource) -> Result:
    if node.cfn_resource_type not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"):
        return NagRuleCompliance.NOT_APPLICABLE
    for statement in _policy_statements(node):
        actions = statement.get("Action", [])
        actions = [actions] if isinstance(actions, str) else actions
        if statement.get("Effect") == "Allow" and "*" in actions:
            return NagRuleCompliance.NON_COMPLIANT
    return NagRuleCompliance.COMPLIANT


# What IAM must demand of each SageMaker create a role may make: endpoint configs and
# training jobs created at run time by Lambdas are invisible to the packs, so the policy
# that allows them is where "private and under our key" is checked.
REQUIRED_CREATE_CONDITIONS = {
    "sagemaker:CreateTrainingJob": {(KEY_CONDITION, VOLUME_KMS_KEY), (KEY_CONDITION, OUTPUT_KMS_KEY),
                                    ("ForAllValues:StringEquals", "sagemaker:VpcSubnets"), ("ForAllValues:StringEquals", "sagemaker:VpcSecurityGroupIds"),
                                    ("Null", "sagemaker:VpcSubnets")},
    "sagemaker:CreateModel": {("Bool", "sagemaker:NetworkIsolation"), ("ForAllValues:StringEquals", "sagemaker:VpcSubnets"),
                              ("Null", "sagemaker:VpcSubnets")},
    "sagemaker:CreateEndpointConfig": {(KEY_CONDITION, VOLUME_KMS_KEY)},
}
VOLUME_KEY = (KEY_CONDITION, VOLUME_KMS_KEY)


def _only_local_storage_types(condition: dict) -> bool:
    """A statement may leave out the volume key only for instance types with local NVMe (AWS
    refuses a volume key there): it demands no volume key, demands instance types, and lists
    only such types (openforge_contract.instance_catalogue.volume_kms_key_allowed)."""
    null, listed = condition.get("Null") or {}, (condition.get("ForAllValues:StringEquals") or {}).get("sagemaker:InstanceTypes")
    if null.get(VOLUME_KMS_KEY) != "true" or null.get("sagemaker:InstanceTypes") != "false" or not listed:
        return False
    try:
        return not any(volume_kms_key_allowed(instance_type) for instance_type in ([listed] if isinstance(listed, str) else listed))
    except UnknownInstanceType:
        return False


# Settings a launching Lambda must carry for every resource it creates (openforge_lambda.training_job / .endpoint):
# a function told a role is told the key, subnets and security groups too; names from the contract's groups.
LAUNCH_SETTINGS = {
    group.variable_name("role_arn"): tuple(group.variable_name(name) for name in ("kms_key_id", "subnet_ids", "security_group_ids"))
    for group in (TrainingEnvironment, ServingSettings)
}


def _policy_statements(node: CfnResource) -> list[dict]:
    properties = _resolved(node, node._cfn_properties) if hasattr(node, "_cfn_properties") else {}
    documents = [properties.get("policyDocument") or properties.get("PolicyDocument")]
    for policy in properties.get("policies") or properties.get("Policies") or []:
        documents.append(policy.get("policyDocument") or policy.get("PolicyDocument"))
    return [statement for document in filter(None, documents) for statement in document.get("Statement", [])]


def sagemaker_creates_private(node: CfnResource) -> Result:
    """Every allowed SageMaker create of a training job, model or endpoint config carries the
    conditions that keep it in our subnets and under our key; a wildcard create cannot."""
    if node.cfn_resource_type not in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::IAM::Role"):
        return NagRuleCompliance.NOT_APPLICABLE
    findings = []
    for statement in _policy_statements(node):
        if statement.get("Effect") != "Allow":
            continue
        actions = statement.get("Action", [])
        for action in [actions] if isinstance(actions, str) else actions:
            if action.startswith("sagemaker:") and "*" in action:
                findings.append(f"Action::{action}")
                continue
            required = REQUIRED_CREATE_CONDITIONS.get(action)
            condition = statement.get("Condition") or {}
            given = {(operator, key) for operator, keys in condition.items() for key in keys}
            if required and VOLUME_KEY in required and VOLUME_KEY not in given and _only_local_storage_types(condition):
                required = required - {VOLUME_KEY}
            if required and not required <= given:
                findings.append(f"Action::{action}")
    return findings or NagRuleCompliance.COMPLIANT


def lambda_launch_settings(node: CfnResource) -> Result:
    """A Lambda that launches SageMaker resources is told their key, subnets and security groups."""
    if node.cfn_resource_type != "AWS::Lambda::Function":
        return NagRuleCompliance.NOT_APPLICABLE
    properties = _resolved(node, node._cfn_properties) if hasattr(node, "_cfn_properties") else {}
    variables = ((properties.get("environment") or properties.get("Environment") or {}).get("variables")
                 or (properties.get("environment") or properties.get("Environment") or {}).get("Variables") or {})
    missing = [f"Environment::{name}" for trigger, names in LAUNCH_SETTINGS.items() if trigger in variables
               for name in names if not variables.get(name)]
    return missing or NagRuleCompliance.COMPLIANT


# (rule id suffix, rule, what is wrong, why it matters)
RULES: tuple[tuple[str, Callable[[CfnResource], Result], str, str], ...] = (
    ("HyperPodInVpc", hyperpod_cluster_in_vpc, "The HyperPod cluster has no VpcConfig with subnets and security groups.",
     "Without VpcConfig the nodes get AWS-managed networking with internet access; the platform keeps training data in isolated subnets."),
    ("HyperPodVolumesEncrypted", hyperpod_volumes_encrypted, "A HyperPod instance group's root or data EBS volume is not encrypted with a customer-managed KMS key.",
     "Node volumes hold training data, checkpoints and weights; they must be under a key the customer controls and can revoke."),
    ("HyperPodHealthAndRecovery", hyperpod_health_and_recovery, "Node recovery is not Automatic, or an accelerated group lacks the InstanceStress and InstanceConnectivity deep health checks.",
     "Faulty GPUs or Trainium chips found only mid-run waste paid accelerator hours; deep health checks and automatic recovery catch them."),
    ("MlflowArtifactsEncrypted", mlflow_artifacts_in_kms_bucket, "The MLflow artifact store is not a bucket of this app encrypted with SSE-KMS.",
     "MLflow artifacts include model weights and evaluation samples derived from customer data."),
    ("NoFullWildcardAction", no_full_wildcard_action, "An IAM policy allows Action \"*\".",
     "Every role of the platform is scoped to the actions of its job; \"*\" cannot be acknowledged into least privilege."),
    ("SageMakerCreatesPrivate", sagemaker_creates_private,
     "An IAM policy allows creating a SageMaker training job, model or endpoint config without the conditions on its KMS key, subnets, "
     "security groups or network isolation, or allows a wildcard SageMaker action.",
     "The pipeline's Lambdas create these at run time, where no template review can see them; IAM conditions make anything not private "
     "and encrypted under the customer's key fail at the API."),
    ("LambdaLaunchSettings", lambda_launch_settings,
     "A Lambda that launches training jobs or endpoints lacks the KMS key, subnet or security group setting for them.",
     "The launch code refuses to run without them; the template should not deploy a function that can only fail."),
)


@jsii.implements(IApplyRule)
class _Rule:
    def __init__(self, suffix: str, check: Callable[[CfnResource], Result], info: str, explanation: str, node: CfnResource):
        self._suffix, self._check, self._info, self._explanation, self._node = suffix, check, info, explanation, node

    @property
    def rule_suffix_override(self) -> str:
        return self._suffix

    @property
    def info(self) -> str:
        return self._info

    @property
    def explanation(self) -> str:
        return self._explanation

    @property
    def level(self) -> NagMessageLevel:
        return NagMessageLevel.ERROR

    @property
    def node(self) -> CfnResource:
        return self._node

    def rule(self, node: CfnResource) -> Result:
        return self._check(node)


class OpenForgeChecks(NagPack):
    def __init__(self, scope: IConstruct | None = None) -> None:
        super().__init__(scope)
        self._pack_name = PACK_NAME

    @property
    def name(self) -> str:
        return PACK_NAME

    def _check_resource(self, node: CfnResource) -> None:
        for suffix, check, info, explanation in RULES:
            self._apply_rule(_Rule(suffix, check, info, explanation, node))
