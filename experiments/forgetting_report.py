"""The forgetting experiment's report: ``forgetting.json`` (every number), ``forgetting.md``
(the table and the verdict on the target, in words) and ``forgetting.png`` (general
retention against domain gain, one point per run, 95 % error bars)."""
from __future__ import annotations

import json
from pathlib import Path


def percent(value: float | None, half_width: float | None = None) -> str:
    if value is None:
        return "-"
    return f"{value:.1%}" + ("" if half_width is None else f" ± {half_width:.1%}")


def markdown(summary: dict) -> str:
    rows, settings = summary["rows"], summary["settings"]
    names = list(rows[0]["benchmarks"]) if rows else []
    first = rows[0]["benchmarks"] if rows else {}
    base_line = ", ".join(
        f"{name} {first[name]['base']:.3f} (chance {first[name]['chance']:.2f}{'' if first[name]['base_informative'] else ', at chance: uninformative'})"
        for name in names
    )
    seeds = ", ".join(map(str, settings["seeds"]))
    lines = [
        "# Forgetting experiment", "",
        ("The shipped base model fine-tuned on a generated support-ticket domain, customer-only and mixed with curated general "
         f"data, LoRA and full-rank, each run with fine-tuning seeds {seeds}; scores are means over the seeds. General retention = "
         "the share of the base model's skill *above chance* kept (mean over the general benchmarks the base is above chance on); "
         "domain gain = held-out accuracy tuned - base; gain share = the run's gain / the customer-only gain of the same method. "
         "± is a 95 % interval holding both the benchmarks' item sampling and the spread across seeds."), "",
        f"Base model: {base_line}.", "",
        "| run | customer % | " + " | ".join(names) + " | general retention | domain gain | gain share | gate passed |",
        "|---|---|" + "---|" * len(names) + "---|---|---|---|",
    ]
    for r in rows:
        scores = " | ".join(f"{r['benchmarks'][name]['tuned']:.3f}" for name in names)
        gain = "-" if r["domain_gain"] is None else f"{r['domain_gain']:+.3f} ± {r['domain_half_width']:.3f}"
        lines.append(f"| {r['run']} | {r['customer_data_percent']} | {scores} | {percent(r['general_retention'], r['general_half_width'])} | "
                     f"{gain} | {percent(r['gain_share'])} | {r['gate_passed']} of {len(r['seeds'])} |")
    lines += ["", verdict_in_words(summary), "", f"Time: {summary['timings']['total_s']:.0f} s."]
    return "\n".join(lines) + "\n"


def verdict_in_words(summary: dict) -> str:
    rows, target = {r["run"]: r for r in summary["rows"]}, summary["target"]
    forgets = ", ".join(
        f"{method} {'yes' if value else 'no'} ({percent(rows[f'{method}-100']['general_retention'], rows[f'{method}-100']['general_half_width'])} kept)"
        for method, value in target["customer_only_forgets"].items()
    )
    words = [
        (f"Target: a mixed run keeps >= {target['mixed_retention']:.0%} of general skill above chance with >= {target['mixed_gain_share']:.0%} "
         f"of the customer-only gain, while customer-only forgets beyond noise (its retention's 95 % upper bound under {target['mixed_retention']:.0%})."),
        f"Mixed runs on target: {', '.join(target['mixed_runs_on_target']) or 'none'}. Customer-only forgets beyond noise: {forgets or 'not measured'}.",
    ]
    closest = rows.get(target["closest_mixed_run"] or "")
    if target["reached"]:
        words.append("**Target reached.**")
    elif closest:
        words.append(f"**Target not reached.** Closest mixed run: {closest['run']}, keeping {percent(closest['general_retention'], closest['general_half_width'])} "
                     f"with {percent(closest['gain_share'])} of the gain.")
    else:
        words.append("**Target not reached.** No mixed run could be judged (no general benchmark above chance).")
    return " ".join(words)


def plot(summary: dict, path: Path) -> None:
    """General retention against domain gain, one point per run with 95 % error bars: up and right is better."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(figsize=(6.4, 4.8), dpi=120)
    for method, marker in {"lora": "o", "full": "s"}.items():
        rows = [r for r in summary["rows"] if r["method"] == method and r["general_retention"] is not None and r["domain_gain"] is not None]
        if not rows:
            continue
        axes.errorbar([r["domain_gain"] for r in rows], [r["general_retention"] for r in rows], xerr=[r["domain_half_width"] for r in rows],
                      yerr=[r["general_half_width"] for r in rows], fmt=marker, markersize=7, capsize=3, label=method)
        for r in rows:
            axes.annotate(f"{r['customer_data_percent']}%", (r["domain_gain"], r["general_retention"]), textcoords="offset points", xytext=(6, 4))
    axes.axhline(summary["target"]["mixed_retention"], color="grey", linestyle="--", linewidth=1, label=f"{summary['target']['mixed_retention']:.0%} retention")
    axes.set_xlabel("domain gain (held-out tickets, accuracy tuned - base)")
    axes.set_ylabel("general skill kept above chance")
    axes.set_title(f"Forgetting vs domain gain, mean of {len(summary['settings']['seeds'])} seeds, 95 % intervals")
    axes.legend()
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)


def write_reports(summary: dict, reports: Path) -> None:
    reports.mkdir(parents=True, exist_ok=True)
    (reports / "forgetting.json").write_text(json.dumps(summary, indent=2) + "\n")
    (reports / "forgetting.md").write_text(markdown(summary))
    plot(summary, reports / "forgetting.png")
