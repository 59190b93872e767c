"""Given the mixing grid's outcomes, when the model is picked, then the best held-out score
among the mixes that kept their general skills wins (ties: more retention, then more
curated data), a grid where nothing passed says why for every mix and what to do, and the
comparison (JSON, Markdown, SVG) lands under the report prefix under KMS.

The evaluation.json contents are built with the training container's own gate.verdict and
report.benchmark_entry, so the shapes here are the shapes the evaluation job writes."""
from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import boto3
import pytest

from tests.lambdas.conftest import LambdaContext, load_handler

from openforge_contract.capacity_plan import plan_training
from openforge_contract.gate_words import NO_CHANGE, UNINFORMATIVE
from openforge_contract.reference_models import CONFIGS
from openforge_training.evaluation.gate import FORGETTING_REMEDY, NO_GAIN_REMEDY, Limits, verdict
from openforge_training.evaluation.harness import Score
from openforge_training.evaluation.report import SCHEMA, benchmark_entry

from tests.lambdas.training_runs import run_and_plan as validated_run_and_plan

from openforge_lambda.choice import choose, run_summary, step_remedy  # isort: skip
from openforge_lambda.comparison_report import comparison_markdown, comparison_svg  # isort: skip
from openforge_lambda.run import Run  # isort: skip
from openforge_lambda.run_plan import RunPlan  # isort: skip
from openforge_lambda.selection import pick as pick_typed  # isort: skip

BUCKET = "openforge-test-datasets"  # the conftest's KMS-encrypted bucket stands in for the artifacts bucket
TRAINING = f"s3://{BUCKET}/training/tickets/exec-1/"
REPORT = f"s3://{BUCKET}/reports/tickets/exec-1/"
SVG = "{http://www.w3.org/2000/svg}"
BASE = {"mmlu_0shot": 0.60, "ifeval": 0.50, "byod": 0.40}
ITEMS = 1000  # per benchmark: enough that a drop of 0.1 is beyond noise


def evaluation(mmlu=0.60, ifeval=0.50, byod=0.80, base=None, limits=Limits(), examples=1) -> dict:
    """An evaluation.json as the evaluation job writes it (benchmark entries, gate verdict)."""
    base = {**BASE, **(base or {})}
    metrics = {"mmlu_0shot": "acc", "ifeval": "prompt_level_strict_acc", "byod": "accuracy"}
    details = {"examples": [{"reference": "shipping", "answer": "shipping " * 50}] * examples}
    tuned = {"mmlu_0shot": mmlu, "ifeval": ifeval, "byod": byod}
    benchmarks = {name: benchmark_entry(name, "domain" if name == "byod" else "general", Score(metrics[name], base[name], ITEMS, details),
                                        Score(metrics[name], tuned[name], ITEMS, details)) for name in metrics}
    return {"schema": SCHEMA, "base_model": "/opt/ml/input/data/model", "tuned_model": "/opt/ml/input/data/tuned",
            "benchmarks": benchmarks, "gate": verdict(benchmarks, limits)}


def mix(percent: int) -> dict:
    return {"customer_data_percent": percent, "label": str(percent),
            "training_job_name": f"tickets-t{percent}-7f3a9c01", "evaluation_job_name": f"tickets-e{percent}-7f3a9c01"}


def record(percent: int) -> dict:
    return {"mlflow_run_id": f"run{percent}", "steps": 240, "final_loss": 0.4321, "mix": {"target": {"customer": percent}}}


def model_uri(percent: int) -> str:
    return f"{TRAINING}tickets-t{percent}-7f3a9c01/output/model/"


def row(percent: int, **scores) -> dict:
    return run_summary(mix(percent), evaluation(**scores), record(percent), None, model_uri(percent))


def failed_row(percent: int, step="training", cause="AlgorithmError: CUDA out of memory") -> dict:
    return run_summary(mix(percent), None, None, {"step": step, "cause": cause}, None)


# --- one row -------------------------------------------------------------------------


