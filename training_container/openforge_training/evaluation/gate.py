"""The forgetting gate: a tuned model may be deployed only if it kept its general skills
and got better at the customer's task. The verdict is plain JSON a Step Functions Choice
state reads (``$.gate.passed``), with reasons a person can act on.

A score means something only above what guessing gets and outside what sampling alone
moves, so every comparison is made that way:

- **chance**: multiple choice scores 1/k by guessing (MMLU: 1/4), free text 0 (IFEval, the
  held-out set's labels). A benchmark's *skill* is its score above chance.
- **retention** = (tuned - chance) / (base - chance): the share of the base model's skill
  above chance the tuned model kept (raw tuned / base calls a model at chance "97 % kept").
- **noise**: each score is a proportion of ``count`` items, so it carries a Wilson 95 %
  interval. The change tuned - base is paired: both models answered the same items, so its
  interval is a bootstrap of the per-item differences (the evaluation keeps each item's
  result). Where per-item results are missing (macro-F1 or ROUGE-L held-out metrics, which
  are not means over items), Newcombe's interval for independent proportions stands in
  (Newcombe 1998, method 10), which is wider. A change whose interval holds 0 is not a
  measured change.
- **uninformative**: a base whose interval reaches down to chance has no skill to lose on
  that benchmark: it is reported, and never passes the gate on its own.

A general benchmark fails only when its retention is under the limit *and* the drop is
outside the noise. With no informative general benchmark left (none selected, or the base at
chance on all), the gate refuses unless the run waives the general check. The held-out
(domain) score must rise by at least the limit, beyond noise.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from openforge_contract.gate_words import FORGOT, IMPROVED, KEPT, NO_CHANGE, UNINFORMATIVE, general_in_words, kept_share
from openforge_contract.hyperparameters import GATE

from .layout import LETTERS

CONFIDENCE = 0.95
BOOTSTRAP_RESAMPLES = 9999

# The seed's first remedy: the mix is the cheap lever, tried before anything else.
FORGETTING_REMEDY = (
    "General skill dropped: raise the curated share first (lower customer_data_percent, e.g. 100 -> 75 -> 50) "
    "and rerun a short validation; change the learning rate or the number of steps only if that is not enough."
)
NO_GAIN_REMEDY = (
    "The held-out score did not improve enough: check that the held-out set matches the training task and its labels, "
    "then train longer or with more customer data (a higher customer_data_percent, while general retention allows)."
)
NO_GENERAL_CHECK_REMEDY = (
    "Nothing shows whether general skill was kept: add a general benchmark (mmlu, ifeval) the base model scores above "
    "chance on (more items narrow the noise), or set evaluation.limits.waive_general_check to true to deploy on the "
    "held-out result alone."
)


@dataclass(frozen=True)
class Limits:
    min_general_retention: float = GATE["min_general_retention"]  # of the base's skill above chance, on every informative general benchmark
    min_domain_gain: float = GATE["min_domain_gain"]  # tuned - base on the customer's held-out metric, in its own units
    waive_general_check: bool = GATE["waive_general_check"]  # pass without an informative general benchmark (the run says so)

    def __post_init__(self):
        if not 0 < self.min_general_retention <= 1.5:
            raise ValueError(f"min_general_retention must be in (0, 1.5], got {self.min_general_retention}")
        if not -1 <= self.min_domain_gain <= 1:
            raise ValueError(f"min_domain_gain must be in [-1, 1], got {self.min_domain_gain}")

    def to_dict(self) -> dict:
        return {"min_general_retention": self.min_general_retention, "min_domain_gain": self.min_domain_gain,
                "waive_general_check": self.waive_general_check}


def chance_level(benchmark: str) -> float:
    """What guessing scores: MMLU-format multiple choice 1/k, everything else (free text) 0."""
    return 1 / len(LETTERS) if benchmark.startswith("mmlu") else 0.0


def score_interval(score: float, count: int) -> tuple[float, float]:
    """Wilson's 95 % interval of a proportion of ``count`` items."""
    from scipy.stats import binomtest

    if count < 1:
        return 0.0, 1.0
    successes = min(count, max(0, round(score * count)))
    interval = binomtest(successes, count).proportion_ci(confidence_level=CONFIDENCE, method="wilson")
    return float(interval.low), float(interval.high)


