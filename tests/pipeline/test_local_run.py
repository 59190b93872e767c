"""The local runner behind `make demo`: the pipeline's steps, in the state machine's order,
each through the code the cloud runs; the demo itself (a mixing grid on the shipped base
model, the gate refusing customer-only fine-tuning), and what stops a run early."""
from __future__ import annotations

import copy
import io
import json
import re
import shutil
from pathlib import Path

import pytest

from openforge_contract import states
from openforge_contract.environment_variables import TrainingEnvironment
from openforge_lambda.training_job import training_job_request
from openforge_contract.gate_words import FORGOT, KEPT
from pipeline.local.demo_data import BASE_MODEL, DemoSizes, copy_base_model
from pipeline.local.plot import COMPARISON_PNG
from pipeline.local.execution import Options
from pipeline.local.jobs import LocalRunRefused, check_runnable
from pipeline.local.main import DEFAULT_INPUT, main
from pipeline.local.runner import run_pipeline
from pipeline.local.s3 import LocalS3

SMALL = DemoSizes(customer=200, per_category=48, held_out=8, mmlu_questions=4, ifeval_items=8)
GRID = (100, 75, 50)  # the default input's mixes


def demo_input(**changes) -> dict:
    pipeline_input = json.loads(DEFAULT_INPUT.read_text())
    for dotted, value in changes.items():
        *path, last = dotted.split("__")
        target = pipeline_input
        for key in path:
            target = target[key]
        target[last] = value
    return pipeline_input


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory, mlflow_server):
    """`make demo` itself: the default input (customer only, 75 % and 50 % on the shipped base
    model) on the default data, with the product's gate limits."""
    out = io.StringIO()
    options = Options(work=tmp_path_factory.mktemp("demo") / "work", execution_name="test-run", mlflow=mlflow_server)
    result = run_pipeline(json.loads(DEFAULT_INPUT.read_text()), options, out=out)
    assert result.succeeded, out.getvalue()[-6000:]
    return result, out.getvalue(), mlflow_server


def rows_by_percent(result) -> dict:
    return {row["customer_data_percent"]: row for row in result.summary["selection"]["runs"]}


def evaluation_json(result, row) -> dict:
    return json.loads((Path(result.summary["local"]["files"][row["evaluation_job_name"]]) / "evaluation.json").read_text())


def test_visits_the_state_machines_work_steps_in_order(demo_run):
    result, printed, _ = demo_run
    mixes = [step for _ in GRID for step in (states.TRAIN, states.EVALUATE)]
    assert result.visited == [states.VALIDATE, states.SANITISE, states.VALIDATION_RUN, *mixes, states.PICK, states.DEPLOY, states.SUMMARISE]
    assert tuple(dict.fromkeys(result.visited)) == states.WORK_STEPS
    assert result.end_state == states.SUCCEEDED
    for name in states.WORK_STEPS:  # one line as each step starts, one as it ends
        assert f"▶ {name}" in printed and f"{name} (" in printed


def test_the_gate_refuses_customer_only_for_forgetting_and_picks_a_mix(demo_run):
    """The demo's point, on real numbers: the base knows something (a general benchmark above
    chance beyond noise), customer-only fine-tuning loses it beyond noise and is refused, a mix
    keeps it and is chosen."""
    result, printed, _ = demo_run
    rows = rows_by_percent(result)
    assert set(rows) == set(GRID)
    customer_only = rows[100]
    assert customer_only["status"] == "failed gate" and "forgot" in customer_only["gate"]["cause"]
    forgot = {name: entry for name, entry in customer_only["general"].items() if entry["status"] == FORGOT}
    assert forgot, customer_only["general"]
    for name, entry in forgot.items():
        assert entry["change_interval"][1] < 0, f"{name}: the drop must be beyond noise"
        assert entry["retention"] < customer_only["gate"]["limits"]["min_general_retention"]
        assert evaluation_json(result, customer_only)["benchmarks"][name]["base_informative"] is True
    chosen = result.summary["selection"]["chosen"]
    assert chosen["customer_data_percent"] in (75, 50) and chosen["status"] == "passed"
    assert all(entry["status"] != FORGOT for entry in chosen["general"].values())
    assert chosen["domain"]["gain"] >= 0.1 and customer_only["domain"]["gain"] >= 0.1  # both learned the tickets
    assert f"mix {chosen['customer_data_percent']}% chosen" in result.summary["selection"]["cause"]
    assert "(forgot)" in printed and re.search(r"100% +failed gate", printed)