def test_a_row_summarises_the_gate_retention_held_out_score_and_the_training_record():
    summary = row(75, mmlu=0.588, byod=0.70)
    assert summary["status"] == "passed" and summary["gate"]["passed"] and summary["gate"]["remedy"] == ""
    assert summary["general"] == {
        "mmlu_0shot": {"status": NO_CHANGE, "retention": 0.965714, "base": 0.6, "tuned": 0.588, "chance": 0.25,
                       "change_interval": [-0.0549, 0.031], "in_words": f"{NO_CHANGE} (0.600 -> 0.588)"},
        "ifeval": {"status": NO_CHANGE, "retention": 1.0, "base": 0.5, "tuned": 0.5, "chance": 0.0,
                   "change_interval": [-0.0437, 0.0437], "in_words": f"{NO_CHANGE} (0.500 -> 0.500)"},
    }
    assert summary["min_general_retention"] == 0.9657  # of the skill above chance (0.338 / 0.350)
    assert summary["domain"] == {"benchmark": "byod", "metric": "accuracy", "base": 0.4, "tuned": 0.7, "gain": 0.3}
    assert (summary["mlflow_run_id"], summary["steps"], summary["final_loss"]) == ("run75", 240, 0.4321)
    assert summary["model_s3_uri"] == model_uri(75) and summary["customer_data_percent"] == 75
    assert (summary["training_job_name"], summary["evaluation_job_name"]) == ("tickets-t75-7f3a9c01", "tickets-e75-7f3a9c01")


def test_a_forgetting_model_fails_the_gate_with_its_cause_and_remedy():
    summary = row(100, mmlu=0.504, byod=0.90)
    assert summary["status"] == "failed gate" and not summary["gate"]["passed"]
    assert summary["gate"]["cause"].startswith("mmlu_0shot forgot: it kept 73% of the base model's skill above chance (acc 0.600 -> 0.504")
    assert summary["general"]["mmlu_0shot"]["in_words"] == "kept 73% (forgot)"
    assert summary["gate"]["remedy"] == FORGETTING_REMEDY and summary["model_s3_uri"] == model_uri(100)


def test_a_base_at_chance_is_uninformative_in_the_row_and_never_counts_as_retention():
    summary = row(50, ifeval=0.10, base={"ifeval": 0.0})
    assert summary["general"]["ifeval"]["status"] == UNINFORMATIVE and summary["general"]["ifeval"]["retention"] is None
    assert summary["general"]["ifeval"]["in_words"] == "uninformative (base at chance)"
    assert summary["min_general_retention"] == 1.0 and summary["status"] == "passed"  # mmlu_0shot alone
    at_chance = row(50, mmlu=0.25, ifeval=0.3, base={"mmlu_0shot": 0.26, "ifeval": 0.0})
    assert at_chance["status"] == "failed gate" and at_chance["min_general_retention"] is None
    assert at_chance["gate"]["cause"].startswith("no general check: the base model is at chance on every general benchmark")


def test_an_evaluation_without_gate_statuses_is_refused_by_name():
    old = evaluation()
    del old["benchmarks"]["ifeval"]["status"]
    summary = run_summary(mix(75), old, record(75), None, model_uri(75))
    assert summary["status"] == "failed: evaluation" and "general benchmark ifeval has no gate status" in summary["gate"]["cause"]


def test_a_failed_step_or_an_unreadable_evaluation_is_a_failed_mix_without_a_model():
    summary = failed_row(75)
    assert summary["status"] == "failed: training" and summary["model_s3_uri"] is None and summary["domain"] is None
    assert summary["gate"] == {"passed": False, "cause": "training failed: AlgorithmError: CUDA out of memory",
                               "remedy": step_remedy("training"), "limits": None}
    malformed = run_summary(mix(50), {"benchmarks": {"byod": {"kind": "domain"}}, "gate": {"passed": True}}, record(50), None, model_uri(50))
    assert malformed["status"] == "failed: evaluation" and "benchmark byod has no base and tuned scores in [0, 1]" in malformed["gate"]["cause"]
    assert run_summary(mix(50), None, record(50), None, model_uri(50))["status"] == "failed: evaluation"
    lambda_error = json.dumps({"errorType": "ClientError", "errorMessage": "AccessDenied on CreateTrainingJob", "stackTrace": ["..."]})
    assert failed_row(25, cause=lambda_error)["gate"]["cause"] == "training failed: AccessDenied on CreateTrainingJob"
    assert failed_row(25, cause="x" * 50_000)["gate"]["cause"].endswith("x…") and len(failed_row(25, cause="x" * 50_000)["gate"]["cause"]) < 1100


