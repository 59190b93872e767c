"""The run's summary as a person reads it (pipeline/summary.py), which the command-line
client and the local runner both print."""
from __future__ import annotations

from pipeline.summary import failure_lines, summary_lines
from tests.pipeline.cli.fakes import ROW_FORGOT, ROW_PASSED

from openforge_contract.capacity_plan import GIB  # isort: skip
from openforge_lambda.choice import choose  # isort: skip


def test_the_summary_is_a_small_table_of_the_execution_output():
    choice = choose([ROW_PASSED, ROW_FORGOT])
    output = {"job_name": "tickets", "execution_name": "tickets-20261201T120000Z",
              "sanitisation": {"passed": True, "lines_in": 1200, "clean": 1150, "quarantined": 30, "duplicates": 20, "quarantined_percent": 2.5,
                               "report_key": "s3://datasets/sanitised/tickets/x/clean/report.md"},
              "validation_run": {"job_name": "tickets-val-1a2b", "status": "Completed"},
              "selection": {**choice, "runs": [ROW_PASSED, ROW_FORGOT], "report_s3_uri": "s3://artifacts/reports/tickets/x/"},
              "endpoint": {"endpoint_name": "tickets", "status": "InService"}}
    lines = summary_lines(output)
    assert lines[:9] == [
        "Run tickets, execution tickets-20261201T120000Z: succeeded",
        "  Sanitisation    1200 lines in: 1150 clean, 30 quarantined (2.50%), 20 duplicates removed",
        "                  report s3://datasets/sanitised/tickets/x/clean/report.md",
        "  Validation run  tickets-val-1a2b: Completed",
        f"  Gate            passed: {choice['cause']}",
        "  Chosen model    mix 50%: s3://artifacts/training/tickets/t50/model/",
        "  Comparison      s3://artifacts/reports/tickets/x/",
        "  Endpoint        tickets: InService",
        "",
    ]
    header, rule, passed, forgot, why = lines[9:]
    assert header.split()[:5] == ["mix", "status", "general", "skills", "kept"] and set(rule.strip()) == {"-", " "}
    assert passed.split() == ["50%", "passed", "mmlu", "no", "measurable", "change", "(0.500", "->", "0.490),", "ifeval", "no", "measurable",
                              "change", "(0.500", "->", "0.495)", "macro_f1", "0.412", "->", "0.655", "(+0.243)", "120", "0.8123", "6f0c2d9e8b7a4c1d"]
    assert "%" not in passed.split(None, 1)[1], "no retention figure for a change within noise"
    assert forgot.split()[:3] == ["75%", "failed", "gate"] and forgot.split()[-1] == "a1b2c3d4e5f60718"
    assert header.index("MLflow run") == passed.index("6f0c2d9e8b7a4c1d"), "columns line up"
    assert forgot.split()[3:7] == ["mmlu", "kept", "73%", "(forgot)"]
    assert why.startswith("  mix 75%: mmlu forgot: it kept 73% of the base model's skill above chance (acc 0.620 -> 0.521")


def test_a_failure_reads_as_its_error_and_cause_with_the_mixes_the_gate_saw():
    cause = "no mix passed the forgetting gate: mix 75%: mmlu kept 84.0% < 97%."
    lines = failure_lines("FAILED", "ForgettingGateFailed", cause, {"runs": [ROW_FORGOT]})
    assert lines[:2] == ["Run failed: ForgettingGateFailed", f"  Cause  {cause}"]
    assert lines[3].split()[:2] == ["mix", "status"] and lines[5].split()[:3] == ["75%", "failed", "gate"]
    assert failure_lines("ABORTED", None, None) == ["Run aborted: ABORTED"]


def test_below_the_mix_table_each_planned_mix_reads_planned_against_actual():
    planned = {**ROW_PASSED, "capacity": {"planned": {"memory_per_device_bytes": round(29.4 * GIB), "hours": 0.42, "tokens": 10**6, "sharding": "none"},
                                          "actual": {"peak_memory_bytes": round(27.9 * GIB), "memory": "device", "hours": 0.4, "tokens": 10**6}}}
    local = {**ROW_FORGOT, "capacity": {"planned": None, "actual": {"peak_memory_bytes": round(1.3 * GIB), "memory": "host RSS", "hours": 0.012, "tokens": 900}}}
    lines = failure_lines("FAILED", "ForgettingGateFailed", "no mix passed", {"runs": [planned, local, ROW_FORGOT]})
    assert lines[-2:] == ["  mix 50%: planned 29.4 GiB per device, 0.42 h; actual 27.9 GiB (device), 0.40 h",
                          "  mix 75%: no plan; actual 1.3 GiB (host RSS), 0.01 h"]