def test_no_retention_above_100_percent_is_shown_for_noise(demo_run):
    result, printed, _ = demo_run
    for row in result.summary["selection"]["runs"]:
        for entry in row["general"].values():
            if entry["status"] in (KEPT, FORGOT):
                assert entry["in_words"].startswith("kept ") and entry["retention"] <= 1
            else:
                assert "%" not in entry["in_words"], entry
    shown = [int(value) for value in re.findall(r"kept (\d+)%", printed)]
    assert shown and max(shown) <= 100


def test_the_comparison_is_a_picture_a_person_opens(demo_run):
    import matplotlib.image

    result, printed, _ = demo_run
    png = Path(result.summary["local"]["files"][COMPARISON_PNG])
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    height, width, _ = matplotlib.image.imread(png).shape
    assert width > 2 * height > 600
    assert f"{COMPARISON_PNG}" in printed


def test_sanitisation_counts_include_the_messy_lines(demo_run):
    result, printed, _ = demo_run
    sanitisation = result.summary["sanitisation"]
    assert sanitisation["lines_in"] == result.summary["local"]["demo_data"]["raw_lines"]
    assert sanitisation["quarantined"] > 0 and sanitisation["passed"] is True
    assert sanitisation["lines_in"] == sanitisation["clean"] + sanitisation["quarantined"] + sanitisation["duplicates"]
    clean = result.work / "s3" / "openforge-local-datasets" / "sanitised" / "demo-tickets" / "test-run" / "clean"
    assert sorted(path.name for path in clean.iterdir()) == ["tickets-2024-05.jsonl", "tickets-2024-06.jsonl"]
    assert (clean.parent / "report.md").is_file() and (clean.parent / "plan" / "items.json").is_file()
    assert f"{sanitisation['quarantined']} quarantined" in printed


def test_the_jobs_ran_the_requests_the_lambda_builds(demo_run):
    result, _, _ = demo_run
    plan_jobs = sorted(path.name for path in (result.work / "jobs").iterdir())
    validation = result.summary["validation_run"]
    rows = result.summary["selection"]["runs"]
    assert plan_jobs == sorted([validation["job_name"], *[name for row in rows for name in (row["training_job_name"], row["evaluation_job_name"])]])
    for row in rows:
        job = result.work / "jobs" / row["training_job_name"]
        hyperparameters = json.loads((job / "input" / "config" / "hyperparameters.json").read_text())
        steps = demo_input()["hyperparameters"]["max_steps"]
        assert hyperparameters["max_steps"] == str(steps) and hyperparameters["customer_data_percent"] == str(row["customer_data_percent"])
        channels = ["customer", "model"] + (["curated"] if row["customer_data_percent"] < 100 else [])
        assert sorted(path.name for path in (job / "input" / "data").iterdir()) == sorted(channels)
        record = json.loads((Path(result.summary["local"]["files"][row["training_job_name"]]) / "openforge-run.json").read_text())
        assert record["steps"] == steps
    validation_hyperparameters = json.loads((result.work / "jobs" / validation["job_name"] / "input" / "config" / "hyperparameters.json").read_text())
    assert validation_hyperparameters["max_steps"] == "5"


def test_gate_verdict_comes_from_evaluation_json(demo_run):
    result, printed, _ = demo_run
    for row in result.summary["selection"]["runs"]:
        evaluation = evaluation_json(result, row)
        assert set(evaluation["benchmarks"]) == {"mmlu_0shot", "mmlu_5shot", "ifeval", "byod"}
        assert row["gate"]["passed"] is evaluation["gate"]["passed"]
        assert row["domain"]["tuned"] == evaluation["benchmarks"]["byod"]["tuned"]
        assert {name: entry["status"] for name, entry in row["general"].items()} == {
            name: entry["status"] for name, entry in evaluation["benchmarks"].items() if entry["kind"] == "general"}
    assert result.summary["selection"]["passed"] is True
    assert f"Gate            passed: {result.summary['selection']['cause']}" in printed


