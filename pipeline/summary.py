"""The run's summary as a person reads it: the execution's output (the "Summarise the run"
state's shape) as a small table, or a failed run's error and cause. The command-line client
prints it for a run in the cloud, the local runner (`make demo`) for its own."""
from __future__ import annotations

from collections.abc import Mapping

from openforge_contract.capacity_plan import GIB
from openforge_contract.execution_data import ENDPOINT, EXECUTION_NAME, JOB_NAME, SANITISATION, SELECTION, VALIDATION_RUN

ENDED_AS = {"SUCCEEDED": "Run finished", "FAILED": "Run failed", "ABORTED": "Run aborted", "TIMED_OUT": "Run timed out"}


def percent(value) -> str:
    return f"{value:g}%" if isinstance(value, (int, float)) and not isinstance(value, bool) else f"{value}"


def summary_lines(summary: Mapping) -> list[str]:
    """The execution's output (the "Summarise the run" state's shape) as a small table."""
    sanitisation = summary.get(SANITISATION) or {}
    validation = summary.get(VALIDATION_RUN) or {}
    selection = summary.get(SELECTION) or {}
    endpoint = summary.get(ENDPOINT) or {}
    rows = []
    if sanitisation:
        quarantined = sanitisation.get("quarantined_percent")
        share = f" ({quarantined:.2f}%)" if isinstance(quarantined, (int, float)) else ""
        text = (f"{sanitisation.get('lines_in')} lines in: {sanitisation.get('clean')} clean, {sanitisation.get('quarantined')} quarantined{share}, "
                f"{sanitisation.get('duplicates')} duplicates removed")
        rows.append(("Sanitisation", text))
        if sanitisation.get("report_key"):
            rows.append(("", f"report {sanitisation['report_key']}"))
    if validation:
        rows.append(("Validation run", f"{validation.get('job_name')}: {validation.get('status')}"))
    if selection:
        rows.append(("Gate", f"{'passed' if selection.get('passed') else 'FAILED'}: {selection.get('cause')}"))
        chosen = selection.get("chosen")
        if isinstance(chosen, Mapping):
            rows.append(("Chosen model", f"mix {percent(chosen.get('customer_data_percent'))}: {chosen.get('model_s3_uri')}"))
        if selection.get("report_s3_uri"):
            rows.append(("Comparison", str(selection["report_s3_uri"])))
    if endpoint:
        if endpoint.get("endpoint_name"):
            rows.append(("Endpoint", f"{endpoint['endpoint_name']}: {endpoint.get('status')}"))
        else:
            rows.append(("Endpoint", str(endpoint.get("status"))))
    lines = [f"Run {summary.get(JOB_NAME)}, execution {summary.get(EXECUTION_NAME)}: succeeded", *key_values(rows)]
    return lines + _mix_table(selection.get("runs") or [])


def failure_lines(status: str, error: str | None, cause: str | None, selection: Mapping | None = None) -> list[str]:
    """A run that did not succeed: its error and cause (as the console's Fail state shows them),
    and the mixes' rows when the gate had already looked at them."""
    lines = [f"{ENDED_AS.get(status, status)}: {error or status}"]
    if cause:
        lines += key_values([("Cause", cause)])
    if isinstance(selection, Mapping):
        lines += _mix_table(selection.get("runs") or [])
    return lines


def key_values(rows: list[tuple[str, str]]) -> list[str]:
    width = max((len(key) for key, _ in rows), default=0)
    return [f"  {key:<{width}}  {value}" for key, value in rows]


def _mix_table(runs: list) -> list[str]:
    rows = [run for run in runs if isinstance(run, Mapping)]
    if not rows:
        return []
    header = ("mix", "status", "general skills kept", "held-out (base -> tuned)", "steps", "final loss", "MLflow run")
    table = [header]
    for run in rows:
        kept = run.get("general") or {}
        held = run.get("domain")
        table.append((
            percent(run.get("customer_data_percent")),
            str(run.get("status")),
            ", ".join(f"{name} {value.get('in_words')}" for name, value in kept.items() if isinstance(value, Mapping)) or "-",
            f"{held.get('metric')} {held['base']:.3f} -> {held['tuned']:.3f} ({held['gain']:+.3f})" if isinstance(held, Mapping) else "-",
            str(run["steps"]) if run.get("steps") is not None else "-",
            f"{run['final_loss']:.4f}" if isinstance(run.get("final_loss"), (int, float)) else "-",
            run.get("mlflow_run_id") or "-",
        ))
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = [""] + ["  " + "  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in table]
    lines.insert(2, "  " + "  ".join("-" * width for width in widths))
    causes = [(run, run.get("gate", {}).get("cause")) for run in rows if run.get("status") != "passed"]
    lines += [f"  mix {percent(run.get('customer_data_percent'))}: {cause}" for run, cause in causes if cause]
    return lines + [f"  mix {percent(run.get('customer_data_percent'))}: {capacity_in_words(run['capacity'])}"
                    for run in rows if isinstance(run.get("capacity"), Mapping)]


def capacity_in_words(capacity: Mapping) -> str:
    """"planned 29.4 GiB per device, 0.42 h; actual 27.9 GiB (device), 0.40 h" from a row's
    ``capacity`` (openforge_lambda.choice.capacity_summary)."""
    planned, actual = capacity.get("planned"), capacity.get("actual")

    def hours(figures: Mapping) -> str:
        return f"{figures['hours']:.2f} h" if figures.get("hours") is not None else "no duration"

    if isinstance(planned, Mapping):
        memory = planned.get("memory_per_device_bytes")
        words = f"planned {memory / GIB:.1f} GiB per device" if memory is not None else "planned memory unknown"
        words += f", {hours(planned)}"
    else:
        words = "no plan"
    if isinstance(actual, Mapping):
        peak = actual.get("peak_memory_bytes")
        words += f"; actual {peak / GIB:.1f} GiB ({actual.get('memory')})" if peak is not None else f"; actual memory {actual.get('memory') or 'not measured'}"
        words += f", {hours(actual)}"
    return words
