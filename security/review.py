"""`python -m security.review --env dev`: synthesise one environment through the pinned CDK
CLI (the gate: any unacknowledged finding fails it) and write the reviewer's report.

The report needs every finding, acknowledged ones included, but CDK's validation report
leaves acknowledged findings out. So the app is synthesised a second time (same CLI) with
acknowledgements recorded instead of applied, and each finding is matched to its
acknowledgement. The two runs must agree on what is unacknowledged.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from security.acknowledgements import RECORD_ONLY_CONTEXT
from security.report import Review, read_acknowledgements, read_findings, render_markdown, review, write_csv

ROOT = Path(__file__).resolve().parent.parent
CDK_CLI = ROOT / "node_modules" / ".bin" / "cdk"
QUIET_NODE = {"JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION": "20", "CDK_DISABLE_VERSION_CHECK": "1"}


def cdk_synth(env_name: str, outdir: Path, *extra_context: str) -> subprocess.CompletedProcess:
    """The real `cdk synth` of one environment, no credentials, no AWS calls."""
    context = [arg for pair in (("-c", item) for item in (f"env={env_name}", *extra_context)) for arg in pair]
    return subprocess.run(
        [str(CDK_CLI), "synth", "--quiet", "--no-notices", "--no-version-reporting", *context, "-o", str(outdir)],
        cwd=ROOT,
        env={**os.environ, **QUIET_NODE},
        capture_output=True,
        text=True,
    )


def _record_only_assembly(env_name: str, outdir: Path) -> Path:
    """Synth with acknowledgements recorded, not applied: it fails by design (every finding
    is open), but leaves the full validation report and the recorded reasons behind."""
    result = cdk_synth(env_name, outdir, f"{RECORD_ONLY_CONTEXT}=true")
    if not (outdir / "validation-report.json").exists():
        raise RuntimeError(f"record-only synth of {env_name} wrote no validation report:\n{result.stdout}{result.stderr}")
    return outdir


def review_environment(env_name: str, outdir: Path) -> tuple[Review, subprocess.CompletedProcess]:
    gate = cdk_synth(env_name, outdir)
    with tempfile.TemporaryDirectory(prefix=f"openforge-review-{env_name}-") as scratch:
        assembly = _record_only_assembly(env_name, Path(scratch))
        result = review(env_name, read_findings(assembly), read_acknowledgements(assembly))
    if gate.returncode == 0:  # a passing gate and the report must agree on what is open
        gate_open = {(finding.rule, finding.resource) for finding in read_findings(outdir)}
        review_open = {(finding.rule, finding.resource) for finding in result.unacknowledged}
        if gate_open != review_open:
            raise RuntimeError(f"the report disagrees with cdk synth on unacknowledged findings: synth {sorted(gate_open)}, report {sorted(review_open)}")
    return result, gate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help="environment name from cdk.json")
    parser.add_argument("--out", type=Path, default=None, help="cloud assembly folder (default cdk.out/<env>)")
    parser.add_argument("--announce", action="store_true", help="print where the templates and report are")
    args = parser.parse_args(argv)
    outdir = (args.out or ROOT / "cdk.out" / args.env).resolve()

    result, gate = review_environment(args.env, outdir)
    if gate.returncode != 0 and not (outdir / "validation-report.json").exists():
        sys.stderr.write(gate.stdout + gate.stderr)
        return gate.returncode
    markdown, table = outdir / "security-review.md", outdir / "security-review.csv"
    markdown.write_text(render_markdown(result))
    write_csv(result, table)

    open_findings = result.unacknowledged
    print(f"{args.env}: {len(result.findings)} findings, {len(result.acknowledged)} acknowledged, {len(open_findings)} unacknowledged")
    for finding in open_findings:
        print(f"  UNACKNOWLEDGED {finding.rule} at {finding.resource}: {finding.description}")
    if args.announce:
        templates = sorted(path.name for path in outdir.glob("*.template.json"))
        print(f"templates: {outdir} ({', '.join(templates)})")
        print(f"security review: {markdown.relative_to(ROOT)} and {table.relative_to(ROOT)}")
        print(f"cdk validation report: {(outdir / 'validation-report.json').relative_to(ROOT)}")
    return 0 if gate.returncode == 0 and not open_findings else 1


if __name__ == "__main__":
    sys.exit(main())