def test_comparison_files_are_under_the_report_prefix(demo_run):
    result, _, _ = demo_run
    report = LocalS3(result.work / "s3").path(result.summary["selection"]["report_s3_uri"])
    for name in ("comparison.json", "comparison.md", "comparison.svg"):
        assert (report / name).is_file() and (report / name).stat().st_size > 0
    assert json.loads((report / "comparison.json").read_text())["job_name"] == "demo-tickets"
    assert (report / "comparison.svg").read_text().lstrip().startswith("<svg")
    assert "| 100% | failed gate |" in (report / "comparison.md").read_text()


def test_smoke_test_answers_a_held_out_prompt(demo_run):
    result, printed, _ = demo_run
    endpoint = result.summary["endpoint"]
    assert endpoint["in_service"] is True and endpoint["endpoint_name"] == "demo-tickets"
    smoke = endpoint["local_smoke_test"]
    assert smoke["prompt"].startswith("Classify this support ticket.")
    assert smoke["answer"].strip(), "the tuned model generated no text"
    assert f"answer:    {' '.join(smoke['answer'].split())}" in printed
    assert re.search(r"Smoke test +'Classify this support ticket\.", printed)


def test_the_training_runs_are_in_mlflow(demo_run):
    from mlflow.tracking import MlflowClient

    result, _, uri = demo_run
    for row in result.summary["selection"]["runs"]:
        assert row["mlflow_run_id"], "openforge-run.json names no MLflow run"
        run = MlflowClient(tracking_uri=uri).get_run(row["mlflow_run_id"])
        assert run.info.run_name == row["training_job_name"]
        assert run.data.tags["mix_ratio"] == f"{row['customer_data_percent'] / 100:g}" and run.data.tags["method"] == "lora"
        assert "loss" in run.data.metrics
        assert result.summary["local"]["mlflow"]["runs"][row["training_job_name"]] == row["mlflow_run_id"]
        assert result.summary["local"]["mlflow"]["runs"][row["evaluation_job_name"]]  # the evaluation tracked too


def test_summary_is_written_and_printed(demo_run):
    result, printed, _ = demo_run
    written = json.loads((result.work / "summary.json").read_text())
    assert set(written) >= {"job_name", "execution_name", "sanitisation", "validation_run", "selection", "endpoint"}
    assert written["validation_run"]["status"] == "Completed"
    assert "=== demo-tickets, execution test-run: Run finished ===" in printed


def test_a_base_model_that_is_not_what_made_it_is_refused(tmp_path):
    shipped = tmp_path / "base"
    shutil.copytree(BASE_MODEL, shipped)
    with open(shipped / "model.safetensors", "r+b") as weights:  # one byte of the weights changed
        weights.seek(-1, 2)
        last = weights.read(1)
        weights.seek(-1, 2)
        weights.write(bytes([last[0] ^ 1]))
    with pytest.raises(ValueError, match="model.safetensors differs from its sha256 in provenance.json"):
        copy_base_model(shipped, tmp_path / "copy")
    assert not (tmp_path / "copy").exists()


def test_bad_input_stops_at_validate_naming_the_field(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(demo_input(mixing__customer_data_percent=120)))
    work = tmp_path / "work"
    status = main(["--input", str(bad), "--work", str(work), "--no-mlflow"])
    printed = capsys.readouterr().out
    assert status == 1
    assert "InvalidInput" in printed and "mixing.customer_data_percent: 120 is greater than the maximum of 100" in printed
    summary = json.loads((work / "summary.json").read_text())
    assert summary["failure"]["error"] == "InvalidInput"
    assert f"▶ {states.VALIDATE}" in printed and f"▶ {states.SANITISE}" not in printed
    assert not (work / "jobs").exists() and not (work / "s3" / "openforge-local-datasets" / "sanitised").exists()


def test_bad_input_result(tmp_path):
    result = run_pipeline(demo_input(hyperparameters__per_device_batch_size=5), Options(work=tmp_path / "w", mlflow="off", sizes=SMALL),
                                out=io.StringIO())
    assert result.visited == [states.VALIDATE]
    assert not result.succeeded and result.end_state == states.INPUT_INVALID
    assert result.error["cause"].startswith("hyperparameters.per_device_batch_size:")