def _crafted(change) -> dict:
    document = evaluation(byod=0.70)
    change(document)
    return document


@pytest.mark.parametrize("change, problem", [
    (lambda e: e["benchmarks"]["mmlu_0shot"].update(status="forgot"), "the gate says passed, yet a general benchmark forgot"),
    (lambda e: e["benchmarks"].pop("byod"), "the gate says passed without a held-out (domain) result"),
    (lambda e: e["benchmarks"]["mmlu_0shot"].update(retention=float("nan")), "retention that is not a finite number"),
    (lambda e: e["benchmarks"]["byod"].update(tuned=1e308), "benchmark byod has no base and tuned scores in [0, 1]"),
    (lambda e: e["benchmarks"]["ifeval"].update(change_interval=["x", 1]), "change interval that is not two finite numbers"),
    (lambda e: e["gate"].update(limits={"min_general_retention": 0.97}), "the gate's limits are not numbers"),
])
def test_a_crafted_or_contradictory_evaluation_fails_that_mix_with_the_reason(change, problem):
    summary = run_summary(mix(75), _crafted(change), record(75), None, model_uri(75))
    assert summary["status"] == "failed: evaluation" and summary["model_s3_uri"] is None
    assert problem in summary["gate"]["cause"]
    rows = [summary, row(50, byod=0.62)]
    json.dumps(comparison_markdown(rows, choose(rows)))
    ET.fromstring(comparison_svg(rows, choose(rows)))


def test_the_waiver_note_appears_only_where_it_let_a_mix_through():
    checked = row(75, byod=0.70, limits=Limits(waive_general_check=True))  # general benchmarks were checked: the waiver did nothing
    assert checked["gate"]["waived"] is False
    assert "waived" not in comparison_markdown([checked], choose([checked]))
    held_out_only = evaluation(byod=0.70, limits=Limits(waive_general_check=True))
    held_out_only["benchmarks"] = {"byod": held_out_only["benchmarks"]["byod"]}
    held_out_only["gate"] = verdict(held_out_only["benchmarks"], Limits(waive_general_check=True))
    waived = run_summary(mix(50), held_out_only, record(50), None, model_uri(50))
    assert waived["status"] == "passed" and waived["gate"]["waived"] is True
    assert "The general check was waived: mix 50%." in comparison_markdown([checked, waived], choose([checked, waived]))


def test_a_diverged_loss_is_left_out_so_the_result_stays_json():
    diverged = run_summary(mix(75), evaluation(byod=0.70), {**record(75), "final_loss": float("nan")}, None, model_uri(75))
    assert diverged["final_loss"] is None and diverged["steps"] == 240
    json.dumps(diverged, allow_nan=False)


def test_a_row_carries_the_mixs_planned_and_actual_figures_and_an_older_record_none():
    plan = plan_training(CONFIGS["Llama-3.1-8B"], instance_type="ml.p5.48xlarge", tokens=2_000_000)
    actual = {"peak_memory_bytes": 27 * 2**30, "memory": "device", "hours": 0.4, "tokens": 1_990_000}
    planned = run_summary(mix(75), evaluation(), {**record(75), "capacity": {"planned": plan.to_dict(), "actual": actual}}, None, model_uri(75))
    assert planned["capacity"] == {
        "planned": {"memory_per_device_bytes": plan.memory["total"], "hours": plan.hours, "tokens": 2_000_000, "sharding": "none"},
        "actual": actual,
    }
    unplanned = run_summary(mix(75), evaluation(), {**record(75), "capacity": {"planned": None, "actual": actual}}, None, model_uri(75))
    assert unplanned["capacity"] == {"planned": None, "actual": actual}
    assert row(75)["capacity"] is None, "a run record from before the container planned its run"
    assert failed_row(75)["capacity"] is None
    crafted = {"planned": {"memory": "a lot", "hours": float("nan")}, "actual": {"peak_memory_bytes": True, "memory": 3}}
    odd = run_summary(mix(75), evaluation(), {**record(75), "capacity": crafted}, None, model_uri(75))["capacity"]
    assert odd == {"planned": {"memory_per_device_bytes": None, "hours": None, "tokens": None, "sharding": None},
                   "actual": {"peak_memory_bytes": None, "hours": None, "tokens": None, "memory": None}}
    json.dumps(odd, allow_nan=False)


