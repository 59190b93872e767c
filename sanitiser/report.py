"""Stats JSON and a Markdown report a person can read, from one or many shards."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .core import REASONS, Stats


def quarantined_percent(stats: Stats) -> float:
    return 100 * stats.quarantined / stats.lines_in if stats.lines_in else 0.0


def over_limit(stats: Stats, max_quarantine_percent: float) -> str | None:
    """A readable cause when the quarantined share passes the limit, else None."""
    share = quarantined_percent(stats)
    if share <= max_quarantine_percent:
        return None
    top = ", ".join(f"{reason} {count}" for reason, count in stats.reasons.most_common(3))
    return (f"{stats.quarantined} of {stats.lines_in} lines quarantined ({share:.2f}% > limit {max_quarantine_percent:g}%); "
            f"most common reasons: {top}. See quarantine.jsonl for each line and its reason.")


def markdown(stats: Stats, per_source: dict[str, dict] | None = None) -> str:
    lines = [
        "# Sanitisation report", "",
        f"- lines in: {stats.lines_in:,}",
        f"- clean: {stats.clean:,} ({stats.rewritten:,} rewritten by a rule)",
        f"- quarantined: {stats.quarantined:,} ({quarantined_percent(stats):.2f}%)",
        f"- removed as duplicates: {stats.exact_duplicates:,} exact, {stats.near_duplicates:,} near",
        f"- invariant lines in = clean + quarantined + duplicates: {'holds' if stats.balanced else 'BROKEN'}",
        "",
    ]
    if stats.reasons:
        lines += ["| quarantine reason | lines | meaning |", "|---|---|---|"]
        lines += [f"| {reason} | {count:,} | {REASONS.get(reason, '')} |" for reason, count in stats.reasons.most_common()]
        lines.append("")
    if stats.markers:
        lines += ["Reserved markers neutralised: " + ", ".join(f"`{m}` x{c}" for m, c in stats.markers.most_common()), ""]
    if stats.pii:
        lines += ["PII scrubbed: " + ", ".join(f"{kind} x{c}" for kind, c in stats.pii.most_common()), ""]
    if stats.normalised_fields:
        lines += [f"Text fields normalised (NFC, quotes, spaces): {stats.normalised_fields:,}", ""]
    if per_source and len(per_source) > 1:
        lines += ["| source | lines | clean | quarantined | duplicates |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {s['lines_in']:,} | {s['clean']:,} | {s['quarantined']:,} | {s['exact_duplicates'] + s['near_duplicates']:,} |" for name, s in per_source.items()]
        lines.append("")
    return "\n".join(lines)


def write_report(out: Path, stats: Stats, per_source: dict[str, dict], settings) -> None:
    (out / "stats.json").write_text(json.dumps({"total": stats.to_dict(), "sources": per_source, "settings": asdict(settings)}, indent=2))
    (out / "report.md").write_text(markdown(stats, per_source))
