"""Training reads only the sanitiser's clean output: the role policies of the training job and
the HyperPod nodes, evaluated as IAM would (tests/iam_policy.py) in every environment's
synthesised template. Quarantine files hold the raw, unscrubbed lines the sanitiser refused."""

from __future__ import annotations

import dataclasses

import botocore.session
import pytest
from openforge_lambda.pipeline_input import parse_run
from openforge_lambda.run_plan import PlatformLocations, plan_run
from openforge_lambda.s3_streams import split_s3_uri
from openforge_lambda.training_job import job_plan

from tests import iam_policy
from tests.iam_policy import ALLOW, Request
from tests.lambdas.test_validate_input import MINIMAL, POLICY

RUN = "sanitised/support-tickets/exec-1"
# Everything the sanitiser writes beside the clean lines (sanitiser/shard.py, openforge_lambda/sanitisation.py),
# including object paths that themselves contain a folder named "clean".
WITHHELD_OBJECTS = [f"{RUN}/{kind}/{path}" for kind in ("quarantine", "duplicates", "stats", "keys")
                    for path in ("part-0.jsonl", "clean/part-0.jsonl", "tickets/clean/2024.jsonl")] + [
    "sanitised/job/exec/quarantine/part-0.jsonl",
    "sanitised/standalone-job/quarantine/clean/part-0.jsonl",  # the standalone machine's shorter output prefix
    "sanitised/quarantine/clean/part-0.jsonl",
]
CLEAN_OBJECTS = ["sanitised/job/exec/clean/part-0.jsonl", f"{RUN}/clean/tickets/2024/part-0.bytes-000000000000000-000000000001000.jsonl"]


@pytest.fixture(scope="module")
def training_roles(env):
    compute = env.platform.compute
    roles = {"training job": compute.training_job_role.role}
    if compute.cluster is not None:
        roles["HyperPod nodes"] = compute.cluster.node_role.role
    template = env.templates["Compute"].to_json()
    partition = botocore.session.get_session().get_partition_for_region(compute.region)
    aws = iam_policy.Environment(partition, compute.region, compute.account)
    return {name: iam_policy.role_statements(compute, template, role) for name, role in roles.items()}, aws, env.platform.data.datasets.name


def get_object(bucket: str, key: str, aws) -> Request:
    return Request("s3:GetObject", f"arn:{aws.partition}:s3:::{bucket}/{key}")


def list_objects(bucket: str, prefix: str, aws) -> Request:
    return Request("s3:ListBucket", f"arn:{aws.partition}:s3:::{bucket}", {"s3:prefix": prefix})


def test_no_training_role_can_read_quarantined_or_other_withheld_output(training_roles):
    roles, aws, datasets = training_roles
    assert "HyperPod nodes" in roles or len(roles) == 1
    for name, statements in roles.items():
        for key in WITHHELD_OBJECTS:
            decision = iam_policy.decide(statements, get_object(datasets, key, aws), aws)
            assert decision != ALLOW, f"the {name} role may read s3://{datasets}/{key}"
        for key in CLEAN_OBJECTS:
            assert iam_policy.decide(statements, get_object(datasets, key, aws), aws) == ALLOW, f"the {name} role cannot read s3://{datasets}/{key}"
        assert iam_policy.decide(statements, list_objects(datasets, f"{RUN}/quarantine/", aws), aws) != ALLOW, name


def test_the_training_job_can_read_what_its_customer_channel_points_at(training_roles, env):
    """The channel as the pipeline plans it (run_plan -> training_job.job_plan), for this environment's buckets."""
    roles, aws, datasets = training_roles
    artifacts = env.platform.data.artifacts.name

    def here(uri: str) -> str:
        return uri.replace(split_s3_uri(POLICY.curated_data_s3_uri)[0], datasets).replace(split_s3_uri(POLICY.base_model_s3_uri)[0], artifacts)

    policy = dataclasses.replace(POLICY, **{f.name: here(getattr(POLICY, f.name)) for f in dataclasses.fields(POLICY) if f.name.endswith("_s3_uri")})
    run = parse_run({**MINIMAL, "customer_data_s3_uri": here(MINIMAL["customer_data_s3_uri"])}, policy)
    plan = plan_run(run, "console-run-1", PlatformLocations(datasets, artifacts))
    channel_bucket, channel_prefix = split_s3_uri(job_plan("training", run, plan, plan.mixes[0], mlflow_tracking_uri="arn:x").channels["customer"])
    assert channel_bucket == datasets
    for name, statements in roles.items():
        assert iam_policy.decide(statements, list_objects(datasets, channel_prefix, aws), aws) == ALLOW, f"{name}: cannot list {channel_prefix}"
        assert iam_policy.decide(statements, get_object(datasets, f"{channel_prefix}tickets/part-0.jsonl", aws), aws) == ALLOW, name
