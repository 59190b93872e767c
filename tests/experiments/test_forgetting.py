"""The forgetting experiment's runner: a reduced run through the real entrypoints (a tiny
base model built by synthetic_data.base_model, two fine-tuning seeds) writes a report whose
every number is the mean of the runs' own evaluation.json files, and the summary measures
skill above chance, widens its intervals by the seeds' spread and judges the target by its
stated rules.

The reduced run is far too small for the effect itself (a one-layer model trained for
seconds knows nothing to forget), so it asserts the bookkeeping, not the direction; the
effect is measured by ``make experiment`` and reported in docs/evaluation.md."""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from experiments.forgetting import TARGET_GAIN_SHARE, Run, Settings, run_experiment, summarise
from experiments.forgetting_report import markdown
from synthetic_data.base_model import BaseSettings, build

TINY_BASE = replace(BaseSettings(), data_scale=0.05, hidden_size=32, layers=1, heads=2, vocab_size=400,
                    max_length=128, epochs=1.0, batch_size=16)
REDUCED = replace(Settings(), seeds=(0, 1), max_length=128, batch_size=16, finetune_steps=3, mmlu_shots="0", runs=(Run("lora", 100), Run("full", 50)))


@pytest.fixture(scope="module")
def reduced(tmp_path_factory) -> tuple[dict, Path, Path]:
    root = tmp_path_factory.mktemp("forgetting")
    work, reports, base = root / "work", root / "reports", root / "base"
    build(TINY_BASE, root / "base-work", base)
    return run_experiment(REDUCED, base, work, reports), work, reports


def evaluation(work: Path, run: Run, seed: int) -> dict:
    return json.loads((work / "runs" / f"{run.name}-seed{seed}" / "evaluation" / "evaluation.json").read_text())


