"""Pick the model after the mixing grid: one summary row per mix, the forgetting gate's
verdict on each, and the policy that chooses among the mixes that passed.

The pure part (``run_summary``, ``choose``, ``comparison_markdown``, ``comparison_svg``,
``report_documents``) works on plain dicts, so a local runner can feed it the
evaluation.json and openforge-run.json files it has on disk. ``pick`` is the S3 part the
PickModel Lambda runs: it reads those files for every mix, chooses, and writes
comparison.json, comparison.md and comparison.svg under the run's report prefix, under KMS.

The policy: among the mixes whose gate passed, the highest held-out (domain) tuned score;
a tie goes to the higher minimum general retention, then to the lower customer data share
(more curated data is the safer model).
"""
from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Iterable, Mapping
from xml.sax.saxutils import escape

from botocore.exceptions import BotoCoreError, ClientError

from openforge_contract.environment_variables import OutputKey
from openforge_contract.run_record import COMPARISON_CHART, COMPARISON_REPORT, COMPARISON_RESULTS, EVALUATION_RESULTS, RUN_RECORD

from openforge_lambda.s3_streams import ObjectWriter, split_s3_uri

CAUSE_LIMIT = 1000  # characters of one failure's cause kept in a row (Step Functions' 256 KB limit)
READ_LIMIT = 32 * 1024 * 1024  # an evaluation.json is KBs; anything near this is not one

GATE_FAILED, NO_MODEL_TRAINED = "ForgettingGateFailed", "NoModelTrained"  # the run's error when no mix passed


def step_remedy(step: str) -> str:
    return f"Fix what stopped the {step} (the {step} job's log says more) and run again."


# ---------------------------------------------------------------------------------------
# One mix


def retention(base: float, tuned: float) -> float:
    """tuned / base; 1.0 when the base scored 0 (as the container's gate.retention)."""
    return tuned / base if base > 0 else 1.0


def run_summary(mix: Mapping, evaluation: Mapping | None, training_record: Mapping | None, failed: Mapping | None,
                model_s3_uri: str | None) -> dict:
    """One mix's row. ``failed`` ({"step", "cause"}) wins over everything else; without it,
    ``evaluation`` (evaluation.json) decides the status; ``training_record`` is the
    training job's openforge-run.json (MLflow run, steps, final loss)."""
    record = training_record if isinstance(training_record, Mapping) else {}
    row = {
        "label": str(mix.get("label") or mix.get("customer_data_percent")),
        "customer_data_percent": mix.get("customer_data_percent"),
        "status": None,
        "gate": {"passed": False, "cause": None, "remedy": "", "limits": None},
        "general_retention": {},
        "min_general_retention": None,
        "domain": None,
        "mlflow_run_id": record.get("mlflow_run_id") if isinstance(record.get("mlflow_run_id"), str) else None,
        "steps": record.get("steps") if _is_number(record.get("steps")) else None,
        "final_loss": record.get("final_loss") if _is_number(record.get("final_loss")) else None,  # a NaN is not JSON
        "model_s3_uri": model_s3_uri,
        "training_job_name": mix.get("training_job_name"),
        "evaluation_job_name": mix.get("evaluation_job_name"),
    }
    problem = _evaluation_problem(evaluation) if not failed else None
    if failed or problem:
        step = str((failed or {}).get("step") or "evaluation")
        cause = _short(_readable((failed or {}).get("cause") or problem or "no cause given"))
        row["status"] = f"failed: {step}"
        row["gate"].update(cause=f"{step} failed: {cause}", remedy=step_remedy(step))
        row["model_s3_uri"] = None  # nothing to deploy from a mix that did not finish
        return row

    benchmarks, gate = evaluation["benchmarks"], evaluation["gate"]
    for name, entry in benchmarks.items():
        if entry.get("kind") == "general":
            row["general_retention"][name] = round(retention(entry["base"], entry["tuned"]), 4)
    if row["general_retention"]:
        row["min_general_retention"] = min(row["general_retention"].values())
    domain = _domain(benchmarks)
    if domain:
        name, entry = domain
        row["domain"] = {"benchmark": name, "metric": entry.get("metric"), "base": entry["base"], "tuned": entry["tuned"],
                         "gain": round(entry["tuned"] - entry["base"], 4)}
    passed = gate.get("passed") is True
    row["status"] = "passed" if passed else "failed gate"
    row["gate"] = {"passed": passed, "cause": _short(str(gate.get("cause") or ("passed" if passed else "the gate gave no cause"))),
                   "remedy": str(gate.get("remedy") or ""), "limits": gate.get("limits")}
    return row


