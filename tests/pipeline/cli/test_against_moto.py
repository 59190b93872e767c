"""The command line's ``follow``, ``summary``, ``start --follow`` and ``stop`` against the
synthesised pipeline, run by moto."""
from __future__ import annotations

import json

import boto3
from moto import mock_aws

from openforge_contract import states
from pipeline.cli.locate import console_url
from tests.pipeline.cli.fakes import ROW_FORGOT, ROW_PASSED, run
from tests.state_machines import ACCOUNT, MOTO_CONFIG, REGION, queue_results
from tests.test_pipeline_stack_runs import DEPLOYED, EXECUTION, finished, run_pipeline, sanitised, started, synthesised, validated  # noqa: F401 (fixture)

from openforge_lambda.choice import choose  # isort: skip


def picked_with_rows() -> dict:
    rows = [ROW_PASSED]
    return {**choose(rows), "runs": rows, "report_s3_uri": "s3://artifacts/reports/tickets/exec-1/"}


def happy_results(synthesised) -> list[dict]:
    plan = validated(synthesised)
    [mix_plan] = plan["plan"]["mixes"]
    training, evaluation = mix_plan["training_job_name"], mix_plan["evaluation_job_name"]
    creating = {"endpoint_name": "tickets", "status": "Creating", "in_service": False, "settled": False, "failure_reason": None}
    in_service = {**creating, "status": "InService", "in_service": True, "settled": True}
    return [plan, *sanitised(), started("validation", plan["plan"]["validation_job_name"]), finished("validation", plan["plan"]["validation_job_name"]),
            started("training", training), {**finished("training", training), "status": "InProgress", "done": False, "wait_seconds": 0}, finished("training", training),
            started("evaluation", evaluation), finished("evaluation", evaluation), picked_with_rows(), DEPLOYED, creating, in_service]


def boto3_session(**kwargs):
    return boto3.Session(region_name=kwargs["region_name"])


def test_follow_and_summary_read_a_run_of_the_synthesised_pipeline_and_start_follow_runs_one(synthesised, tmp_path):
    with mock_aws(config=MOTO_CONFIG):  # run_pipeline's own mock nests inside: its backend stays for us
        outcome = run_pipeline(synthesised, happy_results(synthesised))
        assert outcome["described"]["status"] == "SUCCEEDED"
        execution = outcome["described"]["executionArn"]

        code, out, err = run(["follow", execution, "--poll", "0"], session_factory=boto3_session)
        assert (code, err) == (0, ""), out
        lines = out.splitlines()
        named = [next(name for name in states.WORK_STEPS if f"  {name}" in line) for line in lines if any(f"  {name}" in line for name in states.WORK_STEPS)]
        assert list(dict.fromkeys(named)) == list(states.WORK_STEPS), "the work steps, in the state machine's order"
        assert any("Start training [mix 50%] ... done (" in line for line in lines)
        assert "Deploy the private endpoint ... done: endpoint tickets in service" in out
        summary_at = lines.index(f"Run tickets, execution {EXECUTION}: succeeded")
        table = lines[summary_at:]
        assert f"  Gate            passed: {picked_with_rows()['cause']}" in table
        assert "  Endpoint        tickets: InService" in table
        assert any(line.split()[:2] == ["50%", "passed"] and line.endswith("6f0c2d9e8b7a4c1d") for line in table), "the mix's row, its MLflow run"

        code, out, _ = run(["summary", execution], session_factory=boto3_session)
        assert code == 0 and out.splitlines() == table

        # A second run, started by the client from a file and followed while moto runs it.
        machine = f"arn:aws:states:{REGION}:{ACCOUNT}:stateMachine:fine-tune"
        path = tmp_path / "run.json"
        path.write_text(json.dumps({"job_name": "tickets", "customer_data_s3_uri": f"s3://{synthesised.datasets}/raw/tickets/", "deploy": {"enabled": True}}))
        queue_results(*happy_results(synthesised))
        code, out, err = run(["start", str(path), "--state-machine-arn", machine, "--name", "exec-2", "--follow", "--poll", "0.05"],
                             session_factory=boto3_session)
        assert (code, err) == (0, ""), out
        execution = f"arn:aws:states:{REGION}:{ACCOUNT}:execution:fine-tune:exec-2"
        assert out.splitlines()[:3] == ["Capacity plan: not shown (the environment's default base model is not known here); ValidateInput checks it",
                                        f"Started {execution}", f"Console: {console_url(execution)}"]
        assert "Run finished after" in out and "  Endpoint        tickets: InService" in out
        sfn = boto3.client("stepfunctions", region_name=REGION)
        assert json.loads(sfn.describe_execution(executionArn=execution)["input"]) == json.loads(path.read_text()), "sent as written"


