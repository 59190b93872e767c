"""What the forgetting gate says of one general benchmark, in the words every reader of an
evaluation sees: the evaluation report, the PickModel Lambda's rows, the comparison report
and the run summary (training_container/openforge_training/evaluation/gate.py decides the
status; this names it)."""
from __future__ import annotations

from collections.abc import Mapping

# A general benchmark's status, worst first.
FORGOT = "forgot"  # retention above chance under the limit, and the drop beyond noise
KEPT = "kept"  # a drop beyond noise, but retention at or over the limit
NO_CHANGE = "no measurable change"  # the change's 95 % interval holds 0
IMPROVED = "improved"  # a rise beyond noise
UNINFORMATIVE = "uninformative"  # the base is not above chance beyond noise: nothing to lose
STATUSES = (FORGOT, KEPT, NO_CHANGE, IMPROVED, UNINFORMATIVE)


def general_in_words(entry: Mapping) -> str:
    """"kept 21% (forgot)", "no measurable change (0.363 -> 0.330)", "uninformative (base at
    chance)": never a retention above 100 %, which would be noise or gain, not kept skill."""
    status = entry.get("status")
    if status == UNINFORMATIVE:
        return "uninformative (base at chance)"
    if status == NO_CHANGE:  # the scores said too, so a drop inside the noise is seen, not hidden
        return f"{NO_CHANGE} ({entry['base']:.3f} -> {entry['tuned']:.3f})"
    if status == IMPROVED:
        return f"improved {entry['base']:.3f} -> {entry['tuned']:.3f}"
    if status in (KEPT, FORGOT) and isinstance(entry.get("retention"), (int, float)):
        return kept_share(entry["retention"]) + (f" ({FORGOT})" if status == FORGOT else "")
    return str(status or "not assessed")


def kept_share(retention: float) -> str:
    """"kept 21%"; "kept none (below chance)" where the tuned model fell under chance."""
    return f"kept {retention:.0%}" if retention >= 0 else "kept none (below chance)"