# --- the policy ----------------------------------------------------------------------


def test_the_best_held_out_score_among_the_mixes_that_passed_wins():
    rows = [row(100, mmlu=0.504, byod=0.90), row(75, mmlu=0.588, byod=0.70), row(50, byod=0.62), failed_row(25)]
    choice = choose(rows)
    assert choice["passed"] and choice["chosen"] is rows[1]  # 100 % scored higher but forgot
    assert choice["cause"].startswith("mix 75% chosen: held-out byod accuracy 0.400 -> 0.700 (+0.300)")
    assert "2 of 4 mixes passed" in choice["cause"] and "tied" not in choice["cause"]


def test_a_tie_goes_to_the_higher_general_retention_then_to_the_lower_customer_share():
    more_kept = choose([row(75, mmlu=0.588, byod=0.70), row(50, mmlu=0.594, byod=0.70)])
    assert more_kept["chosen"]["customer_data_percent"] == 50
    assert choose([row(50, mmlu=0.588, byod=0.70), row(75, mmlu=0.594, byod=0.70)])["chosen"]["customer_data_percent"] == 75
    same = choose([row(75, byod=0.70), row(50, byod=0.70), row(90, byod=0.70)])
    assert same["chosen"]["customer_data_percent"] == 50 and "tied on the held-out score with 75%, 90%" in same["cause"]


def test_when_no_mix_passed_the_cause_names_each_mix_and_ends_with_the_remedies_once():
    rows = [row(100, mmlu=0.504, byod=0.90), failed_row(75), row(50, byod=0.41), row(25, mmlu=0.50, byod=0.405)]
    choice = choose(rows)
    assert not choice["passed"] and choice["chosen"] is None
    cause = choice["cause"]
    assert cause.startswith("no mix passed the forgetting gate: mix 100%: mmlu_0shot forgot: it kept 73% of the base model's skill above chance")
    assert "; mix 75%: training failed: AlgorithmError: CUDA out of memory; mix 50%: byod accuracy moved 0.400 -> 0.410" in cause
    assert "; mix 25%: mmlu_0shot forgot: it kept 71%" in cause
    remedy = cause.split("What to do: ", 1)[1]
    assert remedy == f"{FORGETTING_REMEDY} {step_remedy('training')} {NO_GAIN_REMEDY}"
    assert cause.count(FORGETTING_REMEDY) == cause.count(NO_GAIN_REMEDY) == 1
    assert choose([])["passed"] is False


# --- the comparison ------------------------------------------------------------------


def test_the_markdown_lists_every_mix_with_its_retention_held_out_score_and_run():
    rows = [row(100, mmlu=0.504, byod=0.90), row(75, mmlu=0.588, byod=0.70), failed_row(50)]
    text = comparison_markdown(rows, choose(rows))
    table = [line for line in text.splitlines() if line.startswith("| ")]
    assert table[0] == "| customer data % | status | mmlu_0shot | ifeval | held-out base -> tuned | steps | final loss | MLflow run |"
    assert table[1:] == [
        "| 100% | failed gate | kept 73% (forgot) | no measurable change (0.500 -> 0.500) | accuracy 0.400 -> 0.900 (+0.500) | 240 | 0.4321 | `run100` |",
        "| 75% | passed (chosen) | no measurable change (0.600 -> 0.588) | no measurable change (0.500 -> 0.500) | accuracy 0.400 -> 0.700 (+0.300) | 240 | 0.4321 | "
        "`run75` |",
        "| 50% | failed: training | - | - | - | - | - | - |",
    ]
    assert f"**Chosen: mix 75%** ({model_uri(75)})" in text and "- mix 50%: training failed: AlgorithmError" in text


