"""The forgetting experiment: does mixing curated general data into fine-tuning keep the
general skills that customer-only fine-tuning forgets?

    python -m experiments.forgetting --work work/experiment --reports reports

1. Take the shipped base model (``synthetic_data.base_model``, examples/base-model: pre-trained
   on the generated general curriculum) and regenerate the curriculum it was trained on
   (``synthetic_data.curriculum``, the seed and scale its provenance names): the curated pool
   of general skills, a support-ticket domain, MMLU-, IFEval- and BYOD-format evaluation files.
2. Fine-tune that base on the ticket domain, once per (method, customer share) in ``RUNS``
   and fine-tuning seed: customer-only (100 %) and mixed with the curated pool, LoRA and
   full-rank.
3. Score the base once and every tuned model with the evaluation entrypoint; per run, average
   over the seeds the general skill kept *above chance* and the domain gain, each with a 95 %
   interval that holds both the benchmark's item sampling (the gate's intervals) and the
   spread across seeds; write ``forgetting.md``, ``forgetting.json`` and ``forgetting.png``
   (``experiments.forgetting_report``) to the reports folder.

Fixed thread count and deterministic kernels: a rerun on the same kind of CPU gives the same
table (docs/evaluation.md says what can vary on another).

Everything is the product's code: only the data and the sizes are the experiment's.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

from openforge_training.evaluation.gate import assess

from experiments.forgetting_report import write_reports
from openforge_contract.run_record import EVALUATION_RESULTS
from synthetic_data.base_model import PROVENANCE, SHIPPED, BaseSettings, deterministic, train, training_argv
from synthetic_data.curriculum import write_experiment_data

log = logging.getLogger("experiments.forgetting")

# The product's target (issue 5): a mixed run keeps >= 98 % of general skill (above chance)
# while reaching >= 85 % of the customer-only domain gain; customer-only forgets beyond noise,
# more than the target allows (its retention's 95 % upper bound under 98 %).
TARGET_RETENTION = 0.98
TARGET_GAIN_SHARE = 0.85
T_95 = {2: 12.706, 3: 4.303, 4: 3.182, 5: 2.776, 6: 2.571}  # Student's t, two-sided 95 %, by number of seeds


@dataclass(frozen=True)
class Run:
    method: str  # lora | full
    customer_data_percent: int

    @property
    def name(self) -> str:
        return f"{self.method}-{self.customer_data_percent}"


RUNS = tuple(Run(method, percent) for method in ("lora", "full") for percent in (100, 75, 50))


@dataclass(frozen=True)
class Settings:
    """Fine-tuning sizes and hyperparameters; the defaults are the full experiment (``make
    experiment``). The data's seed and scale are the base model's (its provenance.json)."""

    seeds: tuple[int, ...] = (0, 1, 2)  # fine-tuning: LoRA's initial weights and the mix's order
    max_length: int = 256
    batch_size: int = 32
    finetune_steps: int = 240
    lora_learning_rate: float = 3e-3
    full_learning_rate: float = 3e-4
    lora_rank: int = 16
    mmlu_shots: str = "0"  # few-shot under a chat template is multi-turn, a context the tiny model never saw
    threads: int = BaseSettings.threads
    runs: tuple[Run, ...] = field(default=RUNS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--work", type=Path, required=True, help="scratch folder: data, models, evaluations (recreated)")
    parser.add_argument("--reports", type=Path, required=True, help="where forgetting.{md,json,png} go")
    parser.add_argument("--base", type=Path, default=SHIPPED, help="the base model folder, with its provenance.json")
    parser.add_argument("--finetune_steps", type=int, default=Settings.finetune_steps)
    parser.add_argument("--seeds", default=",".join(map(str, Settings.seeds)), help="comma-separated fine-tuning seeds")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        seeds = tuple(int(seed) for seed in args.seeds.split(","))
    except ValueError:
        parser.error(f"--seeds must be comma-separated integers, got {args.seeds!r}")
    run_experiment(replace(Settings(), finetune_steps=args.finetune_steps, seeds=seeds), args.base, args.work, args.reports)
    print((args.reports / "forgetting.md").read_text())
    return 0


def run_experiment(settings: Settings, base: Path, work: Path, reports: Path) -> dict:
    """Every step above on the base model in ``base``; returns what ``forgetting.json`` holds."""
    started = time.monotonic()
    if work.exists():
        shutil.rmtree(work)
    data = work / "data"
    provenance = json.loads((base / PROVENANCE).read_text())
    write_experiment_data(data, seed=provenance["settings"]["data_seed"], scale=provenance["settings"]["data_scale"])
    base_results: Path | None = None
    measured = []
    with deterministic(settings.threads):
        for seed in settings.seeds:
            for run in settings.runs:
                out = work / "runs" / f"{run.name}-seed{seed}"
                tuned = finetune(settings, run, seed, base, data, out)
                results = evaluate(settings, base, tuned, data / "eval", out / "evaluation", base_results)
                base_results = base_results or out / "evaluation" / EVALUATION_RESULTS
                measured.append(measurement(run, seed, results))
                log.info("%s seed %d: %s", run.name, seed, measured[-1]["scores"])
    about_base = {"folder": base.name, "model_sha256": provenance["files"].get("model.safetensors"), "settings": provenance["settings"]}
    summary = summarise(settings, measured, {"total_s": round(time.monotonic() - started, 1)}, about_base)
    write_reports(summary, reports)
    return summary


# --- the steps, each through the product's own entrypoint ---------------------------------

def finetune(settings: Settings, run: Run, seed: int, base: Path, data: Path, out: Path) -> Path:
    learning_rate = settings.lora_learning_rate if run.method == "lora" else settings.full_learning_rate
    argv = training_argv(model=base, customer=data / "customer", out=out, percent=run.customer_data_percent, method=run.method,
                         learning_rate=learning_rate, batch_size=settings.batch_size, max_length=settings.max_length, seed=seed,
                         schedule=["--max_steps", str(settings.finetune_steps)])
    argv += ["--curated_channel", str(data / "curated"), "--lora_rank", str(settings.lora_rank), "--lora_alpha", str(2 * settings.lora_rank),
             "--lora_dropout", "0"]
    train(argv)
    return out / "model"


def evaluate(settings: Settings, base: Path, tuned: Path, eval_dir: Path, out: Path, base_results: Path | None) -> dict:
    from openforge_training.evaluate import load
    from openforge_training.evaluation.run import evaluate as score

    argv = ["--input_dir", str(out / "input"), "--model_channel", str(base), "--tuned_channel", str(tuned),
            "--eval_channel", str(eval_dir), "--output_dir", str(out), "--mmlu_shots", settings.mmlu_shots,
            "--batch_size", "32"]  # generation length and context: the entrypoint's (the harness's) defaults
    if base_results:
        argv += ["--base_results", str(base_results)]
    return score(load(argv))


# --- the numbers --------------------------------------------------------------------------

def measurement(run: Run, seed: int, results: dict) -> dict:
    """One fine-tuned model's evaluation, as the summary needs it."""
    return {
        "run": run.name, "seed": seed,
        "scores": {name: {"kind": b["kind"], "base": b["base"], "tuned": b["tuned"], "count": b["count"]} for name, b in results["benchmarks"].items()},
        "gate_passed": results["gate"]["passed"],
    }