def _evaluation_problem(evaluation) -> str | None:
    """Why an evaluation.json cannot be read as one, or None."""
    if evaluation is None:
        return f"no {EVALUATION_RESULTS} was given"
    if not isinstance(evaluation, Mapping):
        return f"{EVALUATION_RESULTS} is not a JSON object"
    benchmarks, gate = evaluation.get("benchmarks"), evaluation.get("gate")
    if not isinstance(benchmarks, Mapping) or not isinstance(gate, Mapping) or "passed" not in gate:
        return f"{EVALUATION_RESULTS} has no benchmarks or no gate verdict"
    for name, entry in benchmarks.items():
        if not isinstance(entry, Mapping) or not all(_is_number(entry.get(key)) for key in ("base", "tuned")):
            return f"{EVALUATION_RESULTS}: benchmark {name} has no numeric base and tuned scores"
    return None


def _domain(benchmarks: Mapping) -> tuple[str, Mapping] | None:
    """The held-out benchmark: byod if there, else the first of kind domain."""
    domains = [(name, entry) for name, entry in benchmarks.items() if entry.get("kind") == "domain"]
    return next((d for d in domains if d[0] == "byod"), domains[0] if domains else None)


# ---------------------------------------------------------------------------------------
# The policy


def _rank(row: Mapping) -> tuple:
    tuned = row["domain"]["tuned"] if row.get("domain") else -math.inf
    kept = row["min_general_retention"] if row.get("min_general_retention") is not None else 1.0
    percent = row["customer_data_percent"] if _is_number(row.get("customer_data_percent")) else math.inf
    return (tuned, kept, -percent)


def choose(rows: Iterable[Mapping]) -> dict:
    """{"passed", "error", "cause", "chosen": row or None}: the best held-out score among the
    rows whose gate passed; ties -> higher minimum general retention -> lower customer share.
    ``error`` names a run without a model: ForgettingGateFailed (scored and refused) or
    NoModelTrained (every mix failed before its gate)."""
    rows = list(rows)
    if not rows:
        return {"passed": False, "error": NO_MODEL_TRAINED, "cause": "no mix was trained: the grid had no mixes", "chosen": None}
    passed = [row for row in rows if row["status"] == "passed"]
    if not passed:
        # The run's error says which: a model was scored and refused, or none got that far.
        gated = any(row["status"] == "failed gate" for row in rows)
        clauses = "; ".join(f"mix {_mix(row)}: {row['gate']['cause'].rstrip('. ')}" for row in rows)
        remedy = _dedupe_sentences(row["gate"]["remedy"] for row in rows)
        summary = "no mix passed the forgetting gate" if gated else "no mix finished training and evaluation"
        return {"passed": False, "error": GATE_FAILED if gated else NO_MODEL_TRAINED,
                "cause": f"{summary}: {clauses}." + (f" What to do: {remedy}" if remedy else ""), "chosen": None}

    chosen = max(passed, key=_rank)
    held_out = chosen["domain"]
    cause = f"mix {_mix(chosen)} chosen: "
    if held_out:
        cause += f"held-out {held_out['benchmark']} {held_out['metric']} {held_out['base']:.3f} -> {held_out['tuned']:.3f} ({held_out['gain']:+.3f})"
    if chosen["min_general_retention"] is not None:
        cause += f", general skills kept at least {chosen['min_general_retention']:.1%}"
    cause += f"; {len(passed)} of {len(rows)} mixes passed the gate"
    tied = [row for row in passed if row is not chosen and _rank(row)[0] == _rank(chosen)[0]]
    if tied:
        others = ", ".join(_mix(row) for row in tied)
        cause += f" (tied on the held-out score with {others}: the higher general retention, then the lower customer data share, wins)"
    return {"passed": True, "error": None, "cause": cause, "chosen": chosen}


def _dedupe_sentences(texts: Iterable[str]) -> str:
    """Remedies joined, each sentence once, in first-seen order."""
    seen: list[str] = []
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text or ""):
            sentence = sentence.strip()
            if sentence and sentence not in seen:
                seen.append(sentence)
    return " ".join(seen)


# ---------------------------------------------------------------------------------------
# The comparison a person reads


def _general_names(rows: Iterable[Mapping]) -> list[str]:
    names: list[str] = []
    for row in rows:
        names += [name for name in row["general_retention"] if name not in names]
    return names


