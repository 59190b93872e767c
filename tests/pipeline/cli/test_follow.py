"""Following a run (pipeline/cli/follow.py): the history's paging, a live run with a
training job's SageMaker details, a job SageMaker will not describe."""
from __future__ import annotations

import io

import boto3
import pytest
from moto import mock_aws

from openforge_contract import states
from pipeline.cli.follow import follow, training_job_describer
from pipeline.cli.history import new_events
from pipeline.cli.progress import training_job_text
from pipeline.cli.terminal import EXIT_RUN_FAILED, Terminal
from tests.pipeline.cli.fakes import FakeStepFunctions, failed_training_history, grid_history
from tests.state_machines import ACCOUNT, REGION


def test_new_events_pages_back_only_as_far_as_what_was_already_seen():
    events = grid_history()
    fake = FakeStepFunctions(events, [len(events)], page_size=4)
    assert [e["id"] for e in new_events(fake, "arn", 0, page_size=4)] == [e["id"] for e in events]
    assert len(fake.calls) == -(-len(events) // 4), "every page of a first look"
    fake.calls.clear()
    assert [e["id"] for e in new_events(fake, "arn", len(events) - 6, page_size=4)] == [e["id"] for e in events[-6:]]
    assert fake.calls == [None, "4"], "two pages reach event n-6; no more are read"


def test_following_a_live_run_prints_progress_with_sagemaker_details_then_the_failure_and_exits_1():
    events = failed_training_history()
    first_check = next(e["id"] for e in events if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == states.CHECK_VALIDATION)
    second_check = first_check + 9
    assert events[second_check - 1]["stateExitedEventDetails"]["name"] == states.CHECK_VALIDATION
    fake = FakeStepFunctions(events, [3, first_check, first_check + 5, second_check, len(events)])
    details = iter([{"status": "InProgress", "secondary_status": "Starting", "message": "Preparing the instances for training"},
                    {"status": "InProgress", "secondary_status": "Starting", "message": "Preparing the instances for training"},
                    {"status": "InProgress", "secondary_status": "Training", "message": "Training image download completed. Training in progress."}])
    out = io.StringIO()
    code = follow(fake, "arn:aws:states:us-east-1:111111111111:execution:OpenForge-dev-FineTune:x", Terminal(out, io.StringIO()),
                      poll_seconds=0, describe_job=lambda name: next(details), sleep=fake.sleep)
    assert code == EXIT_RUN_FAILED
    assert out.getvalue().splitlines() == [
        "tickets-20261201T120000Z (OpenForge-dev-FineTune), started 2026-12-01 12:00:00 UTC; times are UTC",
        "  12:00:00  Start the validation run (5 steps) ...",
        "              validation run tickets-val-1a2b started (SageMaker training job)",
        "              tickets-val-1a2b: InProgress",
        "              tickets-val-1a2b: InProgress, Starting - Preparing the instances for training",
        "              tickets-val-1a2b: InProgress, Training - Training image download completed. Training in progress.",
        "  12:00:00  Start the validation run (5 steps) ... Failed: AlgorithmError: no assistant turn (3m 00s)",
        "  12:03:00  Validation run failed: AlgorithmError: no assistant turn",
        "  12:03:00  Clean up after the failure ... done (1s)",
        "  12:03:02  Run failed after 3m 02s: ValidationRunFailed",
        "",
        "Run failed: ValidationRunFailed",
        "  Cause  AlgorithmError: no assistant turn",
    ]


def test_training_job_details_come_from_sagemaker():
    with mock_aws():
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        sagemaker.create_training_job(
            TrainingJobName="tickets-t50-1a2b", RoleArn=f"arn:aws:iam::{ACCOUNT}:role/training",
            AlgorithmSpecification={"TrainingImage": f"{ACCOUNT}.dkr.ecr.{REGION}.amazonaws.com/openforge:gpu", "TrainingInputMode": "File"},
            OutputDataConfig={"S3OutputPath": "s3://artifacts/training/"}, StoppingCondition={"MaxRuntimeInSeconds": 3600},
            ResourceConfig={"InstanceType": "ml.g5.2xlarge", "InstanceCount": 1, "VolumeSizeInGB": 50})
        describe = training_job_describer(boto3.Session(region_name=REGION))
        detail = describe("tickets-t50-1a2b")
        assert detail["status"] in ("InProgress", "Completed") and detail["message"], detail
        assert training_job_text("tickets-t50-1a2b", detail).startswith(f"tickets-t50-1a2b: {detail['status']}")
        with pytest.raises(Exception, match="Could not find training job"):
            describe("no-such-job")


def test_a_training_job_sagemaker_will_not_describe_is_said_once_and_not_asked_again():
    from botocore.exceptions import ClientError

    events = failed_training_history()
    first_check = next(e["id"] for e in events if e["type"] == "TaskStateExited" and e["stateExitedEventDetails"]["name"] == states.CHECK_VALIDATION)
    fake, asked = FakeStepFunctions(events, [first_check, first_check + 5, first_check + 9, len(events)]), []

    def refused(name):
        asked.append(name)
        raise ClientError({"Error": {"Code": "AccessDeniedException", "Message": "not authorized to perform sagemaker:DescribeTrainingJob"}},
                          "DescribeTrainingJob")

    out = io.StringIO()
    assert follow(fake, "arn", Terminal(out, io.StringIO()), poll_seconds=0, describe_job=refused, sleep=fake.sleep) == 1
    assert asked == ["tickets-val-1a2b"]
    assert ("              tickets-val-1a2b: no SageMaker details (AccessDeniedException: not authorized to perform sagemaker:DescribeTrainingJob)"
            in out.getvalue().splitlines())