def seed_half_width(values: list[float]) -> float:
    """95 % half-width of the mean of ``values`` (one per seed) from their spread; 0 for one seed."""
    if len(values) < 2:
        return 0.0
    return T_95.get(len(values), 1.96) * statistics.stdev(values) / len(values) ** 0.5


def aggregate(run: Run, measured: list[dict]) -> dict:
    """One run over its seeds: per benchmark the mean tuned score and the gate's numbers for it
    (chance, base informative, retention above chance, the change's interval over the items),
    the change's 95 % half-width holding the items' sampling and the seeds' spread in
    quadrature; general retention (mean over the benchmarks the base is above chance on) and
    domain gain, each with its half-width."""
    first = measured[0]["scores"]
    benchmarks, widths = {}, []
    for name, b in first.items():
        tuned = [m["scores"][name]["tuned"] for m in measured]
        mean = statistics.fmean(tuned)
        entry = {"base": b["base"], "tuned": mean, "change": mean - b["base"], **assess(name, b["base"], mean, b["count"])}
        low, high = entry["change_interval"]
        entry["items_half_width"], entry["seeds_half_width"] = (high - low) / 2, seed_half_width([value - b["base"] for value in tuned])
        entry["half_width"] = (entry["items_half_width"] ** 2 + entry["seeds_half_width"] ** 2) ** 0.5
        if b["kind"] == "general" and entry["base_informative"]:
            widths.append(entry["half_width"] / (b["base"] - entry["chance"]))
        benchmarks[name] = entry
    kept = [entry["retention"] for name, entry in benchmarks.items() if first[name]["kind"] == "general" and entry["base_informative"]]
    domain = [benchmarks[name] for name, b in first.items() if b["kind"] == "domain"]
    return {
        "run": run.name, "method": run.method, "customer_data_percent": run.customer_data_percent, "seeds": [m["seed"] for m in measured],
        "benchmarks": benchmarks,
        "informative": [name for name, b in first.items() if b["kind"] == "general" and benchmarks[name]["base_informative"]],
        "general_retention": statistics.fmean(kept) if kept else None,
        "general_half_width": sum(w**2 for w in widths) ** 0.5 / len(widths) if widths else None,
        "domain_gain": domain[0]["change"] if domain else None, "domain_half_width": domain[0]["half_width"] if domain else None,
        "gate_passed": sum(m["gate_passed"] for m in measured),
    }


