"""`make bench`, PII: recall and precision of the sanitiser's PII rules on a seeded corpus
(synthetic_data/pii_corpus.py) with every claimed kind in every written form, in every text
field of the three formats, beside distractors that must survive; then the throughput ratios
(benchmarks/sanitiser.py's measurement on a small sample).

The real sanitiser runs over the corpus (no dedup; ``phone_regions=("US", "GB", "DE")`` where
Settings has that field) and each clean text is read back against its ground truth: the
filler between items is plain words no rule touches, so it anchors what each item became.
A planted value is
- caught when it became exactly its kind's placeholder (``[PHONE]``);
- wrong kind when only placeholders are left but not exactly its own (``[PHONE]`` for a
  card, or a card split in two);
- partly scrubbed when a placeholder is there but letters, digits or combining marks of the
  value are left (``jöhn[EMAIL]``, ``[CREDIT_CARD]\u0301``);
- missed when no placeholder is there;
- misplaced when the anchors around it are gone (a placeholder that swallowed punctuation
  or a neighbour): counted as not caught.
Text written around a value that is not PII (a letter prefix 'CC', a CVV, a phone
extension: ``Item.head``/``Item.tail``) is scored as a distractor of class ``affix``: it must
come out as written, and the value is scored on what is between them.
Recall = caught / planted. A distractor survives when it comes out verbatim. Precision =
placeholders on planted values / all placeholders written. A bare 10-digit number starting
2-9 reads as a US phone number and is scrubbed by design, so no distractor is one.

PII_BENCH_RECORDS (5000) records, PII_BENCH_SEED (0); PII_BENCH_THROUGHPUT_MB (20; 0 skips
the throughput ratios, which `make bench` also prints at full size from benchmarks.sanitiser),
printed first. Then the worst case: one text of nothing but PII at two sizes, which must
take time in proportion to its size.
"""
from __future__ import annotations

import dataclasses
import io
import os
import re
import tempfile
import time
import unicodedata
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import orjson

from sanitiser.core import Sanitiser, Settings
from sanitiser.formats import text_slots
from synthetic_data.pii_corpus import KINDS, PHONE_REGIONS, Field, Item, Sample, corpus

PLACEHOLDER = re.compile(r"\[(?:" + "|".join(KINDS) + r")\]")
RECALL_GOAL, PRECISION_GOAL = 0.995, 0.99
# The code before issue 15's PII work (b667ac0), as a share of a bare parse + dump, on the
# project's 2-core build machine: median of 5 runs interleaved with the new code's (the
# issue quoted 0.24-0.26 and 0.10 from another machine). The goal: within 10 % of them.
BASELINE_RATIOS = {"rules + exact dedup": 0.215, "everything": 0.100}
OUTCOMES = ("caught", "wrong_kind", "partly", "missed", "misplaced")


@dataclass
class Score:
    planted: defaultdict = field(default_factory=lambda: defaultdict(Counter))  # (kind, form) -> outcome counts
    distractors: defaultdict = field(default_factory=lambda: defaultdict(Counter))  # (class, form) -> survived / changed
    placeholders: Counter = field(default_factory=Counter)  # kind -> written
    on_pii: Counter = field(default_factory=Counter)  # kind -> written over a planted value
    misaligned_fields: int = 0
    missing_records: int = 0  # quarantined or otherwise absent from the clean output

    def kind_totals(self, kind: str) -> Counter:
        return sum((c for (k, _), c in self.planted.items() if k == kind), Counter())

    def recall(self, kind: str) -> float:
        totals = self.kind_totals(kind)
        return totals["caught"] / max(sum(totals.values()), 1)

    def precision(self) -> float:
        written = sum(self.placeholders.values())
        return sum(self.on_pii.values()) / written if written else 1.0


def item_outputs(source: Field, clean: str) -> list[str] | None:
    """What each item of ``source`` became in ``clean``, found between the fillers; None
    where a filler is not where it should be."""
    fillers, outputs = source.pieces[::2], []
    if len(fillers) == 1:
        return [] if clean == fillers[0] else None
    if not clean.startswith(fillers[0]):
        return None
    cursor = len(fillers[0])
    for filler in fillers[1:-1]:
        at = clean.find(filler, cursor)
        if at < 0 or not filler:
            return None
        outputs.append(clean[cursor:at])
        cursor = at + len(filler)
    end = len(clean) - len(fillers[-1])
    if end < cursor or not clean.endswith(fillers[-1]):
        return None
    return outputs + [clean[cursor:end]]


def outcome(kind: str, output: str) -> str:
    if output == f"[{kind}]":
        return "caught"
    if not PLACEHOLDER.search(output):
        return "missed"
    left = PLACEHOLDER.sub("", output)
    return "partly" if any(c.isalnum() or unicodedata.category(c)[0] == "M" for c in left) else "wrong_kind"


