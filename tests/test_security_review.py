"""The gate: `cdk synth` through the pinned CLI passes every environment with zero
unacknowledged findings, writes the reviewer's report, and fails on a new finding."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import pytest

from security.report import COLUMNS, Acknowledgement, Finding, review
from security.review import CDK_CLI, QUIET_NODE, ROOT, main
from tests.conftest import ENVIRONMENTS


@pytest.mark.parametrize("env_name", ENVIRONMENTS)
def test_every_environment_synthesises_clean_with_a_report(env_name, tmp_path, capsys):
    outdir = tmp_path / env_name
    assert main(["--env", env_name, "--out", str(outdir)]) == 0
    assert f"{env_name}: " in (printed := capsys.readouterr().out) and ", 0 unacknowledged" in printed
    assert {path.name.split(".")[0] for path in outdir.glob("*.template.json")} == {f"OpenForge-{env_name}-{part}" for part in ("Data", "Network", "Tracking", "Compute", "Sanitisation", "Pipeline")}
    rows = list(csv.DictReader((outdir / "security-review.csv").open()))
    assert rows and tuple(rows[0]) == COLUMNS
    assert all(row["acknowledged"] == "yes" and len(row["reason"].split()) >= 5 for row in rows)
    packs = {row["pack"] for row in rows}
    assert {"AwsSolutions", "HIPAA.Security", "NIST.800.53.R5"} <= packs
    markdown = (outdir / "security-review.md").read_text()
    assert markdown.startswith(f"# Security review: `{env_name}`") and "PASS: no unacknowledged findings" in markdown


def test_an_unacknowledged_finding_fails_synth(tmp_path):
    """An app with one unencrypted, unlogged bucket added must not synthesise."""
    outdir = tmp_path / "out"
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "--app", f"{sys.executable} -m tests.apps.insecure_app", "-c", "env=dev", "-o", str(outdir)],
        cwd=ROOT,
        env={**os.environ, **QUIET_NODE},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    report = json.loads((outdir / "validation-report.json").read_text())
    failing = {(violation["ruleName"], construct["constructPath"]) for plugin in report["pluginReports"] for violation in plugin["violations"] for construct in violation["violatingConstructs"]}
    assert ("AwsSolutions-S10", "OpenForge-dev-Data/Forgotten/Resource") in failing
    assert all(path.startswith("OpenForge-dev-Data/Forgotten") for _, path in failing)


def test_a_bad_config_stops_synth_with_the_key(tmp_path):
    result = subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "-c", "env=staging", "-o", str(tmp_path)],
        cwd=ROOT,
        env={**os.environ, **QUIET_NODE},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "OpenForge configuration error: env: unknown environment 'staging'; cdk.json defines dev, prod" in result.stderr


def _finding(rule: str, resource: str) -> Finding:
    return Finding("Pack", rule, resource, "error", "something")


def test_report_matches_acknowledgements_by_scope_and_rule():
    findings = [_finding("P-R1", "S/Bucket/Resource"), _finding("P-R1", "S/Other/Resource"), _finding("W3010", "S/Vpc/Subnet1/Subnet")]
    acks = [
        Acknowledgement("S/Bucket", "P-R1", "the bucket is the access log target"),
        Acknowledgement("S/Vpc", "CloudFormation-Validate::W3010", "zones come from the configuration file"),
        Acknowledgement("S/Bucket", "P-R2", "acknowledges a rule that never fired"),
    ]
    result = review("dev", findings, acks)
    assert [item.finding.resource for item in result.findings if item.acknowledgement] == ["S/Bucket/Resource", "S/Vpc/Subnet1/Subnet"]
    assert result.unacknowledged == [findings[1]]
    assert result.unused_acknowledgements == [acks[2]]


def test_report_keeps_iam5_ids_with_double_colons():
    rule = "AwsSolutions-IAM5[Resource::arn:<AWS::Partition>:s3:::b/p/*]"
    result = review("dev", [_finding(rule, "S/Role/Policy/Resource")], [Acknowledgement("S/Role/Policy", rule, "prefix is the narrowest scope here")])
    assert result.unacknowledged == []
    near_miss = review("dev", [_finding(rule, "S/Role/Policy/Resource")], [Acknowledgement("S/Role/Policy", rule.replace("/p/", "/q/"), "a different prefix entirely")])
    assert len(near_miss.unacknowledged) == 1
