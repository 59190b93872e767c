"""One JSON per evaluation run and its Markdown summary: per benchmark base, tuned, delta
and retention (tuned / base), then the gate's verdict."""
from __future__ import annotations

import json
from pathlib import Path

from openforge_contract.run_record import EVALUATION_REPORT, EVALUATION_RESULTS

from .gate import retention

SCHEMA = "openforge-evaluation/1"


def benchmark_entry(kind: str, base, tuned) -> dict:
    """``base`` and ``tuned`` are harness.Score-like (metric, value, count, details)."""
    return {
        "kind": kind, "metric": base.metric, "base": round(base.value, 4), "tuned": round(tuned.value, 4),
        "delta": round(tuned.value - base.value, 4), "retention": round(retention(base.value, tuned.value), 4), "count": base.count,
        "base_details": base.details, "tuned_details": tuned.details,
    }


def markdown(results: dict) -> str:
    gate = results["gate"]
    lines = [
        "# Evaluation: base vs tuned", "",
        f"- base model: `{results['base_model']}`", f"- tuned model: `{results['tuned_model']}`", "",
        "| benchmark | kind | metric | base | tuned | delta | retention | n |", "|---|---|---|---|---|---|---|---|",
    ]
    for name, b in results["benchmarks"].items():
        lines.append(f"| {name} | {b['kind']} | {b['metric']} | {b['base']:.3f} | {b['tuned']:.3f} | {b['delta']:+.3f} | {b['retention']:.1%} | {b['count']} |")
    lines += ["", f"## Forgetting gate: {'PASSED' if gate['passed'] else 'FAILED'}", ""]
    lines += [f"- {check['benchmark']}: {check['rule']} -> {check['value']} {'ok' if check['passed'] else 'FAILED'}" for check in gate["checks"]]
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
