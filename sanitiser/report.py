"""Stats JSON and a Markdown report a person can read, from one or many shards."""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

from .core import REASONS, Stats
from .records import OTHER_FIELD


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


def markdown(stats: Stats, per_source: dict[str, dict] | None = None, skipped: dict[str, str] | None = None) -> str:
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
    if stats.dropped_fields:
        lines += ["Fields left out of the clean records: training does not read them, so they were not written. The records "
                  "were kept; whatever these fields held (private data included) is not in the clean output."
                  + (f" {OTHER_FIELD}: names that are not plain identifiers, not shown because a name can itself be private data."
                     if any(OTHER_FIELD in name for name in stats.dropped_fields) else ""), "",
                  "| field left out | times |", "|---|---|"]
        lines += [f"| {_code(name)} | {count:,} |" for name, count in stats.dropped_fields.most_common()]
        lines.append("")
    if per_source and len(per_source) > 1:
        lines += ["| source | lines | clean | quarantined | duplicates |", "|---|---|---|---|---|"]
        lines += [f"| {name} | {s['lines_in']:,} | {s['clean']:,} | {s['quarantined']:,} | {s['exact_duplicates'] + s['near_duplicates']:,} |" for name, s in per_source.items()]
        lines.append("")
    if skipped:
        lines += [f"Files not read ({len(skipped):,}): in an input folder but not named .jsonl (JSON Lines); none of their lines are counted above.", "",
                  "| file not read | why |", "|---|---|"]
        lines += [f"| {_code(name)} | {why} |" for name, why in skipped.items()]
        lines.append("")
    return "\n".join(lines)


def _code(name: str) -> str:
    """A field's path as the stats hold it (``messages[].name``) or a file name, safe inside a Markdown table cell."""
    return "`" + name.replace("|", "\\|").replace("`", "'").replace("\n", " ") + "`"



def write_report(out: Path, stats: Stats, per_source: dict[str, dict], settings, skipped: dict[str, str] | None = None) -> None:
    (out / "stats.json").write_text(json.dumps({"total": stats.to_dict(), "sources": per_source, "settings": asdict(settings),
                                                "not_read": skipped or {}}, indent=2))
    (out / "report.md").write_text(markdown(stats, per_source, skipped))
