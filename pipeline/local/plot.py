"""The mix comparison as a picture a person opens (comparison.png, matplotlib): one panel per
general benchmark with each mix's change from the base model and its 95 % interval against
the forgetting limit, and one panel of the held-out score. It draws what the gate decided
(PickModel's rows), so the picture and the verdict cannot disagree.

A general panel's y axis is tuned - base. The dashed line is the limit: the drop that keeps
exactly ``min_general_retention`` of the base's skill above chance. A mix *forgot* when its
point lies under that line and its whole interval under 0 (red); a benchmark the base scores
at chance on is greyed out, since it cannot show forgetting.
"""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from openforge_contract.gate_words import FORGOT, UNINFORMATIVE
from openforge_lambda.choice import mix_name
from openforge_lambda.comparison_report import is_chosen

COMPARISON_PNG = "comparison.png"  # in the local run's work folder, beside summary.json
COLOURS = {"chosen": "#2ca02c", FORGOT: "#d62728", "other": "#1f77b4", UNINFORMATIVE: "#9e9e9e"}


def comparison_png(selection: Mapping, path: Path) -> Path:
    """Writes ``path`` from the PickModel result (its ``runs`` rows and ``chosen``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = [row for row in selection.get("runs") or [] if row.get("general") or row.get("domain")]
    chosen = selection.get("chosen")
    benchmarks = list(dict.fromkeys(name for row in rows for name in row["general"]))
    limit = next((row["gate"]["limits"]["min_general_retention"] for row in rows if row["gate"].get("limits")), None)
    figure, axes = plt.subplots(1, len(benchmarks) + 1, figsize=(3.4 * (len(benchmarks) + 1), 3.8), dpi=110, squeeze=False)
    labels = [mix_name(row) for row in rows]
    for axis, name in zip(axes[0], benchmarks):
        _general_panel(axis, name, rows, chosen, limit)
    _held_out_panel(axes[0][-1], rows, chosen)
    for axis in axes[0]:
        axis.set_xticks(range(len(rows)), labels)
        axis.set_xlabel("customer data share")
        axis.grid(alpha=0.3)
    verdict = f"chosen: mix {mix_name(chosen)}" if chosen else "no mix passed"
    figure.suptitle(f"Forgetting gate by mix ({verdict}; red: forgot, green: chosen)")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path


def _general_panel(axis, name: str, rows: list[Mapping], chosen, limit: float | None) -> None:
    from openforge_training.evaluation.gate import limit_change
    entries = [row["general"].get(name) for row in rows]
    known = [entry for entry in entries if entry]
    informative = any(entry["status"] != UNINFORMATIVE for entry in known)
    for index, (row, entry) in enumerate(zip(rows, entries)):
        if not entry or not entry.get("change_interval"):
            continue
        change = entry["tuned"] - entry["base"]
        low, high = entry["change_interval"]
        colour = _colour(row, entry, chosen)
        axis.errorbar(index, change, yerr=[[change - low], [high - change]], fmt="o", color=colour, capsize=4, markersize=7)
    axis.axhline(0, color="black", linewidth=0.8)
    if informative and limit is not None and known:
        base, chance = known[0]["base"], known[0]["chance"] or 0.0
        axis.axhline(limit_change(base, chance, limit), color=COLOURS[FORGOT], linestyle="--", linewidth=1,
                     label=f"limit: keep {limit:.0%} above chance")
        axis.legend(loc="lower left", fontsize=7)
    base_text = f"base {known[0]['base']:.3f}, chance {known[0]['chance']:.2f}" if known else ""
    axis.set_title(f"{name}{'' if informative else ' (uninformative)'}\n{base_text}", fontsize=9)
    axis.set_ylabel("tuned - base (95 % interval)")


def _held_out_panel(axis, rows: list[Mapping], chosen) -> None:
    domains = [row.get("domain") for row in rows]
    for index, (row, domain) in enumerate(zip(rows, domains)):
        if domain:
            axis.bar(index, domain["tuned"], color=_colour(row, None, chosen), alpha=0.8)
    base = next((domain["base"] for domain in domains if domain), None)
    if base is not None:
        axis.axhline(base, color="black", linewidth=0.8, label=f"base {base:.3f}")
        axis.legend(loc="lower left", fontsize=7)
    metric = next((f"{domain['benchmark']} {domain['metric']}" for domain in domains if domain), "held-out")
    axis.set_title(f"held-out: {metric}", fontsize=9)
    axis.set_ylim(0, 1.05)
    axis.set_ylabel("tuned score")


def _colour(row: Mapping, entry: Mapping | None, chosen) -> str:
    if entry is not None and entry["status"] == UNINFORMATIVE:
        return COLOURS[UNINFORMATIVE]
    if is_chosen(row, chosen):
        return COLOURS["chosen"]
    if entry is not None and entry["status"] == FORGOT or entry is None and row.get("status") != "passed":
        return COLOURS[FORGOT]
    return COLOURS["other"]
