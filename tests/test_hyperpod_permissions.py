"""The HyperPod submission path's permissions, read from the synthesised dev templates: no
role may send SSM commands (Run Command on a node is root there), the pipeline's functions
touch only this cluster's prefix of the artifacts bucket, each only as its step needs, and
the cluster's nodes read the specs and cancel requests and write nothing but statuses."""

from __future__ import annotations

import json

import pytest

CLUSTER_PREFIX = "hyperpod/openforge-dev/"


def _render(value) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and "Fn::Join" in value:
        separator, parts = value["Fn::Join"]
        return separator.join(_render(part) for part in parts)
    return "<token>"


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


@pytest.fixture(scope="module")
def policies(dev) -> dict[str, list[dict]]:
    """{the policy's description: its statements}, every stack of dev."""
    found = {}
    for _, (_, policy) in dev.resources("AWS::IAM::ManagedPolicy").items():
        found[policy["Properties"].get("Description", "")] = policy["Properties"]["PolicyDocument"]["Statement"]
    return found


def hyperpod_grants(statements: list[dict]) -> set[tuple[str, str]]:
    """(action, object key pattern or listed prefix) for every S3 grant that names hyperpod/."""
    grants = set()
    for statement in statements:
        for action in _listed(statement["Action"]):
            if not action.startswith("s3:"):
                continue
            for resource in map(_render, _listed(statement["Resource"])):
                if "/hyperpod/" in resource:
                    grants.add((action, "hyperpod/" + resource.split("/hyperpod/", 1)[1]))
            for prefix in _listed(statement.get("Condition", {}).get("StringLike", {}).get("s3:prefix", [])):
                if prefix.startswith("hyperpod/"):
                    grants.add((action, prefix))
    return grants


def test_no_role_can_send_ssm_commands(dev):
    for _, (stack, policy) in dev.resources("AWS::IAM::ManagedPolicy").items():
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]:
            actions = _listed(statement["Action"])
            assert not [action for action in actions if action.startswith("ssm:")], (stack, policy["Properties"]["Description"], actions)
    assert "SendCommand" not in json.dumps({name: template.to_json() for name, template in dev.templates.items()})


def test_each_function_touches_only_this_clusters_prefix_as_its_step_needs(policies):
    def listed_and_read(part):
        return {("s3:GetObject", f"{CLUSTER_PREFIX}{part}/*"), ("s3:ListBucket", f"{CLUSTER_PREFIX}{part}"),
                ("s3:ListBucket", f"{CLUSTER_PREFIX}{part}/*")}

    # Start also cancels what it submitted when its execution ended meanwhile (openforge_lambda.execution_check).
    assert hyperpod_grants(policies["Permissions of: OpenForge start_training_job Lambda"]) == {
        ("s3:PutObject", f"{CLUSTER_PREFIX}jobs/*"), *listed_and_read("status"), *listed_and_read("jobs"), ("s3:PutObject", f"{CLUSTER_PREFIX}cancel/*")}
    assert hyperpod_grants(policies["Permissions of: OpenForge check_training_job Lambda"]) == listed_and_read("status")
    assert hyperpod_grants(policies["Permissions of: OpenForge clean_up_run Lambda"]) == {
        *listed_and_read("status"), *listed_and_read("jobs"), ("s3:PutObject", f"{CLUSTER_PREFIX}cancel/*")}
    assert hyperpod_grants(policies["Permissions of: HyperPod openforge-dev nodes"]) == {
        *listed_and_read("jobs"), *listed_and_read("cancel"), *listed_and_read("status"), ("s3:PutObject", f"{CLUSTER_PREFIX}status/*")}
    for description, statements in policies.items():
        for _, where in hyperpod_grants(statements):
            assert where.startswith(CLUSTER_PREFIX), (description, where)


def test_the_lifecycle_scripts_ship_the_submitter_and_the_images_it_accepts(dev):
    (deployment,) = dev.templates["Compute"].find_resources("Custom::CDKBucketDeployment").values()
    assert len(deployment["Properties"]["SourceObjectKeys"]) == 3, "the scripts, the hyperpod_jobs package, the parameters"
    images = [marker for markers in deployment["Properties"]["SourceMarkers"] for marker in markers.values()]
    assert len(images) == 2 and all("dkr.ecr" in json.dumps(image) for image in images), "both training images, resolved at deploy time"
