"""The forgetting experiment's runner: a reduced run through the real entrypoints writes a
report that agrees with every run's own evaluation.json, and the summary judges the target
by its stated rules.

The reduced run is far too small for the effect itself (a one-layer model trained for
seconds knows nothing to forget), so it asserts the bookkeeping, not the direction; the
effect is measured by ``make experiment`` and reported in the README."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from experiments.forgetting import TARGET_GAIN_SHARE, TARGET_RETENTION, Run, Settings, markdown, run_experiment, summarise
from synthetic_data.base_model import BaseSettings, build

TINY_BASE = replace(BaseSettings(), data_scale=0.05, hidden_size=32, layers=1, heads=2, vocab_size=400,
                    max_length=128, epochs=1.0, batch_size=16)
REDUCED = replace(Settings(), max_length=128, batch_size=16, finetune_steps=3, mmlu_shots="0", runs=(Run("lora", 100), Run("full", 50)))


@pytest.fixture(scope="module")
def reduced(tmp_path_factory) -> tuple[dict, Path, Path]:
    root = tmp_path_factory.mktemp("forgetting")
    work, reports, base = root / "work", root / "reports", root / "base"
    build(TINY_BASE, root / "base-work", base)
    return run_experiment(REDUCED, base, work, reports), work, reports


def test_the_reduced_experiment_writes_the_table_the_data_and_the_plot(reduced):
    summary, _, reports = reduced
    assert json.loads((reports / "forgetting.json").read_text()) == summary
    table = (reports / "forgetting.md").read_text()
    for run in REDUCED.runs:
        assert f"| {run.name} | {run.customer_data_percent} |" in table
    png = (reports / "forgetting.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000  # a drawn figure, not an empty canvas


def test_each_row_is_what_that_runs_evaluation_measured(reduced):
    summary, work, _ = reduced
    assert [row["run"] for row in summary["rows"]] == [run.name for run in REDUCED.runs]
    for row in summary["rows"]:
        evaluation = json.loads((work / "runs" / row["run"] / "evaluation" / "evaluation.json").read_text())
        benchmarks = evaluation["benchmarks"]
        assert set(row["scores"]) == {"mmlu_0shot", "ifeval", "byod"} == set(benchmarks)
        general = [b for b in benchmarks.values() if b["kind"] == "general"]
        base, tuned = (sum(b[key] for b in general) / len(general) for key in ("base", "tuned"))
        assert row["general_retention"] == pytest.approx(tuned / base if base else 1.0, abs=1e-4)
        assert row["domain_gain"] == pytest.approx(benchmarks["byod"]["tuned"] - benchmarks["byod"]["base"], abs=1e-4)
        assert row["gate_passed"] == evaluation["gate"]["passed"]


def test_the_base_is_scored_once_and_every_run_is_a_real_training_run(reduced):
    _, work, _ = reduced
    first, second = (json.loads((work / "runs" / run.name / "evaluation" / "evaluation.json").read_text()) for run in REDUCED.runs)
    assert first["base_scores_reused_from"] is None
    assert second["base_scores_reused_from"] == str(work / "runs" / REDUCED.runs[0].name / "evaluation" / "evaluation.json")
    for run in REDUCED.runs:
        record = json.loads((work / "runs" / run.name / "model" / "openforge-run.json").read_text())
        assert record["steps"] == REDUCED.finetune_steps
        assert record["mix"]["target"]["customer"] == pytest.approx(run.customer_data_percent)
        assert record["hyperparameters"]["method"] == run.method


def fake_row(run: str, percent: int, retention: float, gain: float) -> dict:
    return {"run": run, "method": run.split("-")[0], "customer_data_percent": percent, "scores": {"ifeval": {"base": 0.8, "tuned": 0.8 * retention}},
            "general_retention": retention, "domain_gain": gain, "gate_passed": False}


def test_a_mixed_run_that_keeps_general_skill_and_most_of_the_gain_reaches_the_target():
    rows = [fake_row("full-100", 100, 0.60, 0.90), fake_row("full-75", 75, TARGET_RETENTION, TARGET_GAIN_SHARE * 0.90 + 1e-6)]
    summary = summarise(REDUCED, rows, {"pretrain_s": 1.0, "total_s": 2.0})
    assert summary["target"]["mixed_runs_on_target"] == ["full-75"]
    assert summary["target"]["customer_only_forgets"] == {"full": True}
    assert summary["target"]["reached"]
    assert "**Target reached.**" in markdown(summary)


@pytest.mark.parametrize(
    ("customer_only", "mixed", "why"),
    [
        ((0.60, 0.90), (TARGET_RETENTION - 0.01, 0.90), "mixed run forgot too"),
        ((0.60, 0.90), (0.99, TARGET_GAIN_SHARE * 0.90 - 0.01), "mixed run learned too little"),
        ((0.95, 0.90), (0.99, 0.90), "customer-only did not forget"),
        ((0.60, 0.00), (0.99, 0.50), "customer-only learned nothing, so no share can be computed"),
    ],
)
def test_the_target_is_missed_for_each_reason(customer_only, mixed, why):
    rows = [fake_row("lora-100", 100, *customer_only), fake_row("lora-50", 50, *mixed)]
    summary = summarise(REDUCED, rows, {"pretrain_s": 1.0, "total_s": 2.0})
    assert not summary["target"]["reached"], why
    assert "**Target not reached.**" in markdown(summary)
