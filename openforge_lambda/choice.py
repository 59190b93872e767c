"""The choice of model after the mixing grid: one summary row per mix, the forgetting gate's
verdict on each, and the policy that chooses among the mixes that passed.

Pure functions of plain dicts (the evaluation.json and openforge-run.json files a mix
leaves), so a local runner can feed it the files it has on disk. The comparison a person
reads is ``comparison_report``; ``selection.pick`` is the S3 part the PickModel Lambda runs.

The policy: among the mixes whose gate passed, the highest held-out (domain) tuned score;
a tie goes to the higher minimum general retention (above chance, on the benchmarks the base
is informative on), then to the lower customer data share (more curated data is the safer model).
"""
from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Mapping

from openforge_contract.gate_words import FORGOT, KEPT, STATUSES, general_in_words
from openforge_contract.run_record import EVALUATION_RESULTS
from openforge_lambda.json_fields import is_number

CAUSE_LIMIT = 1000  # characters of one failure's cause kept in a row (Step Functions' 256 KB limit)

GATE_FAILED, NO_MODEL_TRAINED = "ForgettingGateFailed", "NoModelTrained"  # the run's error when no mix passed


def step_remedy(step: str) -> str:
    return f"Fix what stopped the {step} (the {step} job's log says more) and run again."


# ---------------------------------------------------------------------------------------
# One mix


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
        "general": {},  # benchmark -> the gate's status, retention above chance, base, tuned, in words
        "min_general_retention": None,
        "domain": None,
        "mlflow_run_id": record.get("mlflow_run_id") if isinstance(record.get("mlflow_run_id"), str) else None,
        "steps": record.get("steps") if is_number(record.get("steps")) else None,
        "final_loss": record.get("final_loss") if is_number(record.get("final_loss")) else None,  # a NaN is not JSON
        "capacity": capacity_summary(record),
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
            row["general"][name] = {"status": entry["status"], "retention": entry.get("retention"), "base": entry["base"],
                                    "tuned": entry["tuned"], "chance": entry.get("chance"), "change_interval": entry.get("change_interval"),
                                    "in_words": general_in_words(entry)}
    kept = [value["retention"] for value in row["general"].values() if is_number(value["retention"])]
    row["min_general_retention"] = round(min(kept), 4) if kept else None  # above chance, informative benchmarks only
    domain = _domain(benchmarks)
    if domain:
        name, entry = domain
        row["domain"] = {"benchmark": name, "metric": entry.get("metric"), "base": entry["base"], "tuned": entry["tuned"],
                         "gain": round(entry["tuned"] - entry["base"], 4)}
    passed = gate.get("passed") is True
    row["status"] = "passed" if passed else "failed gate"
    row["gate"] = {"passed": passed, "cause": _short(str(gate.get("cause") or ("passed" if passed else "the gate gave no cause"))),
                   "remedy": str(gate.get("remedy") or ""), "limits": gate.get("limits"), "waived": gate.get("general_check_waived") is True}
    return row


def capacity_summary(record: Mapping) -> dict | None:
    """The mix's planned and actual figures, compact, from its openforge-run.json's ``capacity``
    (the training container's planning.py); None in a record written before the container
    planned its run. A figure that is missing or not a finite number is None."""
    capacity = record.get("capacity")
    if not isinstance(capacity, Mapping):
        return None
    planned, actual = capacity.get("planned"), capacity.get("actual")
    row = {"planned": None, "actual": None}
    if isinstance(planned, Mapping):
        memory = planned.get("memory") if isinstance(planned.get("memory"), Mapping) else {}
        settings = planned.get("settings") if isinstance(planned.get("settings"), Mapping) else {}
        row["planned"] = {"memory_per_device_bytes": _number(memory.get("total")), "hours": _number(planned.get("hours")),
                          "tokens": _number(planned.get("tokens")), "sharding": settings.get("sharding") if isinstance(settings.get("sharding"), str) else None}
    if isinstance(actual, Mapping):
        row["actual"] = {"peak_memory_bytes": _number(actual.get("peak_memory_bytes")), "hours": _number(actual.get("hours")),
                         "tokens": _number(actual.get("tokens")), "memory": actual.get("memory") if isinstance(actual.get("memory"), str) else None}
    return row


