"""One JSON per evaluation run and its Markdown summary: per benchmark base, tuned, the change
with its 95 % interval, chance and retention above chance (evaluation.gate), then the verdict."""
from __future__ import annotations

import json
from pathlib import Path

from openforge_contract.gate_words import FORGOT, KEPT, general_in_words, kept_share
from openforge_contract.run_record import EVALUATION_REPORT, EVALUATION_RESULTS

from .gate import assess

SCHEMA = "openforge-evaluation/2"  # 2: retention above chance, intervals, statuses


def benchmark_entry(name: str, kind: str, base, tuned) -> dict:
    """``base`` and ``tuned`` are harness.Score-like (metric, value, count, details)."""
    return {
        "kind": kind, "metric": base.metric, "base": round(base.value, 4), "tuned": round(tuned.value, 4),
        "delta": round(tuned.value - base.value, 4), "count": base.count,
        **assess(name, base.value, tuned.value, base.count, general=kind == "general", tuned_count=tuned.count,
                 base_items=base.items, tuned_items=tuned.items),
        "base_details": base.details, "tuned_details": tuned.details, "base_items": base.items, "tuned_items": tuned.items,
    }


def markdown(results: dict) -> str:
    gate = results["gate"]
    lines = [
        "# Evaluation: base vs tuned", "",
        f"- base model: `{results['base_model']}`", f"- tuned model: `{results['tuned_model']}`", "",
        "Retention is the share of the base model's score *above chance* the tuned model kept, shown where a drop is beyond "
        "noise; a change whose 95 % interval holds 0 is within the benchmark's sampling noise.", "",
        "| benchmark | kind | metric | chance | base | tuned | change (95 % interval) | retention above chance | verdict | n |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    domain_checks = {check["benchmark"]: check for check in gate["checks"]}
    for name, b in results["benchmarks"].items():
        low, high = b["change_interval"]
        if b["kind"] == "general":  # a retention only where the gate reads one: a drop beyond noise
            kept = kept_share(b["retention"]).removeprefix("kept ") if b.get("status") in (KEPT, FORGOT) else "-"
            status, chance = general_in_words(b), f"{b['chance']:.2f}"
        else:
            check = domain_checks.get(name)
            kept, chance, status = "-", "-", check["status"] if check else "-"
        lines.append(f"| {name} | {b['kind']} | {b['metric']} | {chance} | {b['base']:.3f} | {b['tuned']:.3f} | "
                     f"{b['delta']:+.3f} ({low:+.3f} to {high:+.3f}, {b['interval_method']}) | {kept} | {status} | {b['count']} |")
    lines += ["", f"## Forgetting gate: {'PASSED' if gate['passed'] else 'FAILED'}", ""]
    lines += [f"- {check['benchmark']}: {check['rule']} -> {check['value']} {'ok' if check['passed'] else 'FAILED'}" for check in gate["checks"]]
    if gate["notes"]:
        lines += ["", "Notes:", *[f"- {note}" for note in gate["notes"]]]
    if gate["reasons"]:
        lines += ["", "Why:", *[f"- {reason}" for reason in gate["reasons"]]]
    if gate["remedy"]:
        lines += ["", f"What to do: {gate['remedy']}"]
    return "\n".join(lines) + "\n"


def write(results: dict, output_dir: Path) -> tuple[Path, Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    json_path, md_path = output_dir / EVALUATION_RESULTS, output_dir / EVALUATION_REPORT
    json_path.write_text(json.dumps(results, indent=2) + "\n")
    md_path.write_text(markdown(results))
    return json_path, md_path