def _request(**run_changes) -> dict:
    from openforge_lambda.pipeline_input import parse_run
    from openforge_lambda.run_plan import PlatformLocations, plan_run
    from openforge_lambda.training_job import job_plan

    run = parse_run(demo_input(**run_changes))
    plan = plan_run(run, "exec-1", PlatformLocations("openforge-local-datasets", "openforge-local-artifacts"))
    environment = TrainingEnvironment("gpu", "neuron", "role", ("subnet",), ("sg",), "key", "http://127.0.0.1:5000", 3600)
    return training_job_request(job_plan("training", run, plan, plan.mixes[0], mlflow_tracking_uri=environment.mlflow_tracking_server_arn),
                                environment)


def test_what_a_laptop_cannot_honour_is_refused_by_name():
    check_runnable(_request())
    with pytest.raises(LocalRunRefused, match=r"^HyperParameters\.precision: bf16"):
        check_runnable(_request(hyperparameters__precision="bf16"))
    with pytest.raises(LocalRunRefused, match=r"^ResourceConfig\.InstanceCount: 2 instances"):
        check_runnable(_request(compute__instance_count=2))
    arn = copy.deepcopy(_request())
    arn["HyperParameters"]["mlflow_tracking_uri"] = "arn:aws:sagemaker:us-east-1:111111111111:mlflow-tracking-server/x"
    with pytest.raises(LocalRunRefused, match=r"^HyperParameters\.mlflow_tracking_uri"):
        check_runnable(arn)


def test_a_relative_work_folder_reaches_the_jobs(tmp_path, monkeypatch):
    """The jobs run in folders of their own, so every path they get must be absolute; the
    container's own failure reason (here: a curated category with no files) comes back as the job's."""
    monkeypatch.chdir(tmp_path)
    pipeline_input = demo_input(mixing__curated_weights={"reasoning": 50, "poetry": 50}, grid=None)  # the validation run takes mix 75 %
    result = run_pipeline(pipeline_input, Options(work=Path("relative/work"), mlflow="off", sizes=SMALL), out=io.StringIO())
    assert result.visited == [states.VALIDATE, states.SANITISE, states.VALIDATION_RUN, states.CLEAN_UP]
    assert result.error["error"] == "ValidationRunFailed"
    assert result.error["cause"].startswith("InputError: ") and "poetry" in result.error["cause"], result.error
    assert (tmp_path / "relative" / "work" / "jobs").is_dir()


def test_local_s3_maps_uris_both_ways(tmp_path):
    store = LocalS3(tmp_path)
    path = store.path("s3://bucket/a/b.json")
    assert path == tmp_path / "bucket" / "a" / "b.json"
    path.parent.mkdir(parents=True)
    path.write_text("{}")
    assert store.uri(path) == "s3://bucket/a/b.json"
    client = store.client()
    client.put_object(Bucket="bucket", Key="c/d.txt", Body=b"hello")
    assert client.get_object(Bucket="bucket", Key="c/d.txt")["Body"].read() == b"hello"
    with pytest.raises(Exception, match="NoSuchKey"):
        client.get_object(Bucket="bucket", Key="missing")
    with pytest.raises(ValueError):
        store.path("s3://bucket/../escape")


def test_too_much_quarantined_stops_after_sanitise(tmp_path):
    """20 clean tickets and the messy sample's 13 lines: 5 quarantined, 15 % > the 5 % limit."""
    result = run_pipeline(demo_input(), Options(work=tmp_path / "w", mlflow="off", sizes=DemoSizes(customer=20, held_out=2, mmlu_questions=1)),
                                out=io.StringIO())
    assert result.visited == [states.VALIDATE, states.SANITISE, states.CLEAN_UP]
    assert result.end_state == states.FAILED and result.error["error"] == "QuarantineLimitExceeded"
    assert "5 of 33 lines quarantined" in result.error["cause"] and "limit 5%" in result.error["cause"]
    assert result.summary["sanitisation"]["passed"] is False
    assert not (tmp_path / "w" / "jobs").exists()
