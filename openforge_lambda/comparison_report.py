"""The comparison a person reads after the mixing grid: comparison.md (a table of the mixes
with the choice and why the others did not pass), comparison.svg (retention and held-out
score against the customer data share) and comparison.json, made from ``choice``'s rows and
choice. No dependencies: plain text.
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape

from openforge_contract.run_record import COMPARISON_CHART, COMPARISON_REPORT, COMPARISON_RESULTS
from openforge_lambda.choice import dedupe_sentences, mix_name
from openforge_lambda.json_fields import is_number


def _general_names(rows: Iterable[Mapping]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [name for name in row["general"] if name not in names]
    return names


def comparison_markdown(rows: list[Mapping], choice: Mapping) -> str:
    general = _general_names(rows)
    chosen = choice.get("chosen")
    lines = ["# Mix comparison: the forgetting gate", ""]
    if chosen:
        lines += [f"**Chosen: mix {mix_name(chosen)}** ({chosen['model_s3_uri']})", "", str(choice["cause"])]
    else:
        lines.append("**No mix passed the forgetting gate.**" if rows else f"**{choice['cause']}**")
    lines += ["",
              "| customer data % | status | " + " | ".join(_cell(name) for name in general) + (" | " if general else "")
              + "held-out base -> tuned | steps | final loss | MLflow run |",
              "|---|---|" + "---|" * len(general) + "---|---|---|---|"]
    for row in rows:
        status = row["status"] + (" (chosen)" if is_chosen(row, chosen) else "")
        kept = [row["general"][name]["in_words"] if name in row["general"] else "-" for name in general]
        held_out = row["domain"]
        held = f"{held_out['metric']} {held_out['base']:.3f} -> {held_out['tuned']:.3f} ({held_out['gain']:+.3f})" if held_out else "-"
        loss = f"{row['final_loss']:.4f}" if is_number(row.get("final_loss")) else "-"
        cells = [mix_name(row), status, *kept, held, str(row["steps"] if row["steps"] is not None else "-"), loss,
                 f"`{row['mlflow_run_id']}`" if row["mlflow_run_id"] else "-"]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    failures = [row for row in rows if row["status"] != "passed"]
    if failures:
        lines += ["", "Why the others did not pass:" if chosen else "Why each mix did not pass:",
                  *[f"- mix {mix_name(row)}: {row['gate']['cause']}" for row in failures]]
    remedy = "" if chosen else dedupe_sentences(row["gate"]["remedy"] for row in rows)
    if remedy:
        lines += ["", f"What to do: {remedy}"]
    limits = _limits(rows)
    if limits:
        lines += ["", f"Limits: every general benchmark the base model scores above chance on keeps at least "
                      f"{limits['min_general_retention']:.0%} of the base's score above chance, unless the drop is within the "
                      f"benchmark's 95 % noise interval; the held-out metric rises by at least {limits['min_domain_gain']:+g}, beyond noise."
                      + (" The general check was waived: " + waived + "." if (waived := _waived(rows)) else "")]
    return "\n".join(lines) + "\n"


def _waived(rows: Iterable[Mapping]) -> str:
    """The mixes the waiver let through without an informative general benchmark (the waiver
    does nothing where one was checked)."""
    return ", ".join(f"mix {mix_name(row)}" for row in rows if row["gate"].get("waived"))


def _limits(rows: Iterable[Mapping]) -> Mapping | None:
    return next((row["gate"]["limits"] for row in rows if isinstance(row["gate"].get("limits"), Mapping)
                 and is_number(row["gate"]["limits"].get("min_general_retention"))), None)


SVG_WIDTH, SVG_HEIGHT = 520, 320
PLOT = {"left": 60, "right": 500, "top": 40, "bottom": 270}
COLOURS = {"retention": "#1f77b4", "held-out": "#d62728"}


def comparison_svg(rows: list[Mapping], choice: Mapping, retention_limit: float | None = None) -> str:
    """Customer data % (x) against the minimum general retention and the held-out tuned
    score (y); filled points passed the gate, hollow ones did not; the chosen mix is ringed;
    the retention limit is the dashed line. No dependencies: plain SVG text."""
    if retention_limit is None and _limits(rows):
        retention_limit = _limits(rows)["min_general_retention"]
    scored = sorted((row for row in rows if not row["status"].startswith("failed:") and is_number(row["customer_data_percent"])),
                    key=lambda row: row["customer_data_percent"])
    series = {
        "retention": [(row, row["min_general_retention"]) for row in scored if row["min_general_retention"] is not None],
        "held-out": [(row, row["domain"]["tuned"]) for row in scored if row["domain"]],
    }
    values = [value for points in series.values() for _, value in points] + ([retention_limit] if retention_limit is not None else [])
    low = math.floor(min(values, default=0.0) * 10) / 10
    high = max(math.ceil(max(values, default=1.0) * 10) / 10, low + 0.1)

    def x(percent: float) -> float:
        return round(PLOT["left"] + (PLOT["right"] - PLOT["left"]) * percent / 100, 1)

    def y(value: float) -> float:
        return round(PLOT["bottom"] - (PLOT["bottom"] - PLOT["top"]) * (value - low) / (high - low), 1)

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_WIDTH}" height="{SVG_HEIGHT}" viewBox="0 0 {SVG_WIDTH} {SVG_HEIGHT}" '
           'font-family="sans-serif" font-size="11">',
           "<title>Mix comparison: general retention and held-out score by customer data share</title>",
           f'<rect width="{SVG_WIDTH}" height="{SVG_HEIGHT}" fill="white"/>',
           f'<path d="M{PLOT["left"]},{PLOT["top"]} V{PLOT["bottom"]} H{PLOT["right"]}" fill="none" stroke="#333"/>']
    for percent in (0, 25, 50, 75, 100):
        out.append(f'<text x="{x(percent)}" y="{PLOT["bottom"] + 16}" text-anchor="middle">{percent}</text>')
    out.append(f'<text x="{(PLOT["left"] + PLOT["right"]) / 2}" y="{PLOT["bottom"] + 34}" text-anchor="middle">customer data %</text>')
    out.append(f'<text transform="translate(16,{(PLOT["top"] + PLOT["bottom"]) / 2}) rotate(-90)" text-anchor="middle">score / retention</text>')
    for step in range(round((high - low) * 10) + 1):
        value = low + step / 10
        out.append(f'<text x="{PLOT["left"] - 6}" y="{y(value) + 4}" text-anchor="end">{value:.1f}</text>')
    if retention_limit is not None:
        out.append(f'<line class="limit" x1="{PLOT["left"]}" y1="{y(retention_limit)}" x2="{PLOT["right"]}" y2="{y(retention_limit)}" '
                   f'stroke="{COLOURS["retention"]}" stroke-dasharray="5,4"/>')
        out.append(f'<text x="{PLOT["left"] + 4}" y="{y(retention_limit) + 13}" fill="{COLOURS["retention"]}">'
                   f'retention limit {retention_limit:g}</text>')
    chosen = choice.get("chosen")
    for name, points in series.items():
        colour = COLOURS[name]
        if len(points) > 1:
            path = " ".join(f"{x(row['customer_data_percent'])},{y(value)}" for row, value in points)
            out.append(f'<polyline points="{path}" fill="none" stroke="{colour}"/>')
        for row, value in points:
            at, fill = f'cx="{x(row["customer_data_percent"])}" cy="{y(value)}"', colour if row["status"] == "passed" else "white"
            tip = escape(f"mix {mix_name(row)}: {name} {value:.3f} ({row['status']})")
            out.append(f'<circle class="{name}" {at} r="4" fill="{fill}" stroke="{colour}"><title>{tip}</title></circle>')
            if is_chosen(row, chosen):
                out.append(f'<circle class="chosen" {at} r="9" fill="none" stroke="#2ca02c" stroke-width="2"/>')
    for row in rows:
        if row["status"].startswith("failed:") and is_number(row["customer_data_percent"]):
            tip = escape(f"mix {mix_name(row)}: {row['status']}")
            out.append(f'<text class="failed" x="{x(row["customer_data_percent"])}" y="{PLOT["bottom"] - 4}" text-anchor="middle" fill="#888">'
                       f'× failed<title>{tip}</title></text>')
    legend = [("min general retention above chance", COLOURS["retention"]), ("held-out tuned score", COLOURS["held-out"])]
    for index, (text, colour) in enumerate(legend):
        out.append(f'<circle cx="{PLOT["left"] + 10 + 160 * index}" cy="18" r="4" fill="{colour}"/>'
                   f'<text x="{PLOT["left"] + 18 + 160 * index}" y="22">{text}</text>')
    out.append(f'<circle cx="{PLOT["left"] + 300}" cy="18" r="7" fill="none" stroke="#2ca02c" stroke-width="2"/>'
               f'<text x="{PLOT["left"] + 312}" y="22">chosen</text>'
               f'<circle cx="{PLOT["left"] + 365}" cy="18" r="4" fill="white" stroke="#333"/>'
               f'<text x="{PLOT["left"] + 373}" y="22">failed gate</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def report_documents(rows: list[Mapping], choice: Mapping, **extra) -> dict[str, tuple[bytes, str]]:
    """{file name: (body, content type)} for comparison.json, .md and .svg."""
    document = {"passed": choice["passed"], "cause": choice["cause"], "chosen": choice["chosen"], "runs": rows, **extra}
    return {
        COMPARISON_RESULTS: (json.dumps(document, indent=2).encode() + b"\n", "application/json"),
        COMPARISON_REPORT: (comparison_markdown(rows, choice).encode(), "text/markdown"),
        COMPARISON_CHART: (comparison_svg(rows, choice, extra.get("retention_limit")).encode(), "image/svg+xml"),
    }


def is_chosen(row: Mapping, chosen: Mapping | None) -> bool:
    """By value, not identity: a row may have been through JSON since it was chosen."""
    return chosen is not None and row["status"] == "passed" and (row["label"], row["customer_data_percent"]) == (
        chosen["label"], chosen["customer_data_percent"])


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