def test_a_failed_run_of_the_synthesised_pipeline_summarises_as_its_cause_and_exits_1(synthesised):
    plan = validated(synthesised)
    [mix_plan] = plan["plan"]["mixes"]
    forgot = {**choose([ROW_FORGOT]), "runs": [ROW_FORGOT], "report_s3_uri": "s3://artifacts/reports/x/"}
    with mock_aws(config=MOTO_CONFIG):
        outcome = run_pipeline(synthesised, [plan, *sanitised(), started("validation", "v"), finished("validation", "v"),
                                             started("training", mix_plan["training_job_name"]), finished("training", mix_plan["training_job_name"]),
                                             started("evaluation", mix_plan["evaluation_job_name"]), finished("evaluation", mix_plan["evaluation_job_name"]),
                                             forgot])
        code, out, _ = run(["summary", outcome["described"]["executionArn"]], session_factory=boto3_session)
    assert code == 1
    lines = out.splitlines()
    assert lines[:2] == ["Run failed: ForgettingGateFailed", f"  Cause  {forgot['cause']}"]
    assert lines[-1] == f"  mix 75%: {ROW_FORGOT['gate']['cause']}" and "mmlu forgot: it kept 73%" in lines[-1]


def test_stop_stops_the_execution_and_the_jobs_it_started(synthesised, monkeypatch):
    """A stop runs none of the execution's states, so `stop` does its clean-up: the run waits
    for its validation run (an hour's poll) while the job runs, and both stop."""
    from moto.sagemaker.models import sagemaker_backends
    from moto.sagemaker.responses import SageMakerResponse

    from openforge_contract.environment_variables import TrainingEnvironment
    from tests.lambdas.training_runs import _stop_training_job, request_for

    monkeypatch.setattr(SageMakerResponse, "stop_training_job", _stop_training_job, raising=False)  # moto lacks it
    plan = validated(synthesised)
    name = plan["plan"]["validation_job_name"]
    checked = {**finished("validation", name), "status": "InProgress", "done": False, "output_s3_uri": None, "wait_seconds": 3600}
    with mock_aws(config=MOTO_CONFIG):
        execution = run_pipeline(synthesised, [plan, *sanitised(), started("validation", name), checked], until=states.WAIT_VALIDATION)["execution_arn"]
        sagemaker = boto3.client("sagemaker", region_name=REGION)
        environment = TrainingEnvironment("gpu-image", "neuron-image", "arn:aws:iam::123456789012:role/train", ("subnet-a",), ("sg-a",),
                                          "arn:aws:kms:us-east-1:123456789012:key/k", "arn:mlflow", 3600)
        sagemaker.create_training_job(**request_for("validation", plan["run"], plan["plan"], plan["plan"]["mixes"][0], environment))
        sagemaker_backends[ACCOUNT][REGION].training_jobs[name].training_job_status = "InProgress"

        code, out, err = run(["stop", execution], session_factory=boto3_session)
        assert (code, err) == (0, ""), out
        assert f"Stopped jobs  {name}" in out
        assert sagemaker.describe_training_job(TrainingJobName=name)["TrainingJobStatus"] == "Stopping"
        assert boto3.client("stepfunctions", region_name=REGION).describe_execution(executionArn=execution)["status"] == "ABORTED"
        code, out, _ = run(["stop", execution], session_factory=boto3_session)
        assert code == 0 and "has already ended (ABORTED): nothing to stop" in out