def test_the_svg_is_well_formed_with_one_point_per_scored_mix_the_choice_and_the_limit():
    rows = [row(100, mmlu=0.504, byod=0.90), row(75, mmlu=0.588, byod=0.70), row(50, byod=0.62), failed_row(25)]
    svg = ET.fromstring(comparison_svg(rows, choose(rows)))
    circles = svg.findall(f".//{SVG}circle")
    assert len([c for c in circles if c.get("class") == "retention"]) == 3
    held_out = [c for c in circles if c.get("class") == "held-out"]
    assert len(held_out) == 3 and [c.get("fill") for c in held_out] == ["#d62728", "#d62728", "white"]  # 50, 75, then 100 (failed gate)
    chosen = [c for c in circles if c.get("class") == "chosen"]
    assert len(chosen) == 2 and {c.get("cx") for c in chosen} == {next(c.get("cx") for c in held_out if "mix 75%" in c.findtext(f"{SVG}title"))}
    limit = [line for line in svg.findall(f".//{SVG}line") if line.get("class") == "limit"]
    assert len(limit) == 1 and limit[0].get("stroke-dasharray")
    assert len([t for t in svg.findall(f".//{SVG}text") if t.get("class") == "failed"]) == 1
    # nothing scored (every mix failed) still draws an empty, well-formed plot
    assert ET.fromstring(comparison_svg([failed_row(75)], choose([failed_row(75)]))).findall(f".//{SVG}circle[@class='retention']") == []


# --- S3 (moto, KMS-encrypted bucket) -------------------------------------------------


def put_json(buckets, uri: str, document: dict) -> None:
    buckets.put(uri[len(f"s3://{BUCKET}/"):], json.dumps(document).encode())


def outcome(buckets, percent: int, evaluation_json: dict | None, training_record=True) -> dict:
    training_out, evaluation_out = model_uri(percent), f"{REPORT}tickets-e{percent}-7f3a9c01/output/model/"
    if evaluation_json is not None:
        put_json(buckets, evaluation_out + "evaluation.json", evaluation_json)
    if training_record:
        put_json(buckets, training_out + "openforge-run.json", record(percent))

    def check(step, job_name, output):
        return {"job_name": job_name, "step": step, "target": "training-job", "status": "Completed", "done": True,
                "failure_reason": None, "output_s3_uri": output}
    return {"mix": mix(percent), "training": check("training", f"tickets-t{percent}-7f3a9c01", training_out),
            "evaluation": check("evaluation", f"tickets-e{percent}-7f3a9c01", evaluation_out)}


def run_and_plan() -> tuple[dict, dict]:
    """A run and plan as ValidateInput makes them, with this file's report prefix and mixes."""
    run, plan = validated_run_and_plan(grid={"customer_data_percent": [100, 75, 50]})
    return run, {**plan, "run_id": "tickets-7f3a9c01", "report_s3_uri": REPORT, "training_output_s3_uri": TRAINING,
                 "mixes": [mix(100), mix(75), mix(50)]}


def pick(s3, run: dict, plan: dict, results: list) -> dict:
    """PickModel's S3 part, on the state's JSON read as the handler reads it."""
    return pick_typed(s3, Run.from_dict(run), RunPlan.from_dict(plan), results)


