"""The evaluation entrypoint on the tiny model and tiny benchmark files, offline: base vs
tuned (merged weights or a LoRA adapter), results on disk and in MLflow, bad input."""
import json
import shutil

import mlflow
import pytest

from openforge_training import evaluate
from openforge_training.errors import failure_file
from openforge_training.evaluation.layout import mmlu_file

from .test_harness import harness_yaml

FAST = ["--mmlu_shots", "0,1", "--max_new_tokens", "8", "--batch_size", "8"]


def argv(job, *extra):
    return ["--input_dir", str(job / "input"), "--output_dir", str(job / "out"), *FAST, *extra]


def test_base_vs_tuned_writes_every_benchmark_and_a_verdict(eval_job, tuned_model, mlflow_server, monkeypatch):
    shutil.copytree(tuned_model, eval_job / "input" / "data" / "tuned")
    generations = record_generation_settings(monkeypatch)
    mlflow.set_tracking_uri(mlflow_server)
    mlflow.set_experiment("evaluation-test")
    with mlflow.start_run() as training_run:  # stands in for the training job's run
        pass

    assert evaluate.main(argv(eval_job, "--mlflow_tracking_uri", mlflow_server, "--mlflow_run_id", training_run.info.run_id)) == 0

    results = json.loads((eval_job / "out" / "evaluation.json").read_text())
    assert set(results["benchmarks"]) == {"mmlu_0shot", "mmlu_1shot", "ifeval", "byod"}
    for name, b in results["benchmarks"].items():
        assert b["delta"] == pytest.approx(b["tuned"] - b["base"], abs=1e-4), name
        assert b["kind"] == ("domain" if name == "byod" else "general")
    mmlu = results["benchmarks"]["mmlu_0shot"]
    assert mmlu["count"] == 8 and set(mmlu["base_details"]["per_subject"]) == {"geography", "arithmetic"}
    assert results["benchmarks"]["ifeval"]["count"] == 3 and "prompt_level_loose_acc" in results["benchmarks"]["ifeval"]["tuned_details"]
    # IFEval generated as lm-evaluation-harness runs it (max_gen_toks and all), for both models, whatever max_new_tokens says
    assert len(generations) == 6 and all(settings == harness_yaml("ifeval/ifeval.yaml")["generation_kwargs"] for settings in generations)
    byod = results["benchmarks"]["byod"]
    assert byod["count"] == 24 and byod["metric"] == "accuracy"
    assert byod["tuned"] >= byod["base"] + 0.25, byod  # the tuned model learned the ticket labels; the base cannot know them
    gate = results["gate"]
    assert isinstance(gate["passed"], bool) and gate["checks"] and gate["cause"]
    assert "Forgetting gate" in (eval_job / "out" / "evaluation.md").read_text()

    run = mlflow.get_run(training_run.info.run_id)
    assert run.data.metrics["eval.byod.tuned"] == pytest.approx(byod["tuned"])
    assert run.data.metrics["eval.gate_passed"] == float(gate["passed"])
    artifacts = {a.path for a in mlflow.tracking.MlflowClient().list_artifacts(run.info.run_id, "evaluation")}
    assert artifacts == {"evaluation/evaluation.json", "evaluation/evaluation.md"}


def test_a_lora_adapter_on_the_base_scores_like_the_merged_model(eval_job, tuned_model):
    shutil.copytree(tuned_model / "adapter", eval_job / "input" / "data" / "adapter")
    assert evaluate.main(argv(eval_job, "--benchmarks", "byod")) == 0
    adapter = json.loads((eval_job / "out" / "evaluation.json").read_text())
    shutil.rmtree(eval_job / "input" / "data" / "adapter")
    shutil.copytree(tuned_model, eval_job / "input" / "data" / "tuned")
    assert evaluate.main(argv(eval_job, "--benchmarks", "byod")) == 0
    merged = json.loads((eval_job / "out" / "evaluation.json").read_text())
    assert adapter["tuned_is_adapter"] and not merged["tuned_is_adapter"]
    assert adapter["benchmarks"]["byod"]["tuned"] == pytest.approx(merged["benchmarks"]["byod"]["tuned"], abs=0.05)