def split_affixes(item: Item, output: str) -> tuple[str, dict[str, bool]]:
    """What ``item``'s value became (``output`` less its head and tail where they came out as
    written), and for each affix it has, its distractor form and whether it came out so."""
    head_kept = output.startswith(item.head)
    core = output[len(item.head):] if head_kept else output
    tail_kept = core.endswith(item.tail)
    core = core[: len(core) - len(item.tail)] if tail_kept else core
    return core, {f"{item.kind} {item.form} {side}": kept for side, text, kept in (("head", item.head, head_kept), ("tail", item.tail, tail_kept)) if text}


def affixes_present(item: Item, clean: str) -> dict[str, bool]:
    """Each affix of ``item`` in a text that could not be aligned: there beside the value as
    written or beside its placeholder."""
    return {f"{item.kind} {item.form} {side}": item.text in clean or beside in clean
            for side, text, beside in (("head", item.head, f"{item.head}[{item.kind}]"), ("tail", item.tail, f"[{item.kind}]{item.tail}")) if text}


def score_field(source: Field, clean: str, score: Score) -> None:
    written = PLACEHOLDER.findall(clean)
    score.placeholders.update(p[1:-1] for p in written)
    outputs = item_outputs(source, clean)
    if outputs is None:
        score.misaligned_fields += 1
        budget = Counter(p[1:-1] for p in written)  # placeholders the field's planted values may explain
        for item in source.items:
            for form, kept in affixes_present(item, clean).items():
                score.distractors["affix", form]["survived" if kept else "changed"] += 1
            if item.planted:
                gone = item.value not in clean
                score.planted[item.kind, item.form]["misplaced" if gone and written else "missed"] += 1
                if gone and budget[item.kind]:
                    budget[item.kind] -= 1
                    score.on_pii[item.kind] += 1
            else:
                score.distractors[item.kind, item.form]["survived" if item.value in clean else "changed"] += 1
        return
    for item, output in zip(source.items, outputs):
        output, kept_affixes = split_affixes(item, output)
        for form, kept in kept_affixes.items():
            score.distractors["affix", form]["survived" if kept else "changed"] += 1
        if item.planted:
            score.planted[item.kind, item.form][outcome(item.kind, output)] += 1
            score.on_pii.update(p[1:-1] for p in PLACEHOLDER.findall(output))
        else:
            score.distractors[item.kind, item.form]["survived" if output == item.value else "changed"] += 1


def score_records(samples: list[Sample], clean: list[dict | None], score: Score | None = None) -> Score:
    """``clean[i]``: what the sanitiser wrote for ``samples[i]`` (None: nothing, e.g. quarantined)."""
    score = score or Score()
    for sample, record in zip(samples, clean, strict=True):
        if record is None:
            score.missing_records += 1
            continue
        texts = [container[key] for container, key in text_slots(record)]
        for source, text in zip(sample.fields, texts, strict=True):
            score_field(source, text, score)
    return score


class ListSink:
    def __init__(self):
        self.lines, self.quarantined = [], []

    def clean(self, data: bytes) -> None:
        self.lines.extend(data.split(b"\n"))

    def quarantine(self, record: dict) -> None:
        self.quarantined.append(record)

    def duplicate(self, record: dict) -> None:
        raise AssertionError("dedup is off in the PII benchmark")


def bench_settings(**overrides) -> Settings:
    """No dedup (each record must come back); GB and DE national phone numbers claimed where
    the sanitiser has the setting."""
    if "phone_regions" in {f.name for f in dataclasses.fields(Settings)}:
        overrides.setdefault("phone_regions", PHONE_REGIONS)
    return Settings(near_dedup=False, exact_dedup=False, **overrides)


def sanitise(samples: list[Sample], settings: Settings) -> tuple[list[dict | None], ListSink]:
    data = b"".join(orjson.dumps(s.record) + b"\n" for s in samples)
    sink = ListSink()
    stats = Sanitiser(settings).run(io.BytesIO(data), "pii-bench.jsonl", sink)
    assert stats.balanced and stats.clean == len(sink.lines), stats
    quarantined = {q["line"] for q in sink.quarantined}
    lines = iter(sink.lines)
    return [None if number in quarantined else orjson.loads(next(lines)) for number in range(1, len(samples) + 1)], sink


def _pct(part: int, whole: int) -> str:
    return f"{100 * part / whole:6.2f} %" if whole else "     - "