def change_interval(base: float, tuned: float, count: int, tuned_count: int | None = None) -> tuple[float, float]:
    """Newcombe's 95 % interval of tuned - base for two independent proportions, scored on
    ``count`` items (the tuned model on ``tuned_count`` when that differs)."""
    base_low, base_high = score_interval(base, count)
    tuned_low, tuned_high = score_interval(tuned, count if tuned_count is None else tuned_count)
    change = tuned - base
    return (change - ((tuned - tuned_low) ** 2 + (base_high - base) ** 2) ** 0.5,
            change + ((tuned_high - tuned) ** 2 + (base - base_low) ** 2) ** 0.5)


def paired_change_interval(base_items: str, tuned_items: str) -> tuple[float, float]:
    """The 95 % interval of tuned - base when both models answered the same items: a
    percentile bootstrap (scipy, seeded) of the mean per-item difference. Pairing matters:
    a tuned model answers mostly as its base did, so the two scores move together and the
    independent interval is far too wide to see a real drop."""
    import numpy as np
    from scipy.stats import bootstrap

    differences = np.array([int(t) - int(b) for b, t in zip(base_items, tuned_items)], dtype=float)
    if np.all(differences == differences[0]):  # every item moved alike: no spread to resample
        return float(differences[0]), float(differences[0])
    result = bootstrap((differences,), np.mean, confidence_level=CONFIDENCE, n_resamples=BOOTSTRAP_RESAMPLES, method="percentile",
                       rng=np.random.default_rng(0))
    return float(result.confidence_interval.low), float(result.confidence_interval.high)


def skill_retention(base: float, tuned: float, chance: float) -> float | None:
    """(tuned - chance) / (base - chance); None when the base is not above chance."""
    return (tuned - chance) / (base - chance) if base > chance else None


def limit_change(base: float, chance: float, limit: float) -> float:
    """The change tuned - base that keeps exactly ``limit`` of the base's skill above chance
    (``skill_retention`` solved for tuned): the forgetting line a picture draws."""
    return (limit - 1) * (base - chance)


def assess(name: str, base: float, tuned: float, count: int, *, general: bool = True, tuned_count: int | None = None,
           base_items: str | None = None, tuned_items: str | None = None) -> dict:
    """One benchmark's numbers: chance, whether the base is above it beyond noise, retention
    above chance (general benchmarks, where the base is informative), and the change's 95 %
    interval: paired when both models' per-item results are there, else independent."""
    _check_scores(name, base, tuned, count, tuned_count)
    paired = base_items is not None and tuned_items is not None
    if paired:
        _check_items(name, "base", base_items, base, count)
        _check_items(name, "tuned", tuned_items, tuned, count)
    low, high = paired_change_interval(base_items, tuned_items) if paired else change_interval(base, tuned, count, tuned_count)
    chance = chance_level(name) if general else 0.0
    informative = score_interval(base, count)[0] > chance
    return {
        "chance": round(chance, 4),
        "base_informative": informative,
        "retention": round(skill_retention(base, tuned, chance), 6) if general and informative else None,
        "change_interval": [round(low, 4), round(high, 4)],
        "interval_method": "paired bootstrap" if paired else "Newcombe (independent)",
    }


def _check_scores(name: str, base: float, tuned: float, count: int, tuned_count: int | None) -> None:
    for role, value in (("base", base), ("tuned", tuned)):
        if not isinstance(value, (int, float)) or not math.isfinite(value) or not 0 <= value <= 1:
            raise ValueError(f"{name}: the {role} score must be a proportion in [0, 1], got {value!r}")
    for role, value in (("base", count), ("tuned", tuned_count if tuned_count is not None else count)):
        if not isinstance(value, int) or value < 1:
            raise ValueError(f"{name}: the {role} item count must be a whole number >= 1, got {value!r}")
    if tuned_count is not None and tuned_count != count:
        raise ValueError(f"{name}: base scored on {count} items, tuned on {tuned_count}: compare the two on the same items")


def _check_items(name: str, role: str, items: str, score: float, count: int) -> None:
    if not isinstance(items, str) or len(items) != count or set(items) - {"0", "1"}:
        raise ValueError(f"{name}: the {role} model's per-item results are not {count} items of 0/1")
    if abs(items.count("1") / count - score) > 1e-3:
        raise ValueError(f"{name}: the {role} model's per-item results give {items.count('1') / count:.4f}, its score is {score:.4f}")


def general_status(numbers: dict, limit: float) -> str:
    """FORGOT only for a drop beyond noise that leaves less than ``limit`` of the skill."""
    low, high = numbers["change_interval"]
    if not numbers["base_informative"]:
        return UNINFORMATIVE
    if high < 0 and numbers["retention"] < limit:
        return FORGOT
    if low > 0:
        return IMPROVED
    return NO_CHANGE if high >= 0 else KEPT


