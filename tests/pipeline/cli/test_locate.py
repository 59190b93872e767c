"""``start``'s groundwork (pipeline/cli/locate.py): the input check before anything is sent,
the state machine, the default name and the console URL; and the usage errors the command
line prints for them (pipeline/cli/main.py)."""
from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import pytest

from pipeline.cli import locate
from tests.pipeline.cli.fakes import never_called, run


def test_a_file_that_is_not_json_is_a_usage_error_naming_the_file(tmp_path):
    bad = tmp_path / "run.json"
    bad.write_text('{"job_name": "tickets",\n "customer_data_s3_uri": }\n')
    code, out, err = run(["start", str(bad), "--env", "dev"], session_factory=never_called)
    assert code == 2 and out == ""
    assert err == f"error: {bad}: not valid JSON: Expecting value (line 2, column 26)\n"


@pytest.mark.parametrize("content, problem", [
    ({"job_name": "tickets"}, "customer_data_s3_uri: required"),
    ({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "mixing": {"customer_data_precent": 50}},
     "mixing.customer_data_precent: unknown field; expected one of: customer_data_percent, curated_weights"),
    ({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "hyperparameters": {"max_steps": "100"}},
     'hyperparameters.max_steps: must be a whole number, got "100"'),
    ({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "mixing": {"curated_weights": {"reasoning": 40, "factuality": 40}}},
     "mixing.curated_weights: weights must sum to 100, got 80 (reasoning 40 + factuality 40)"),
])
def test_an_input_the_check_refuses_is_a_usage_error_naming_the_field_and_nothing_is_sent(tmp_path, content, problem):
    path = tmp_path / "run.json"
    path.write_text(json.dumps(content))
    assert run(["start", str(path), "--env", "dev"], session_factory=never_called) == (2, "", f"error: {path}: {problem}\n")


def test_what_only_the_environment_knows_is_left_to_validate_input(tmp_path):
    """No base model given (the environment's default applies), an instance type and count
    only an environment's limits could refuse: the check here passes them."""
    content = {"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/", "compute": {"instance_type": "ml.trn2.48xlarge", "instance_count": 64}}
    path = tmp_path / "run.json"
    path.write_text(json.dumps(content))
    assert locate.check_input(path) == content, "sent as written: the defaults are filled in the cloud"


def test_usage_errors_name_what_is_wrong(tmp_path):
    good = tmp_path / "run.json"
    good.write_text(json.dumps({"job_name": "tickets", "customer_data_s3_uri": "s3://datasets/raw/"}))
    assert run(["start", str(good), "--env", "staging"], session_factory=never_called) == (
        2, "", "error: unknown environment 'staging': cdk.json defines dev, prod\n")
    assert run(["start", str(tmp_path / "missing.json"), "--env", "dev"], session_factory=never_called) == (
        2, "", f"error: {tmp_path / 'missing.json'}: no such file\n")
    assert run(["start", str(good)], session_factory=never_called)[2] == "error: start needs --env ENV (an environment in cdk.json) or --state-machine-arn ARN\n"
    assert run(["start", str(good), "--env", "dev", "--name", "has spaces"], session_factory=never_called)[2] == (
        "error: execution name 'has spaces': 1-80 letters, digits, '-' or '_'\n")
    assert run(["summary", "not-an-arn"], session_factory=never_called)[0] == 2


def test_the_state_machine_the_default_name_and_the_console_url():
    assert locate.state_machine_arn("dev") == "arn:aws:states:us-east-1:111111111111:stateMachine:OpenForge-dev-FineTune"
    assert locate.partition_of("cn-north-1") == "aws-cn" and locate.partition_of("us-gov-west-1") == "aws-us-gov"
    assert locate.execution_name("tickets", datetime(2026, 12, 1, 14, 36, 33, tzinfo=timezone(timedelta(hours=2)))) == "tickets-20261201T123633Z"
    arn = "arn:aws:states:eu-west-1:111111111111:execution:OpenForge-dev-FineTune:tickets-20261201T123633Z"
    assert locate.console_url(arn) == f"https://eu-west-1.console.aws.amazon.com/states/home?region=eu-west-1#/v2/executions/details/{arn}"


def test_every_example_input_passes_the_check():
    examples = sorted((locate.ROOT / "examples").glob("pipeline-input*.json"))
    assert len(examples) >= 3
    for path in examples:
        assert locate.check_input(path) == json.loads(path.read_text()), path