def _number(value):
    return value if is_number(value) else None


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
        if not isinstance(entry, Mapping) or not all(is_number(entry.get(key)) and 0 <= entry[key] <= 1 for key in ("base", "tuned")):
            return f"{EVALUATION_RESULTS}: benchmark {name} has no base and tuned scores in [0, 1]"
        if entry.get("kind") == "general":
            if entry.get("status") not in STATUSES:
                return f"{EVALUATION_RESULTS}: general benchmark {name} has no gate status (written by an evaluation older than this pipeline)"
            if entry.get("retention") is not None and not is_number(entry["retention"]):
                return f"{EVALUATION_RESULTS}: general benchmark {name} has a retention that is not a finite number"
            if entry["status"] in (KEPT, FORGOT) and entry.get("retention") is None:
                return f"{EVALUATION_RESULTS}: general benchmark {name} is {entry['status']} without a retention"
        interval = entry.get("change_interval")
        if interval is not None and not (isinstance(interval, list) and len(interval) == 2 and all(is_number(v) for v in interval)):
            return f"{EVALUATION_RESULTS}: benchmark {name} has a change interval that is not two finite numbers"
    limits = gate.get("limits")
    if limits is not None and not (isinstance(limits, Mapping) and all(is_number(limits.get(key)) for key in ("min_general_retention", "min_domain_gain"))):
        return f"{EVALUATION_RESULTS}: the gate's limits are not numbers"
    if gate["passed"] is True:  # a verdict that contradicts its own numbers is not trusted
        if any(entry.get("status") == FORGOT for entry in benchmarks.values()):
            return f"{EVALUATION_RESULTS}: the gate says passed, yet a general benchmark forgot"
        if not _domain(benchmarks):
            return f"{EVALUATION_RESULTS}: the gate says passed without a held-out (domain) result"
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
    percent = row["customer_data_percent"] if is_number(row.get("customer_data_percent")) else math.inf
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
        clauses = "; ".join(f"mix {mix_name(row)}: {row['gate']['cause'].rstrip('. ')}" for row in rows)
        remedy = dedupe_sentences(row["gate"]["remedy"] for row in rows)
        summary = "no mix passed the forgetting gate" if gated else "no mix finished training and evaluation"
        return {"passed": False, "error": GATE_FAILED if gated else NO_MODEL_TRAINED,
                "cause": f"{summary}: {clauses}." + (f" What to do: {remedy}" if remedy else ""), "chosen": None}

    chosen = max(passed, key=_rank)
    held_out = chosen["domain"]
    cause = f"mix {mix_name(chosen)} chosen: "
    if held_out:
        cause += f"held-out {held_out['benchmark']} {held_out['metric']} {held_out['base']:.3f} -> {held_out['tuned']:.3f} ({held_out['gain']:+.3f})"
    if chosen["general"]:
        cause += "; general skills: " + ", ".join(f"{name} {value['in_words']}" for name, value in chosen["general"].items())
    cause += f"; {len(passed)} of {len(rows)} mixes passed the gate"
    tied = [row for row in passed if row is not chosen and _rank(row)[0] == _rank(chosen)[0]]
    if tied:
        others = ", ".join(mix_name(row) for row in tied)
        cause += f" (tied on the held-out score with {others}: the higher general retention, then the lower customer data share, wins)"
    return {"passed": True, "error": None, "cause": cause, "chosen": chosen}


def dedupe_sentences(texts: Iterable[str]) -> str:
    """Remedies joined, each sentence once, in first-seen order."""
    seen: list[str] = []
    for text in texts:
        for sentence in re.split(r"(?<=[.!?])\s+(?=[A-Z])", text or ""):
            sentence = sentence.strip()
            if sentence and sentence not in seen:
                seen.append(sentence)
    return " ".join(seen)


# ---------------------------------------------------------------------------------------
# Words: a mix's name, a failure's cause


def mix_name(row: Mapping) -> str:
    """"75%", or the mix's label when it has no percentage."""
    return _percent(row["customer_data_percent"]) if is_number(row.get("customer_data_percent")) else str(row["label"])


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
    return f"{value:g}%" if is_number(value) else str(value)


def _short(text: str) -> str:
    return text if len(text) <= CAUSE_LIMIT else text[: CAUSE_LIMIT - 1] + "…"
