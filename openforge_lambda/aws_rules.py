"""AWS's documented request rules that botocore's service models cannot express, written
once with the documentation each comes from.

The models already carry patterns, lengths, ranges and enums (names, S3 URIs of at most
1,024 characters, at most 100 hyperparameters of at most 2,500 characters each, SSM
instance ids); this module holds only what the documentation adds on top. Boto3-free:
Lambdas can call `violations` before a request, and the tests' strict fixture
(tests/aws_strict.py) applies every rule to every request a test makes.

A rule is a function of one request's parameters that yields `Violation`s; `rule(service,
*operations)` registers it for operations by their API names ("CreateTrainingJob").
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Violation:
    """One member of a request that AWS would refuse: where, what, and why."""

    path: str  # the member, as botocore names it: "ResourceConfig.VolumeKmsKeyId", "Tags[2].Key"
    value: Any
    rule: str  # what the value breaks, readable on its own
    source: str = ""  # the AWS documentation that states the rule


Rule = Callable[[Mapping[str, Any]], Iterable[Violation]]
RULES: dict[tuple[str, str], list[Rule]] = defaultdict(list)


def rule(service: str, *operations: str) -> Callable[[Rule], Rule]:
    """Register a rule for `service`'s `operations` (botocore's service name and API names)."""

    def register(check: Rule) -> Rule:
        for operation in operations:
            RULES[(service, operation)].append(check)
        return check

    return register


def _member(params: Any, name: str) -> Mapping[str, Any]:
    """params[name] when it is a structure, else empty (a wrong type is botocore's to report)."""
    value = params.get(name) if isinstance(params, Mapping) else None
    return value if isinstance(value, Mapping) else {}


def _items(params: Any, name: str) -> list[Mapping[str, Any]]:
    """The structures of the list params[name] (anything else is botocore's to report)."""
    value = params.get(name) if isinstance(params, Mapping) else None
    return [item if isinstance(item, Mapping) else {} for item in value] if isinstance(value, (list, tuple)) else []


def violations(service: str, operation: str, params: Mapping[str, Any]) -> list[Violation]:
    """Every documented rule `params` breaks for `service`'s `operation` (empty: none)."""
    return [found for check in RULES.get((service, operation), ()) for found in check(params)]


# --- SageMaker -----------------------------------------------------------------------

# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html
# ("The maximum value is 28 days"); the model gives only the minimum, 1.
MAX_TRAINING_RUNTIME_SECONDS = 28 * 24 * 3600
STOPPING_CONDITION_DOC = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html"


@rule("sagemaker", "CreateTrainingJob")
def training_runtime_at_most_28_days(params: Mapping[str, Any]) -> Iterator[Violation]:
    seconds = _member(params, "StoppingCondition").get("MaxRuntimeInSeconds")
    if isinstance(seconds, int) and seconds > MAX_TRAINING_RUNTIME_SECONDS:
        yield Violation("StoppingCondition.MaxRuntimeInSeconds", seconds,
                        f"at most {MAX_TRAINING_RUNTIME_SECONDS} seconds (28 days)", STOPPING_CONDITION_DOC)


# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Tag.html ("Tag keys must be
# unique per resource") and the tagging guide it links to,
# https://docs.aws.amazon.com/general/latest/gr/aws_tagging.html (the aws: prefix, in any
# case, is reserved for AWS's own tags: "Do not use aws:, AWS:, or any upper or lowercase
# combination of such as a prefix").
TAG_DOC = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Tag.html"
RESERVED_TAG_PREFIX_DOC = "https://docs.aws.amazon.com/general/latest/gr/aws_tagging.html"
RESERVED_TAG_PREFIX = "aws:"


@rule("sagemaker", "CreateTrainingJob", "CreateModel", "CreateEndpointConfig", "CreateEndpoint", "AddTags")
def tag_keys_unique_and_not_reserved(params: Mapping[str, Any]) -> Iterator[Violation]:
    seen: set[str] = set()
    for index, tag in enumerate(_items(params, "Tags")):
        key = tag.get("Key")
        if not isinstance(key, str):
            continue
        if key.lower().startswith(RESERVED_TAG_PREFIX):
            yield Violation(f"Tags[{index}].Key", key, f"the {RESERVED_TAG_PREFIX} prefix is reserved for AWS", RESERVED_TAG_PREFIX_DOC)
        if key in seen:
            yield Violation(f"Tags[{index}].Key", key, "tag keys must be unique per resource (this key is given twice)", TAG_DOC)
        seen.add(key)


# Instance types with local NVMe instance storage refuse a volume KMS key: their local
# volumes are encrypted by the instance's hardware.
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html (VolumeKmsKeyId)
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html (KmsKeyId:
# "the call to CreateEndpointConfig fails")
RESOURCE_CONFIG_DOC = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_ResourceConfig.html"
ENDPOINT_CONFIG_DOC = "https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateEndpointConfig.html"


def register_local_storage_kms_rules(has_local_storage: Callable[[str], bool]) -> None:
    """REGISTRATION POINT for the instance-storage KMS rule: call once with the instance
    catalogue's predicate (instance type -> has local NVMe storage), e.g. at the end of
    this module: `register_local_storage_kms_rules(instance_catalogue.has_local_storage)`."""

    @rule("sagemaker", "CreateTrainingJob")
    def no_volume_key_on_local_storage(params: Mapping[str, Any]) -> Iterator[Violation]:
        config = _member(params, "ResourceConfig")
        if not config.get("VolumeKmsKeyId"):
            return
        types = [config.get("InstanceType")] + [group.get("InstanceType") for group in _items(config, "InstanceGroups")]
        for instance_type in (t for t in types if isinstance(t, str) and has_local_storage(t)):
            yield Violation("ResourceConfig.VolumeKmsKeyId", config["VolumeKmsKeyId"],
                            f"not allowed with {instance_type}, which has local instance storage", RESOURCE_CONFIG_DOC)

    @rule("sagemaker", "CreateEndpointConfig")
    def no_endpoint_key_on_local_storage(params: Mapping[str, Any]) -> Iterator[Violation]:
        if not params.get("KmsKeyId"):
            return
        for index, variant in enumerate(_items(params, "ProductionVariants")):
            instance_type = variant.get("InstanceType")
            if isinstance(instance_type, str) and has_local_storage(instance_type):
                yield Violation("KmsKeyId", params["KmsKeyId"],
                                f"not allowed: ProductionVariants[{index}] runs on {instance_type}, which has local instance storage",
                                ENDPOINT_CONFIG_DOC)


# --- Step Functions ------------------------------------------------------------------

# https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
# (name: no whitespace, brackets, wildcards, the listed specials or control characters);
# the model gives only its length, 1 to 80.
START_EXECUTION_DOC = "https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html"
EXECUTION_NAME_FORBIDDEN = set("<>{}[]?*\"#%\\^|~`$&,;:/")


def _forbidden_in_execution_name(char: str) -> bool:
    code = ord(char)
    return char.isspace() or char in EXECUTION_NAME_FORBIDDEN or code <= 0x1F or 0x7F <= code <= 0x9F


@rule("stepfunctions", "StartExecution", "StartSyncExecution")
def execution_name_characters(params: Mapping[str, Any]) -> Iterator[Violation]:
    name = params.get("name")
    if isinstance(name, str):
        bad = sorted({char for char in name if _forbidden_in_execution_name(char)})
        if bad:
            yield Violation("name", name, f"must not contain {''.join(bad)!r} (no whitespace, brackets, wildcards, "
                                          "special or control characters)", START_EXECUTION_DOC)


# --- S3 ------------------------------------------------------------------------------

# https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html ("a maximum length
# of 1,024 bytes", UTF-8); the model gives only the minimum, 1.
OBJECT_KEY_DOC = "https://docs.aws.amazon.com/AmazonS3/latest/userguide/object-keys.html"
MAX_OBJECT_KEY_BYTES = 1024


@rule("s3", "PutObject", "CopyObject", "CreateMultipartUpload")
def object_key_at_most_1024_bytes(params: Mapping[str, Any]) -> Iterator[Violation]:
    key = params.get("Key")
    if isinstance(key, str) and len(key.encode("utf-8")) > MAX_OBJECT_KEY_BYTES:
        yield Violation("Key", key, f"at most {MAX_OBJECT_KEY_BYTES} bytes in UTF-8 (this is {len(key.encode('utf-8'))})", OBJECT_KEY_DOC)


# --- what the instance catalogue knows ---------------------------------------------------

def _described(instance_type: str) -> bool:
    """Whether the catalogue describes the type: of one it does not, it cannot say what AWS
    allows, so its rules refuse nothing (AWS decides) rather than fail the request's check."""
    from openforge_contract.instance_catalogue import CATALOGUE

    return instance_type in CATALOGUE


def _has_local_storage(instance_type: str) -> bool:
    from openforge_contract.instance_catalogue import lookup  # the one place instance facts live

    return _described(instance_type) and lookup(instance_type).has_local_storage


register_local_storage_kms_rules(_has_local_storage)


@rule("sagemaker", "CreateTrainingJob")
def volume_size_within_what_the_type_has(params: Mapping[str, Any]) -> Iterator[Violation]:
    """On a local-NVMe type SageMaker mounts the instance store, and VolumeSizeInGB may not be
    more than its size; otherwise an EBS volume within gp2's limits (RESOURCE_CONFIG_DOC)."""
    from openforge_contract.instance_catalogue import volume_size_problem

    config = _member(params, "ResourceConfig")
    instance_type, size = config.get("InstanceType"), config.get("VolumeSizeInGB")
    if isinstance(instance_type, str) and _described(instance_type) and size is not None:
        problem = volume_size_problem(instance_type, size)
        if problem:
            yield Violation("ResourceConfig.VolumeSizeInGB", size, problem, RESOURCE_CONFIG_DOC)
