"""The forgetting gate: a tuned model may be deployed only if it kept its general skills
and got better at the customer's task. The verdict is plain JSON a Step Functions Choice
state reads (``$.gate.passed``), with reasons a person can act on."""
from __future__ import annotations

from dataclasses import dataclass

# The seed's first remedy: the mix is the cheap lever, tried before anything else.
FORGETTING_REMEDY = (
    "General skill dropped: raise the curated share first (lower customer_data_percent, e.g. 100 -> 75 -> 50) "
    "and rerun a short validation; change the learning rate or the number of steps only if that is not enough."
)
NO_GAIN_REMEDY = (
    "The held-out score did not improve enough: check that the held-out set matches the training task and its labels, "
    "then train longer or with more customer data (a higher customer_data_percent, while general retention allows)."
)


@dataclass(frozen=True)
class Limits:
    min_general_retention: float = 0.97  # tuned / base on every general benchmark
    min_domain_gain: float = 0.02  # tuned - base on the customer's held-out metric, in its own units

    def __post_init__(self):
        if not 0 < self.min_general_retention <= 1.5:
            raise ValueError(f"min_general_retention must be in (0, 1.5], got {self.min_general_retention}")
        if not -1 <= self.min_domain_gain <= 1:
            raise ValueError(f"min_domain_gain must be in [-1, 1], got {self.min_domain_gain}")


def retention(base: float, tuned: float) -> float:
    """tuned / base; 1.0 when the base scored 0 (there was nothing to lose)."""
    return tuned / base if base > 0 else 1.0


def verdict(benchmarks: dict[str, dict], limits: Limits) -> dict:
    """``benchmarks``: name -> {"kind": "general" | "domain", "metric", "base", "tuned"}."""
    checks, reasons, remedies = [], [], []
    general = {name: b for name, b in benchmarks.items() if b["kind"] == "general"}
    domain = {name: b for name, b in benchmarks.items() if b["kind"] == "domain"}
    for name, b in general.items():
        kept = retention(b["base"], b["tuned"])
        passed = kept >= limits.min_general_retention
        checks.append({"benchmark": name, "rule": f"retention >= {limits.min_general_retention:g}", "value": round(kept, 4), "passed": passed})
        if not passed:
            reasons.append(f"{name} kept {kept:.1%} of the base model's {b['metric']} ({b['base']:.3f} -> {b['tuned']:.3f}), "
                           f"below the {limits.min_general_retention:.0%} limit")
    if any(not c["passed"] for c in checks):
        remedies.append(FORGETTING_REMEDY)
    if not domain:
        reasons.append("no held-out (BYOD) result: the gate cannot tell whether the model learned the customer's task")
    for name, b in domain.items():
        gain = b["tuned"] - b["base"]
        passed = gain >= limits.min_domain_gain
        checks.append({"benchmark": name, "rule": f"gain >= {limits.min_domain_gain:g}", "value": round(gain, 4), "passed": passed})
        if not passed:
            reasons.append(f"{name} {b['metric']} moved {b['base']:.3f} -> {b['tuned']:.3f} ({gain:+.3f}), "
                           f"less than the required gain of {limits.min_domain_gain:+.3f}")
            remedies.append(NO_GAIN_REMEDY)
    passed = not reasons
    return {
        "passed": passed,
        "limits": {"min_general_retention": limits.min_general_retention, "min_domain_gain": limits.min_domain_gain},
        "checks": checks,
        "reasons": reasons,
        "remedy": " ".join(remedies),
        "cause": "passed: general skills kept and the held-out score improved" if passed else "; ".join(reasons),
    }