def record_generation_settings(monkeypatch) -> list[dict]:
    """The generation settings of every request lm-eval's HFLM is given (it still generates)."""
    from lm_eval.models.huggingface import HFLM

    seen, generate = [], HFLM.generate_until

    def recorded(self, requests, **kwargs):
        seen.extend(dict(request.args[1]) for request in requests)
        return generate(self, requests, **kwargs)

    monkeypatch.setattr(HFLM, "generate_until", recorded)
    return seen


@pytest.mark.parametrize(
    "setup, extra, message",
    [
        ("none", [], "found neither"),
        ("both", [], "found both"),
        ("tuned", ["--benchmarks", "mmlu,hellaswag"], "benchmarks must be a comma-separated subset"),
        ("tuned", ["--mmlu_shots", "zero"], "mmlu_shots must be comma-separated integers"),
        ("tuned", ["--byod_metric", "bleu"], "byod_metric must be one of"),
        ("tuned", ["--byod_label_pattern", "(unclosed"], "byod_label_pattern is not a valid regular expression"),
        ("tuned", ["--min_general_retention", "0"], "min_general_retention must be in"),
        ("no-ifeval", [], "no IFEval file"),
        ("no-dev", [], "MMLU subject geography has no few-shot examples for mmlu_shots=1: expected "),
        ("tuned", ["--mmlu_shots", "0,3"], "MMLU subject arithmetic has 2 few-shot examples in "),
        ("tuned", ["--max_length", "1000"], "max_length must be more than"),
        ("tuned", ["--max_length", "100000"], "max_length=100000 is longer than the model in "),
        ("bad-byod", [], "heldout.jsonl:2: "),
    ],
)
def test_bad_input_fails_before_scoring_with_a_message_naming_it(eval_job, tuned_model, setup, extra, message, caplog):
    data = eval_job / "input" / "data"
    if setup in ("tuned", "both", "no-ifeval", "no-dev", "bad-byod"):
        shutil.copytree(tuned_model, data / "tuned")
    if setup == "both":
        shutil.copytree(tuned_model / "adapter", data / "adapter")
    if setup == "no-ifeval":
        (data / "eval" / "ifeval" / "input_data.jsonl").unlink()
    if setup == "no-dev":
        (data / "eval" / mmlu_file("dev", "geography")).unlink()
    if setup == "bad-byod":
        with open(data / "eval" / "byod" / "heldout.jsonl", "r+") as handle:
            lines = handle.readlines()
            handle.seek(0)
            handle.writelines([lines[0], '{"input": "no answer"}\n', *lines[1:]])
    assert evaluate.main(argv(eval_job, *extra)) == 2
    assert message in caplog.text
    assert message in failure_file(str(eval_job / "input")).read_text()
    assert not (eval_job / "out" / "evaluation.json").exists()


def test_base_scores_are_reused_only_for_the_same_base_and_settings(eval_job, tuned_model, caplog):
    shutil.copytree(tuned_model, eval_job / "input" / "data" / "tuned")
    assert evaluate.main(argv(eval_job, "--benchmarks", "byod")) == 0
    first = eval_job / "first.json"
    shutil.copy(eval_job / "out" / "evaluation.json", first)

    assert evaluate.main(argv(eval_job, "--benchmarks", "byod", "--base_results", str(first))) == 0
    again = json.loads((eval_job / "out" / "evaluation.json").read_text())
    assert again["base_scores_reused_from"] == str(first)
    assert again["benchmarks"]["byod"]["base"] == json.loads(first.read_text())["benchmarks"]["byod"]["base"]

    assert evaluate.main(argv(eval_job, "--benchmarks", "byod", "--limit", "5", "--base_results", str(first))) == 2
    assert "was scored with other settings: limit" in caplog.text
    (eval_job / "input" / "data" / "model" / "extra.txt").write_text("another base")
    assert evaluate.main(argv(eval_job, "--benchmarks", "byod", "--base_results", str(first))) == 2
    assert "scored another base model" in caplog.text


@pytest.mark.parametrize("module", ["openforge_training.evaluate", "openforge_training.launch"])
def test_the_entrypoints_run_as_their_jobs_start_them(module, tmp_path):
    """`python -m <module>`, as the evaluation job's ContainerEntrypoint and the image's
    ENTRYPOINT run it: a module that fails on import fails every job."""
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-m", module, "--input_dir", str(tmp_path), "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "--input_dir" in result.stdout
