"""The security review as a reviewer reads it: every finding of every pack, whether it is
acknowledged, and why. Rendered to Markdown and CSV next to cdk.out's validation report."""

from __future__ import annotations

import csv
import json
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from security.acknowledgements import RECORDED_METADATA_TYPE


@dataclass(frozen=True)
class Finding:
    pack: str
    rule: str
    resource: str
    level: str
    description: str


@dataclass(frozen=True)
class Acknowledgement:
    scope: str
    rule: str
    reason: str

    def covers(self, finding: Finding) -> bool:
        inside = finding.resource == self.scope or finding.resource.startswith(self.scope + "/")
        return inside and self.rule_id == finding.rule

    @property
    def rule_id(self) -> str:
        """The id as the report prints it: without a `Plugin::` prefix (IAM5 ids contain `::` too)."""
        plugin, separator, rule = self.rule.partition("::")
        return rule if separator and "[" not in plugin else self.rule


@dataclass(frozen=True)
class ReviewedFinding:
    finding: Finding
    acknowledgement: Acknowledgement | None


@dataclass(frozen=True)
class Review:
    environment: str
    findings: list[ReviewedFinding]
    unused_acknowledgements: list[Acknowledgement]

    @property
    def unacknowledged(self) -> list[Finding]:
        return [reviewed.finding for reviewed in self.findings if reviewed.acknowledgement is None]

    @property
    def acknowledged(self) -> list[ReviewedFinding]:
        return [reviewed for reviewed in self.findings if reviewed.acknowledgement is not None]


def read_findings(assembly_dir: Path) -> list[Finding]:
    """Findings from cdk.out's validation-report.json (absent: the packs found nothing)."""
    path = assembly_dir / "validation-report.json"
    if not path.exists():
        return []
    report = json.loads(path.read_text())
    return [
        Finding(plugin["pluginName"], violation["ruleName"], construct["constructPath"], violation["severity"], violation["description"])
        for plugin in report["pluginReports"]
        for violation in plugin["violations"]
        for construct in violation["violatingConstructs"]
    ]


def read_acknowledgements(assembly_dir: Path) -> list[Acknowledgement]:
    """Acknowledgements recorded (not applied) by an app synthesised in record-only mode."""
    acknowledgements = []
    for metadata_file in sorted(assembly_dir.glob("*.metadata.json")):
        for path, entries in json.loads(metadata_file.read_text()).items():
            for entry in entries:
                if entry["type"] == RECORDED_METADATA_TYPE:
                    acknowledgements.append(Acknowledgement(path.lstrip("/"), entry["data"]["rule"], entry["data"]["reason"]))
    return acknowledgements


def review(environment: str, all_findings: list[Finding], acknowledgements: list[Acknowledgement]) -> Review:
    reviewed, used = [], set()
    for finding in all_findings:
        matches = [ack for ack in acknowledgements if ack.covers(finding)]
        used.update(matches)
        # One finding (e.g. IAM5 Resource::* on a policy) may cover several acknowledged statements.
        reasons = " / ".join(dict.fromkeys(ack.reason for ack in matches))
        reviewed.append(ReviewedFinding(finding, Acknowledgement(matches[0].scope, matches[0].rule, reasons) if matches else None))
    unused = [ack for ack in acknowledgements if ack not in used]
    return Review(environment, reviewed, unused)


COLUMNS = ("rule", "resource", "level", "acknowledged", "reason", "pack", "description")


def _rows(result: Review) -> list[dict[str, str]]:
    return [
        {
            "rule": item.finding.rule,
            "resource": item.finding.resource,
            "level": item.finding.level,
            "acknowledged": "yes" if item.acknowledgement else "NO",
            "reason": item.acknowledgement.reason if item.acknowledgement else "",
            "pack": item.finding.pack,
            "description": item.finding.description,
        }
        for item in sorted(result.findings, key=lambda item: (item.acknowledgement is not None, item.finding.pack, item.finding.rule, item.finding.resource))
    ]


def write_csv(result: Review, path: Path) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(_rows(result))


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(result: Review) -> str:
    unacknowledged = result.unacknowledged
    verdict = "PASS: no unacknowledged findings" if not unacknowledged else f"FAIL: {len(unacknowledged)} unacknowledged finding(s)"
    per_pack = Counter(item.finding.pack for item in result.findings)
    lines = [
        f"# Security review: `{result.environment}`",
        "",
        f"**{verdict}.** {len(result.findings)} findings from {len(per_pack)} packs, {len(result.acknowledged)} acknowledged with a reason.",
        "",
        "| pack | findings |",
        "| --- | ---: |",
        *(f"| {pack} | {count} |" for pack, count in sorted(per_pack.items())),
        "",
        "## Acknowledgements by reason",
        "",
    ]
    by_reason: dict[str, list[ReviewedFinding]] = {}
    for item in result.acknowledged:
        by_reason.setdefault(item.acknowledgement.reason, []).append(item)
    for reason, items in sorted(by_reason.items(), key=lambda pair: -len(pair[1])):
        rules = sorted({item.finding.rule for item in items})
        lines.append(f"- **{len(items)}×** {reason}  \n  rules: {', '.join(f'`{rule}`' for rule in rules)}")
    if result.unused_acknowledgements:
        lines += ["", "## Acknowledgements that matched no finding", ""]
        lines += [f"- `{ack.rule}` on `{ack.scope}`: {ack.reason}" for ack in result.unused_acknowledgements]
    lines += ["", "## Every finding", "", "| rule | resource | level | acknowledged? | reason |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| `{_cell(r['rule'])}` | `{_cell(r['resource'])}` | {r['level']} | {r['acknowledged']} | {_cell(r['reason'])} |" for r in _rows(result)]
    return "\n".join(lines) + "\n"