def verdict(benchmarks: dict[str, dict], limits: Limits) -> dict:
    """``benchmarks``: name -> {"kind": "general" | "domain", "metric", "base", "tuned", "count"}.
    Adds to each entry ``assess``'s numbers (where missing) and, to a general one, its status."""
    checks, reasons, notes, remedies = [], [], [], []
    for name, b in benchmarks.items():
        if "change_interval" not in b:
            b.update(assess(name, b["base"], b["tuned"], b["count"], general=b["kind"] == "general",
                            base_items=b.get("base_items"), tuned_items=b.get("tuned_items")))
    general = {name: b for name, b in benchmarks.items() if b["kind"] == "general"}
    domain = {name: b for name, b in benchmarks.items() if b["kind"] == "domain"}

    for name, b in general.items():
        status = general_status(b, limits.min_general_retention)
        b["status"] = status
        if status == UNINFORMATIVE:
            notes.append(f"{name}: the base model scores {b['base']:.3f}, not above chance ({b['chance']:.2f}) beyond noise "
                         f"({b['count']} items): it has no skill there to lose, so {name} cannot show forgetting")
            continue
        checks.append({"benchmark": name, "rule": f"retention above chance >= {limits.min_general_retention:g} or a drop within noise",
                       "value": b["retention"], "status": status, "passed": status != FORGOT})
        if status == FORGOT:
            reasons.append(f"{name} forgot: it {kept_share(b['retention'])} of the base model's skill above chance "
                           f"({b['metric']} {b['base']:.3f} -> {b['tuned']:.3f}, chance {b['chance']:.2f}; "
                           f"the drop is beyond the noise of {b['count']} items), below the {limits.min_general_retention:.0%} limit")
        elif status == NO_CHANGE and b["retention"] < limits.min_general_retention:
            notes.append(f"{name} moved {b['base']:.3f} -> {b['tuned']:.3f} ({kept_share(b['retention'])} of the skill above chance), "
                         f"a change within the noise of {b['count']} items: more items would tell whether it forgot")
    if any(check["status"] == FORGOT for check in checks):
        remedies.append(FORGETTING_REMEDY)
    waived = not checks and limits.waive_general_check
    if not checks:
        why = "no general benchmark was scored" if not general else "the base model is at chance on every general benchmark"
        if waived:
            notes.append(f"general check waived: {why}, so nothing shows whether general skill was kept")
        else:
            reasons.append(f"no general check: {why}, so nothing shows whether the model forgot")
            remedies.append(NO_GENERAL_CHECK_REMEDY)

    if not domain:
        reasons.append("no held-out (BYOD) result: the gate cannot tell whether the model learned the customer's task")
    for name, b in domain.items():
        gain, (low, _) = b["tuned"] - b["base"], b["change_interval"]
        passed = gain >= limits.min_domain_gain and (limits.min_domain_gain <= 0 or low > 0)  # a required rise must be measurable
        checks.append({"benchmark": name, "rule": f"gain >= {limits.min_domain_gain:g}, beyond noise", "value": round(gain, 4),
                       "status": "improved" if passed else "not improved enough", "passed": passed})
        if not passed:
            short = "less than the required gain of" if gain < limits.min_domain_gain else f"within the noise of {b['count']} items, with a required gain of"
            reasons.append(f"{name} {b['metric']} moved {b['base']:.3f} -> {b['tuned']:.3f} ({gain:+.3f}), {short} {limits.min_domain_gain:+.3f}")
            remedies.append(NO_GAIN_REMEDY)
    passed = not reasons
    return {
        "passed": passed,
        "limits": limits.to_dict(),
        "checks": checks,
        "reasons": reasons,
        "notes": notes,
        "general_check_waived": waived,  # passed (or not) without any informative general benchmark
        "remedy": " ".join(remedies),
        "cause": "; ".join(reasons) if reasons else "passed: " + kept_in_words(benchmarks) + "; the held-out score improved",
    }


def kept_in_words(benchmarks: dict[str, dict]) -> str:
    """"ifeval no measurable change, mmlu_0shot uninformative (base at chance)": the pass line."""
    parts = [f"{name} {general_in_words(b)}" for name, b in benchmarks.items() if b["kind"] == "general"]
    return "general skills " + (", ".join(parts) if parts else "not checked (waived)")