def comparison_markdown(rows: list[Mapping], choice: Mapping) -> str:
    general = _general_names(rows)
    chosen = choice.get("chosen")
    lines = ["# Mix comparison: the forgetting gate", ""]
    if chosen:
        lines += [f"**Chosen: mix {_mix(chosen)}** ({chosen['model_s3_uri']})", "", str(choice["cause"])]
    else:
        lines.append("**No mix passed the forgetting gate.**" if rows else f"**{choice['cause']}**")
    lines += ["",
              "| customer data % | status | " + " | ".join(f"{_cell(name)} retention" for name in general) + (" | " if general else "")
              + "held-out base -> tuned | steps | final loss | MLflow run |",
              "|---|---|" + "---|" * len(general) + "---|---|---|---|"]
    for row in rows:
        status = row["status"] + (" (chosen)" if _is_chosen(row, chosen) else "")
        kept = [f"{row['general_retention'][name]:.1%}" if name in row["general_retention"] else "-" for name in general]
        held_out = row["domain"]
        held = f"{held_out['metric']} {held_out['base']:.3f} -> {held_out['tuned']:.3f} ({held_out['gain']:+.3f})" if held_out else "-"
        loss = f"{row['final_loss']:.4f}" if _is_number(row.get("final_loss")) else "-"
        cells = [_mix(row), status, *kept, held, str(row["steps"] if row["steps"] is not None else "-"), loss,
                 f"`{row['mlflow_run_id']}`" if row["mlflow_run_id"] else "-"]
        lines.append("| " + " | ".join(_cell(cell) for cell in cells) + " |")
    failures = [row for row in rows if row["status"] != "passed"]
    if failures:
        lines += ["", "Why the others did not pass:" if chosen else "Why each mix did not pass:",
                  *[f"- mix {_mix(row)}: {row['gate']['cause']}" for row in failures]]
    remedy = "" if chosen else _dedupe_sentences(row["gate"]["remedy"] for row in rows)
    if remedy:
        lines += ["", f"What to do: {remedy}"]
    limits = _limits(rows)
    if limits:
        lines += ["", f"Limits: every general benchmark keeps at least {limits['min_general_retention']:.0%} of the base score; "
                      f"the held-out metric rises by at least {limits['min_domain_gain']:+g}."]
    return "\n".join(lines) + "\n"


def _limits(rows: Iterable[Mapping]) -> Mapping | None:
    return next((row["gate"]["limits"] for row in rows if isinstance(row["gate"].get("limits"), Mapping)
                 and _is_number(row["gate"]["limits"].get("min_general_retention"))), None)


SVG_WIDTH, SVG_HEIGHT = 520, 320
PLOT = {"left": 60, "right": 500, "top": 40, "bottom": 270}
COLOURS = {"retention": "#1f77b4", "held-out": "#d62728"}