def test_the_reduced_experiment_writes_the_table_the_data_and_the_plot(reduced):
    summary, _, reports = reduced
    assert json.loads((reports / "forgetting.json").read_text()) == summary
    table = (reports / "forgetting.md").read_text()
    for run in REDUCED.runs:
        assert f"| {run.name} | {run.customer_data_percent} |" in table
    assert "seeds 0, 1" in table and "Target" in table
    png = (reports / "forgetting.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 10_000  # a drawn figure, not an empty canvas


def test_each_row_is_the_mean_of_its_seeds_evaluations(reduced):
    summary, work, _ = reduced
    assert [row["run"] for row in summary["rows"]] == [run.name for run in REDUCED.runs]
    for run, row in zip(REDUCED.runs, summary["rows"]):
        evaluations = [evaluation(work, run, seed) for seed in REDUCED.seeds]
        assert row["seeds"] == list(REDUCED.seeds)
        for name, entry in row["benchmarks"].items():
            assert entry["base"] == evaluations[0]["benchmarks"][name]["base"]
            assert entry["tuned"] == pytest.approx(sum(e["benchmarks"][name]["tuned"] for e in evaluations) / len(evaluations))
            assert entry["chance"] == evaluations[0]["benchmarks"][name]["chance"]
        byod = [e["benchmarks"]["byod"] for e in evaluations]
        assert row["domain_gain"] == pytest.approx(sum(b["tuned"] - b["base"] for b in byod) / len(byod))
        assert row["gate_passed"] == sum(e["gate"]["passed"] for e in evaluations)


def test_the_base_is_scored_once_and_every_run_is_a_real_training_run_with_its_seed(reduced):
    _, work, _ = reduced
    first_run = REDUCED.runs[0]
    reused = str(work / "runs" / f"{first_run.name}-seed{REDUCED.seeds[0]}" / "evaluation" / "evaluation.json")
    for seed in REDUCED.seeds:
        for run in REDUCED.runs:
            scored = evaluation(work, run, seed)["base_scores_reused_from"]
            assert scored == (None if (run, seed) == (first_run, REDUCED.seeds[0]) else reused)
            record = json.loads((work / "runs" / f"{run.name}-seed{seed}" / "model" / "openforge-run.json").read_text())
            assert record["steps"] == REDUCED.finetune_steps
            assert record["mix"]["target"]["customer"] == pytest.approx(run.customer_data_percent)
            assert record["hyperparameters"]["method"] == run.method and record["hyperparameters"]["seed"] == seed


# --- the summary, on made-up measurements ---------------------------------------------------

BASE = {"mmlu_0shot": ("general", 0.60, 300), "ifeval": ("general", 0.80, 84), "byod": ("domain", 0.0, 120)}
TIMINGS = {"total_s": 2.0}


def measured(run: str, seed: int, base: dict = BASE, **tuned: float) -> dict:
    scores = {name: {"kind": kind, "base": score, "tuned": tuned.get(name, score), "count": count} for name, (kind, score, count) in base.items()}
    return {"run": run, "seed": seed, "scores": scores, "gate_passed": False}


def summary_of(*measurements: dict) -> dict:
    runs = tuple(dict.fromkeys(Run(m["run"].split("-")[0], int(m["run"].split("-")[1])) for m in measurements))
    return summarise(replace(REDUCED, runs=runs, seeds=(0,)), list(measurements), TIMINGS, {"folder": "base"})


def test_retention_is_of_the_skill_above_chance_and_skips_a_benchmark_at_chance():
    row = summary_of(measured("full-100", 0, mmlu_0shot=0.40, ifeval=0.80, byod=0.9))["rows"][0]
    assert row["benchmarks"]["mmlu_0shot"]["retention"] == pytest.approx((0.40 - 0.25) / (0.60 - 0.25), abs=1e-4)
    assert row["general_retention"] == pytest.approx(((0.15 / 0.35) + 1.0) / 2, abs=1e-4)  # raw tuned / base would say 83 %
    at_chance = {**BASE, "mmlu_0shot": ("general", 0.27, 300)}  # within the noise of 300 items of chance: uninformative
    row = summary_of(measured("full-100", 0, at_chance, mmlu_0shot=0.10, ifeval=0.40, byod=0.9))["rows"][0]
    assert row["informative"] == ["ifeval"] and row["general_retention"] == pytest.approx(0.5)


def test_the_seeds_spread_widens_the_interval():
    same = summary_of(measured("lora-100", 0, ifeval=0.6, byod=0.9), measured("lora-100", 1, ifeval=0.6, byod=0.9))["rows"][0]
    spread = summary_of(measured("lora-100", 0, ifeval=0.5, byod=0.8), measured("lora-100", 1, ifeval=0.7, byod=1.0))["rows"][0]
    assert same["benchmarks"]["ifeval"]["seeds_half_width"] == 0 < spread["benchmarks"]["ifeval"]["seeds_half_width"]
    assert spread["general_half_width"] > same["general_half_width"] > 0  # the items' sampling alone is not 0
    assert spread["domain_half_width"] > same["domain_half_width"]


FORGOT = {"mmlu_0shot": 0.30, "ifeval": 0.20, "byod": 0.95}  # customer-only: most skill above chance gone, the domain learned


def test_a_mixed_run_that_keeps_general_skill_and_most_of_the_gain_reaches_the_target():
    summary = summary_of(measured("full-100", 0, **FORGOT), measured("full-75", 0, byod=TARGET_GAIN_SHARE * 0.95 + 0.01))
    assert summary["target"]["mixed_runs_on_target"] == ["full-75"]
    assert summary["target"]["customer_only_forgets"] == {"full": True}
    assert summary["target"]["reached"]
    assert "**Target reached.**" in markdown(summary)


@pytest.mark.parametrize(
    ("customer_only", "mixed", "why"),
    [
        (FORGOT, {"mmlu_0shot": 0.50, "byod": 0.9}, "mixed run forgot too"),
        (FORGOT, {"byod": TARGET_GAIN_SHARE * 0.95 - 0.05}, "mixed run learned too little"),
        ({"mmlu_0shot": 0.59, "ifeval": 0.79, "byod": 0.95}, {"byod": 0.9}, "customer-only did not forget beyond noise"),
        ({**FORGOT, "byod": 0.0}, {"byod": 0.5}, "customer-only learned nothing, so no share can be computed"),
    ],
)
def test_the_target_is_missed_for_each_reason(customer_only, mixed, why):
    summary = summary_of(measured("lora-100", 0, **customer_only), measured("lora-50", 0, **mixed))
    assert not summary["target"]["reached"], why
    assert "**Target not reached.** Closest mixed run: lora-50" in markdown(summary)
