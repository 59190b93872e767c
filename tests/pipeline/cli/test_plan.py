"""`start` prints the capacity plan before it sends anything, read from the base model's
config.json with the caller's own credentials (moto S3 here), and refuses a run that cannot
fit with the fixes, starting nothing."""
from __future__ import annotations

import json

import boto3
import pytest
from moto import mock_aws

from openforge_contract.reference_models import CONFIGS
from pipeline.cli.plan import default_base_model
from tests.pipeline.cli.fakes import run

REGION, ACCOUNT = "us-east-1", "111111111111"  # cdk.json's dev environment
MACHINE = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:OpenForge-dev-FineTune"
ARTIFACTS = default_base_model("dev", ACCOUNT, REGION).removeprefix("s3://").split("/")[0]


def session(**kwargs):
    return boto3.Session(region_name=kwargs["region_name"])


@pytest.fixture
def s3(monkeypatch):
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    with mock_aws():
        client = boto3.client("s3", region_name=REGION)
        client.create_bucket(Bucket=ARTIFACTS)
        boto3.client("stepfunctions", region_name=REGION).create_state_machine(
            name="OpenForge-dev-FineTune", definition=json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}),
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/machine")
        yield client


def start(tmp_path, pipeline_input: dict) -> tuple[int, str, str]:
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"job_name": "tickets", "customer_data_s3_uri": "s3://openforge-dev-datasets/raw/tickets/", **pipeline_input}))
    return run(["start", str(path), "--state-machine-arn", MACHINE, "--name", "exec-1"], session_factory=session)


def executions() -> list:
    return boto3.client("stepfunctions", region_name=REGION).list_executions(stateMachineArn=MACHINE).get("executions", [])


def test_the_plan_of_the_environments_default_base_model_is_printed_before_the_run_starts(s3, tmp_path):
    """--env names the environment, so its artifacts bucket and default base model are known."""
    s3.put_object(Bucket=ARTIFACTS, Key="base-models/default/config.json", Body=json.dumps(CONFIGS["Llama-3.1-8B"]))
    path = tmp_path / "run.json"
    path.write_text(json.dumps({"job_name": "tickets", "customer_data_s3_uri": "s3://openforge-dev-datasets/raw/tickets/"}))
    code, out, err = run(["start", str(path), "--env", "dev", "--name", "exec-1"], session_factory=session)
    lines = out.splitlines()
    assert (code, err) == (0, ""), out
    assert lines[0] == "Capacity plan:" and lines[1].startswith("  lora on a 8.03B-parameter model"), out
    assert lines[2].startswith("  memory per device:") and ": fits [" in lines[2], out
    assert lines[3].startswith("Started ")

    code, out, _ = run(["start", str(path), "--state-machine-arn", MACHINE, "--name", "exec-2"], session_factory=session)
    # --state-machine-arn alone: the environment, so its default base model, is not known
    assert code == 0 and out.splitlines()[0].startswith("Capacity plan: not shown (the environment's default base model is not known here)")


def test_a_named_base_model_is_planned_and_a_run_that_cannot_fit_starts_nothing(s3, tmp_path):
    s3.put_object(Bucket=ARTIFACTS, Key="base-models/llama-70b/config.json", Body=json.dumps(CONFIGS["Llama-3.1-70B"]))
    model = f"s3://{ARTIFACTS}/base-models/llama-70b/"
    code, out, err = start(tmp_path, {"base_model_s3_uri": model, "method": "full"})
    assert code != 0 and executions() == []
    assert err.startswith("error: this run cannot start: full-rank SFT of this 70.6B-parameter model needs"), err
    assert "use method lora (needs" in err

    code, out, err = start(tmp_path, {"base_model_s3_uri": model})  # LoRA, sharded over the 8 GPUs: fits, and prints the plan
    lines = out.splitlines()
    assert lines[0] == "Capacity plan:" and "sharding full (asked: auto)" in lines[1], out + err


def test_a_missing_config_is_named_and_an_unreadable_one_leaves_the_check_to_validate_input(s3, tmp_path):
    code, _, err = start(tmp_path, {"base_model_s3_uri": f"s3://{ARTIFACTS}/base-models/nothing-here/"})
    assert code != 0 and f"no config.json at s3://{ARTIFACTS}/base-models/nothing-here/config.json" in err and executions() == []
    code, out, _ = start(tmp_path, {"base_model_s3_uri": "s3://a-bucket-that-does-not-exist/base-models/x/"})
    assert out.splitlines()[0].startswith("Capacity plan: not shown (cannot read s3://a-bucket-that-does-not-exist/base-models/x/config.json")


@pytest.mark.parametrize("body, problem", [
    (json.dumps({**CONFIGS["Llama-3.1-8B"], "num_attention_heads": 0}), "base_model_s3_uri: config.json: num_attention_heads is 0"),
    (b"", "config.json is empty"),
    (b'{"model_type": "llama", "x": ' + b"[" * 100_000 + b"]" * 100_000 + b"}", "is not valid JSON (nested too deeply)"),
])
def test_a_config_json_the_plan_cannot_read_is_a_clear_refusal_not_a_traceback(s3, tmp_path, body, problem):
    s3.put_object(Bucket=ARTIFACTS, Key="base-models/broken/config.json", Body=body)
    code, _, err = start(tmp_path, {"base_model_s3_uri": f"s3://{ARTIFACTS}/base-models/broken/"})
    assert code != 0 and executions() == [] and "Traceback" not in err
    assert err.startswith("error: ") and problem in err, err


def test_lora_targets_that_adapt_nothing_are_refused_before_the_run_starts(s3, tmp_path):
    s3.put_object(Bucket=ARTIFACTS, Key="base-models/llama-8b/config.json", Body=json.dumps(CONFIGS["Llama-3.1-8B"]))
    code, _, err = start(tmp_path, {"base_model_s3_uri": f"s3://{ARTIFACTS}/base-models/llama-8b/", "hyperparameters": {"lora_target_modules": "qproj"}})
    assert code != 0 and executions() == []
    assert err.startswith("error: hyperparameters.lora_target_modules: 'qproj' matches no module of this llama model"), err