def comparison_svg(rows: list[Mapping], choice: Mapping, retention_limit: float | None = None) -> str:
    """Customer data % (x) against the minimum general retention and the held-out tuned
    score (y); filled points passed the gate, hollow ones did not; the chosen mix is ringed;
    the retention limit is the dashed line. No dependencies: plain SVG text."""
    if retention_limit is None and _limits(rows):
        retention_limit = _limits(rows)["min_general_retention"]
    scored = sorted((row for row in rows if not row["status"].startswith("failed:") and _is_number(row["customer_data_percent"])),
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
            tip = escape(f"mix {_mix(row)}: {name} {value:.3f} ({row['status']})")
            out.append(f'<circle class="{name}" {at} r="4" fill="{fill}" stroke="{colour}"><title>{tip}</title></circle>')
            if _is_chosen(row, chosen):
                out.append(f'<circle class="chosen" {at} r="9" fill="none" stroke="#2ca02c" stroke-width="2"/>')
    for row in rows:
        if row["status"].startswith("failed:") and _is_number(row["customer_data_percent"]):
            tip = escape(f"mix {_mix(row)}: {row['status']}")
            out.append(f'<text class="failed" x="{x(row["customer_data_percent"])}" y="{PLOT["bottom"] - 4}" text-anchor="middle" fill="#888">'
                       f'× failed<title>{tip}</title></text>')
    legend = [("min general retention", COLOURS["retention"]), ("held-out tuned score", COLOURS["held-out"])]
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


# ---------------------------------------------------------------------------------------
# S3


def pick(s3, run: Mapping, plan: Mapping, results: Iterable[Mapping], kms_key_id: str | None = None) -> dict:
    """Read every mix's evaluation.json and openforge-run.json, choose, write the comparison
    under plan["report_s3_uri"] (SSE-KMS, OUTPUT_KMS_KEY_ID unless given), and return
    {"passed", "error", "cause", "chosen", "runs", "report_s3_uri"}: summaries only, small enough
    for a Step Functions state."""
    kms_key_id = kms_key_id or OutputKey.from_environment(os.environ).kms_key_id
    report_s3_uri = plan["report_s3_uri"].rstrip("/") + "/"
    bucket, prefix = split_s3_uri(report_s3_uri)
    rows = [_outcome_row(s3, outcome) for outcome in results]
    choice = choose(rows)
    limit = ((run.get("evaluation") or {}).get("limits") or {}).get("min_general_retention")
    extra = {"execution_name": plan.get("execution_name"), "run_id": plan.get("run_id"), "job_name": run.get("job_name"),
             "retention_limit": limit if _is_number(limit) else None}
    for name, (body, content_type) in report_documents(rows, choice, **extra).items():
        with ObjectWriter(s3, bucket, prefix + name, kms_key_id, content_type=content_type) as out:
            out.write(body)
    return {"passed": choice["passed"], "error": choice["error"], "cause": choice["cause"], "chosen": choice["chosen"], "runs": rows,
            "report_s3_uri": report_s3_uri}


def _outcome_row(s3, outcome: Mapping) -> dict:
    mix = outcome.get("mix") or {}
    if outcome.get("failed"):
        return run_summary(mix, None, None, outcome["failed"], None)
    training, evaluation = outcome.get("training") or {}, outcome.get("evaluation") or {}
    for step, job in (("training", training), ("evaluation", evaluation)):
        if job.get("status") != "Completed" or not job.get("output_s3_uri"):
            cause = job.get("failure_reason") or f"the job ended {job.get('status') or 'without a status'}" + (
                "" if job.get("output_s3_uri") else " and left no output location")
            return run_summary(mix, None, None, {"step": step, "cause": cause}, None)
    try:
        results = read_json(s3, _join(evaluation["output_s3_uri"], EVALUATION_RESULTS))
        record = read_json(s3, _join(training["output_s3_uri"], RUN_RECORD))
    except ValueError as error:
        return run_summary(mix, None, None, {"step": "evaluation", "cause": str(error)}, None)
    return run_summary(mix, results, record, None, training["output_s3_uri"])


def read_json(s3, uri: str):
    """The object's JSON; ValueError naming the object and S3's (or the parser's) error."""
    try:
        bucket, key = split_s3_uri(uri)
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read(READ_LIMIT + 1)
        if len(body) > READ_LIMIT:
            raise ValueError(f"larger than {READ_LIMIT} bytes")
        return json.loads(body)
    except (ClientError, BotoCoreError, ValueError) as error:  # JSONDecodeError is a ValueError
        raise ValueError(f"cannot read {uri}: {error}") from None


def _join(prefix: str, name: str) -> str:
    return prefix.rstrip("/") + "/" + name


# ---------------------------------------------------------------------------------------


def _is_chosen(row: Mapping, chosen: Mapping | None) -> bool:
    """By value, not identity: a row may have been through JSON since it was chosen."""
    return chosen is not None and row["status"] == "passed" and (row["label"], row["customer_data_percent"]) == (
        chosen["label"], chosen["customer_data_percent"])


def _mix(row: Mapping) -> str:
    """"75%", or the mix's label when it has no percentage."""
    return _percent(row["customer_data_percent"]) if _is_number(row.get("customer_data_percent")) else str(row["label"])


def _readable(cause) -> str:
    """A Step Functions error's Cause is often a Lambda's or a job's JSON: its message."""
    if isinstance(cause, str) and cause.lstrip().startswith("{"):
        try:
            cause = json.loads(cause)
        except ValueError:
            return cause
    if isinstance(cause, Mapping):
        return str(next((cause[key] for key in ("errorMessage", "FailureReason", "Cause", "cause") if cause.get(key)), json.dumps(cause)))
    return str(cause)


def _percent(value) -> str:
    return f"{value:g}%" if _is_number(value) else str(value)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _short(text: str) -> str:
    return text if len(text) <= CAUSE_LIMIT else text[: CAUSE_LIMIT - 1] + "…"


def _cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")
