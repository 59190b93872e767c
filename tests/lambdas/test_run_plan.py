"""The run plan: names a retry finds again and SageMaker accepts, locations the platform's
roles may use."""
import re
from dataclasses import replace

import pytest

from tests.lambdas.test_validate_input import MINIMAL, POLICY

from openforge_lambda.pipeline_input import PipelineInputError, parse_run  # isort: skip
from openforge_lambda.run_plan import PlatformLocations, percent_label, plan_run  # isort: skip

PLATFORM = PlatformLocations("openforge-dev-datasets-111111111111-us-east-1", "openforge-dev-artifacts-111111111111-us-east-1", 5)
SAGEMAKER_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


def plan(execution_name="exec-1", **change) -> dict:
    """The plan as the state machine carries it."""
    return plan_run(parse_run({**MINIMAL, **change}, POLICY), execution_name, PLATFORM).to_dict()


def test_a_retry_gets_the_same_names_and_another_execution_gets_others():
    assert plan("exec-1") == plan("exec-1")
    first, second = plan("exec-1"), plan("exec-2")
    assert first["validation_job_name"] != second["validation_job_name"]
    assert first["mixes"][0]["training_job_name"] != second["mixes"][0]["training_job_name"]


def test_every_grid_point_gets_its_own_jobs_with_names_sagemaker_accepts():
    longest = "a" * 41
    result = plan("x" * 80, job_name=longest, grid={"customer_data_percent": [12.5, 50, 100]})
    assert [mix["label"] for mix in result["mixes"]] == ["12p5", "50", "100"]
    names = [result["validation_job_name"]] + [mix[kind] for mix in result["mixes"] for kind in ("training_job_name", "evaluation_job_name")]
    assert len(set(names)) == len(names)
    for name in names:
        assert SAGEMAKER_NAME.match(name) and len(name) <= 63, name


def test_percent_labels():
    assert [percent_label(p) for p in (0, 75, 12.5, 100.0)] == ["0", "75", "12p5", "100"]


def test_the_plan_reads_the_sanitised_copy_and_writes_under_the_execution():
    result = plan("exec-9")
    assert result["sanitisation"]["input_prefix"] == "raw/support-tickets/"
    assert result["customer_data_s3_uri"] == f"s3://{PLATFORM.datasets_bucket}/sanitised/support-tickets/exec-9/clean/"
    for key in ("training_output_s3_uri", "checkpoint_s3_uri", "report_s3_uri"):
        assert result[key].startswith(f"s3://{PLATFORM.artifacts_bucket}/") and result[key].endswith("/support-tickets/exec-9/")


@pytest.mark.parametrize("field, change", [
    ("curated_data_s3_uri", {"curated_data_s3_uri": f"s3://{PLATFORM.datasets_bucket}/raw/curated/"}),
    ("evaluation.data_s3_uri", {"evaluation": {"data_s3_uri": f"s3://{PLATFORM.artifacts_bucket}/evaluation/x/"}}),
])
def test_a_location_outside_its_prefix_names_the_field(field, change):
    with pytest.raises(PipelineInputError, match=rf"^{re.escape(field)}: .* is not under s3://"):
        plan(**change)
    with pytest.raises(PipelineInputError, match=r"^execution_name: required"):
        plan_run(parse_run(MINIMAL, POLICY), "", PLATFORM)


def test_a_name_sagemaker_would_refuse_is_refused_naming_the_job_name():
    """The input's pattern leaves room for the suffixes today; the plan checks what it makes."""
    run = replace(parse_run(MINIMAL, POLICY), job_name="a" * 60)  # as a run from elsewhere than normalise could have it
    with pytest.raises(PipelineInputError, match=r"^job_name: makes the validation_job_name 'a{60}-val-[0-9a-f]{8}', which SageMaker "
                                                 r"does not take as a name \(1-63 letters, digits or hyphens\); use a shorter job_name$"):
        plan_run(run, "exec-1", PLATFORM)


def test_grid_points_that_would_share_a_job_name_never_reach_the_plan():
    with pytest.raises(PipelineInputError, match=r"^grid\.customer_data_percent: 50 and 50\.0000001 would give their jobs the same name"):
        plan(grid={"customer_data_percent": [50, 50.0000001]})
    names = [mix["training_job_name"] for mix in plan(grid={"customer_data_percent": [50, 50.001]})["mixes"]]
    assert len(set(names)) == 2, names