def summarise(settings: Settings, measured: list[dict], timings: dict, about_base: dict) -> dict:
    """Per run over its seeds, each mixed run's share of its method's customer-only gain, and
    the verdict on the target (or how far from it)."""
    rows = [aggregate(run, [m for m in measured if m["run"] == run.name]) for run in settings.runs]
    customer_only = {r["method"]: r for r in rows if r["customer_data_percent"] == 100}
    for r in rows:
        reference = customer_only.get(r["method"])
        r["gain_share"] = r["domain_gain"] / reference["domain_gain"] if reference and (reference["domain_gain"] or 0) > 0 else None
    mixed = [r for r in rows if r["customer_data_percent"] < 100 and r["general_retention"] is not None]
    hits = [r["run"] for r in mixed if r["general_retention"] >= TARGET_RETENTION and (r["gain_share"] or 0) >= TARGET_GAIN_SHARE]
    forgets = {method: r["general_retention"] is not None and r["general_retention"] + r["general_half_width"] < TARGET_RETENTION
               for method, r in customer_only.items()}
    best = max(mixed, key=lambda r: (min(r["general_retention"] / TARGET_RETENTION, (r["gain_share"] or 0) / TARGET_GAIN_SHARE)), default=None)
    return {
        "settings": {**asdict(settings), "seeds": list(settings.seeds), "runs": [run.name for run in settings.runs]},
        "base": about_base,
        "measured": measured,
        "rows": rows,
        "timings": timings,
        "target": {
            "mixed_retention": TARGET_RETENTION, "mixed_gain_share": TARGET_GAIN_SHARE,
            "mixed_runs_on_target": hits, "customer_only_forgets": forgets, "closest_mixed_run": best["run"] if best else None,
            "reached": bool(hits) and bool(forgets) and all(forgets.values()),
        },
    }


if __name__ == "__main__":
    raise SystemExit(main())