def test_pick_reads_each_mix_writes_the_comparison_under_kms_and_returns_a_small_result(buckets, monkeypatch):
    # The report's key differs from the bucket's default, so the files show that pick asked for it.
    report_key = boto3.client("kms").create_key(Description="artifacts")["KeyMetadata"]["KeyId"]
    monkeypatch.setenv("OUTPUT_KMS_KEY_ID", report_key)
    run, plan = run_and_plan()
    results = [outcome(buckets, 100, evaluation(mmlu=0.504, byod=0.90, examples=200)),
               outcome(buckets, 75, evaluation(mmlu=0.588, byod=0.70, examples=200)),
               {"mix": mix(50), "failed": {"step": "evaluation", "cause": "States.TaskFailed: " + "x" * 50_000}}]
    result = pick(buckets.s3, run, plan, results)

    assert set(result) == {"passed", "error", "cause", "chosen", "runs", "report_s3_uri"}
    assert result["passed"] and result["chosen"]["model_s3_uri"] == model_uri(75) and result["report_s3_uri"] == REPORT
    assert [r["status"] for r in result["runs"]] == ["failed gate", "passed", "failed: evaluation"]
    size = len(json.dumps(result))
    assert size < 12_000 and "base_details" not in json.dumps(result), size  # each evaluation.json above is ~200 KB
    for name in ("comparison.json", "comparison.md", "comparison.svg"):
        head = buckets.s3.head_object(Bucket=BUCKET, Key=f"reports/tickets/exec-1/{name}")
        assert head["ServerSideEncryption"] == "aws:kms" and report_key in head["SSEKMSKeyId"]
    written = json.loads(buckets.get("reports/tickets/exec-1/comparison.json"))
    assert written["chosen"]["label"] == "75" and len(written["runs"]) == 3 and written["execution_name"] == "exec-1"
    assert "| 75% | passed (chosen) |" in buckets.get("reports/tickets/exec-1/comparison.md").decode()
    ET.fromstring(buckets.get("reports/tickets/exec-1/comparison.svg"))


def test_a_missing_evaluation_json_fails_that_mix_with_the_s3_error_not_the_lambda(buckets):
    run, plan = run_and_plan()
    results = [outcome(buckets, 100, None), outcome(buckets, 75, evaluation(byod=0.70), training_record=False),
               outcome(buckets, 50, evaluation(byod=0.62))]
    result = load_handler("pick_model")({"run": run, "plan": plan, "results": results}, LambdaContext())

    missing, no_record, ok = result["runs"]
    assert missing["status"] == no_record["status"] == "failed: evaluation" and missing["model_s3_uri"] is None
    assert missing["gate"]["cause"] == (f"evaluation failed: cannot read {REPORT}tickets-e100-7f3a9c01/output/model/evaluation.json: "
                                        "An error occurred (NoSuchKey) when calling the GetObject operation: The specified key does not exist.")
    assert f"cannot read {model_uri(75)}openforge-run.json: An error occurred (NoSuchKey)" in no_record["gate"]["cause"]
    assert result["passed"] and result["chosen"] == ok and ok["model_s3_uri"] == model_uri(50)
    assert buckets.s3.head_object(Bucket=BUCKET, Key="reports/tickets/exec-1/comparison.md")["ServerSideEncryption"] == "aws:kms"


def test_a_job_that_did_not_complete_is_a_failed_mix(buckets):
    run, plan = run_and_plan()
    stopped = outcome(buckets, 75, evaluation(byod=0.70))
    stopped["training"].update(status="Stopped", failure_reason=None, output_s3_uri=None)
    result = pick(buckets.s3, run, plan, [stopped])
    assert not result["passed"] and result["runs"][0]["status"] == "failed: training"
    assert result["cause"].startswith("no mix finished training and evaluation: mix 75%: training failed: the job ended Stopped and left no output location.")


def test_pick_needs_the_output_key(buckets, monkeypatch):
    monkeypatch.delenv("OUTPUT_KMS_KEY_ID")
    run, plan = run_and_plan()
    with pytest.raises(RuntimeError, match="OUTPUT_KMS_KEY_ID"):
        pick(buckets.s3, run, plan, [])


def test_the_run_error_says_whether_a_model_was_refused_or_none_was_trained():
    assert choose([row(75, byod=0.70)])["error"] is None
    assert choose([row(100, mmlu=0.504, byod=0.90), failed_row(75)])["error"] == "ForgettingGateFailed"
    none_trained = choose([failed_row(75), failed_row(50)])
    assert none_trained["error"] == "NoModelTrained" and not none_trained["passed"]
    assert none_trained["cause"].startswith("no mix finished training and evaluation: mix 75%: training failed: AlgorithmError: CUDA out of memory")