def report(score: Score) -> list[str]:
    lines = [f"{'PII kind / form':34} {'planted':>8} {'caught':>8} {'wrong':>6} {'partly':>7} {'missed':>7} {'misplc':>7} {'recall':>9}"]
    for kind in KINDS:
        totals = score.kind_totals(kind)
        planted = sum(totals.values())
        goal = "met" if score.recall(kind) >= RECALL_GOAL else "NOT met"
        lines.append(f"{kind:34} {planted:8} {totals['caught']:8} {totals['wrong_kind']:6} {totals['partly']:7} {totals['missed']:7} "
                     f"{totals['misplaced']:7} {_pct(totals['caught'], planted)}  (goal >= {100 * RECALL_GOAL:.1f} %: {goal})")
        for (k, form), counts in sorted(score.planted.items()):
            if k == kind:
                n = sum(counts.values())
                lines.append(f"    {form:30} {n:8} {counts['caught']:8} {counts['wrong_kind']:6} {counts['partly']:7} {counts['missed']:7} "
                             f"{counts['misplaced']:7} {_pct(counts['caught'], n)}")
    lines.append(f"{'distractor class / form':34} {'count':>8} {'survived':>9}")
    for cls in sorted({c for c, _ in score.distractors}):
        rows = {form: counts for (c, form), counts in sorted(score.distractors.items()) if c == cls}
        total = sum(rows.values(), Counter())
        lines.append(f"{cls:34} {sum(total.values()):8} {_pct(total['survived'], sum(total.values()))}")
        lines += [f"    {form:30} {sum(c.values()):8} {_pct(c['survived'], sum(c.values()))}" for form, c in rows.items()]
    written, on_pii = sum(score.placeholders.values()), sum(score.on_pii.values())
    goal = "met" if score.precision() >= PRECISION_GOAL else "NOT met"
    lines.append(f"precision: {on_pii} of {written} placeholders written landed on planted PII = {_pct(on_pii, written).strip()} "
                 f"(goal >= {100 * PRECISION_GOAL:.0f} %: {goal})")
    lines.append("  by placeholder: " + ", ".join(f"[{k}] {score.on_pii[k]}/{score.placeholders[k]}" for k in KINDS))
    if score.misaligned_fields or score.missing_records:
        lines.append(f"  {score.misaligned_fields} text fields could not be aligned (their values scored by presence alone); "
                     f"{score.missing_records} records not in the clean output")
    return lines


def throughput(megabytes: int) -> list[str]:
    from benchmarks.sanitiser import best_times, generate

    repeats = int(os.environ.get("SANITISER_BENCH_REPEATS", "3"))
    with tempfile.TemporaryDirectory(prefix="openforge-pii-bench-") as tmp:
        path = generate(Path(tmp) / "chat.jsonl", megabytes)
        bare_s, rules_s, near_s = best_times(path, repeats)
    lines = [f"Throughput on {megabytes} MB of benchmarks.sanitiser's chat JSONL (1 core, CPU time, best of {repeats}; a share of a bare parse + dump):"]
    for name, ratio in (("rules + exact dedup", bare_s / rules_s), ("everything", bare_s / near_s)):
        floor = 0.9 * BASELINE_RATIOS[name]
        lines.append(f"  {name:22} {ratio:.3f} (before: {BASELINE_RATIOS[name]:.3f}; within 10 %: >= {floor:.3f}: "
                     f"{'met' if ratio >= floor else 'NOT met'})")
    return lines


def worst_case() -> list[str]:
    """A line that is nothing but PII, at two sizes: the time must grow with the size, not its
    square (a 2 MB line of SSNs took 388 s when each span was checked against all before it)."""
    from sanitiser.rules import Findings, Rules

    rules, timings = Rules(), {}
    for megabytes in (0.5, 2.0):
        text = "123-45-6789 4111 1111 1111 1111 user@example.com 2001:db8::1 " * int(megabytes * 1e6 / 62)
        started = time.process_time()
        rules.apply(text, Findings())
        timings[megabytes] = time.process_time() - started
    growth = timings[2.0] / max(timings[0.5], 1e-9)
    return [f"Worst case, one text of nothing but PII: 0.5 MB {timings[0.5]:.2f} s, 2 MB {timings[2.0]:.2f} s "
            f"(x{growth:.1f} for 4x the size; linear ~4, quadratic ~16: {'linear' if growth < 8 else 'NOT linear'})"]


def main() -> None:
    megabytes = int(os.environ.get("PII_BENCH_THROUGHPUT_MB", "20"))
    if megabytes:  # first: the corpus below, kept alive, would slow the collector under the timed passes
        for line in throughput(megabytes):
            print(line)
    records, seed = int(os.environ.get("PII_BENCH_RECORDS", "5000")), int(os.environ.get("PII_BENCH_SEED", "0"))
    start = time.perf_counter()
    samples = corpus(records, seed)
    settings = bench_settings()
    clean, sink = sanitise(samples, settings)
    reference, _ = sanitise(samples, dataclasses.replace(settings, fast_path=False))
    score = score_records(samples, clean)
    regions = getattr(settings, "phone_regions", None)
    print(f"PII recall and precision on {records} generated records (seed {seed}; phone_regions "
          f"{regions if regions is not None else 'not a setting yet: GB/DE national numbers scored against the default rules'}):")
    if sink.quarantined:
        print(f"  quarantined: {dict(Counter(q['reason'] for q in sink.quarantined))}")
    for line in report(score):
        print("  " + line)
    differ = sum(a != b for a, b in zip(clean, reference))
    print(f"  fast path vs every line through every rule: {'same clean output' if not differ else f'{differ} records DIFFER (the prefilter skips a line a rule changes)'}")
    print(f"  ({time.perf_counter() - start:.1f} s)")
    for line in worst_case():
        print(line)


if __name__ == "__main__":
    main()
