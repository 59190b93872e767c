"""A seeded corpus of chat records with planted PII and distractors, and the ground truth of
each: what the PII benchmark (benchmarks/pii.py) runs the sanitiser over and scores.

Every PII kind the sanitiser claims (docs/sanitisation.md) in every written form, in every
text field of the three formats (the system text, user and assistant turns, Bedrock's
system and content blocks, ``input``/``output``), at the start, middle and end of a text,
next to punctuation and several to a text. Beside them, distractors that must come out
unchanged: order and ticket numbers, dates, times, versions, prices, quantities, ZIP codes,
ISBNs, C++ names, Unix timestamps, number ranges, Python/numpy slices and matrix products,
hex labels. The forms are generated in synthetic_data/pii_forms.py.

Some forms carry text that is not PII around the value (``Item.head``/``Item.tail``): a
letter prefix (``CC4111...``, ``SSN123-45-6789``, ``tel555-...``, ``v192.168.1.1``), a CVV or
expiry date after a card, an extension after a phone number, a ':' after an IPv6 address.
Only the value is planted; the head and tail must come out as written, and are scored as
distractors (class ``affix``). No tail makes the digits before it a longer valid card.

A bare 10-digit number starting 2-9 (11 after a 1) reads as a US phone number and a 7-digit
one is not claimed, so no distractor is one; a Unix timestamp (10 digits starting 1) and
``0123456789`` are not NANP numbers and must survive. The ticket numbers have 8 or 9 digits
and no leading 0 (a leading 0 makes a GB/DE national number). ``git@github.com`` reads as
an e-mail by design and is not a distractor.

A text is built from pieces, filler and items in turn (filler, item, filler, ..., filler):
the filler is plain ASCII words and punctuation no rule changes, so the scorer finds each
filler in the clean text and reads off exactly what each item became.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from synthetic_data.pii_forms import DISTRACTORS, KINDS, PHONE_REGIONS, PII_FORMS, WORDS  # noqa: F401 (KINDS, PHONE_REGIONS: the benchmark's)


@dataclass(frozen=True)
class Item:
    value: str
    kind: str  # a PII kind (KINDS) when planted, else the distractor's class
    form: str
    planted: bool  # PII the sanitiser must replace, or a distractor it must keep verbatim
    head: str = ""  # written right before the value, not PII: it must survive ('CC' in 'CC4111...')
    tail: str = ""  # written right after it, not PII ('x89' in '555-123-4567x89')

    @property
    def text(self) -> str:
        return self.head + self.value + self.tail


@dataclass(frozen=True)
class Field:
    pieces: tuple  # str filler and Item in turn, starting and ending with (possibly empty) filler

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.text for p in self.pieces)

    @property
    def items(self) -> list[Item]:
        return [p for p in self.pieces if isinstance(p, Item)]


@dataclass(frozen=True)
class Sample:
    record: dict
    format: str
    fields: tuple[Field, ...]  # in the order of sanitiser.formats.text_slots(record)


# ---------------------------------------------------------------- texts and records
WRAPS = (("", ""), ("", ""), ("(", ")"), ("<", ">"), ('"', '"'), ("[", "]"), ("'", "'"), ("", ","), ("", "."), ("", ";"), ("", "!"),
         ("", "?"), ("", ":"))


def wraps_for(item: Item) -> tuple[tuple[str, str], ...]:
    """Punctuation that reads the same either way: not ':' after an IPv6 address, a time or
    a slice (it could continue it), not quotes around an e-mail whose local part has an
    apostrophe; nothing after the ':' that follows an IPv6 address (the text goes on)."""
    if item.tail.endswith(":"):
        return (("", ""),)
    banned = set()
    if item.kind in ("IP_ADDRESS", "time", "cpp_name", "slice", "hex_label"):
        banned.add(("", ":"))
    if "'" in item.text:
        banned.add(("'", "'"))
    return tuple(w for w in WRAPS if w not in banned)


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def make_item(rng: random.Random, planted_share: float = 0.6) -> Item:
    if rng.random() < planted_share:
        kind = rng.choice(KINDS)
        form, make = rng.choice(list(PII_FORMS[kind].items()))
        made = make(rng)  # the value, or (head, value, tail)
        head, value, tail = made if isinstance(made, tuple) else ("", made, "")
        return Item(value, kind, form, True, head, tail)
    kind = rng.choice(list(DISTRACTORS))
    form, make = rng.choice(list(DISTRACTORS[kind].items()))
    return Item(make(rng), kind, form, False)


def make_field(rng: random.Random, items: int) -> Field:
    """``items`` items in a text: the first may open it, the last may close it, each between
    punctuation; the filler between two items always holds words (the scorer's anchors)."""
    if items == 0:
        return Field((_words(rng, 3, 10).capitalize() + ".",))
    pieces: list = []
    lead = "" if rng.random() < 0.2 else _words(rng, 1, 6).capitalize() + rng.choice((" ", ": ", ", ", "\n"))
    for index in range(items):
        item = make_item(rng)
        left, right = rng.choice(wraps_for(item))
        pieces += [lead + left, item]
        lead = right + rng.choice((" ", "\n")) + _words(rng, 2, 6) + " " if index < items - 1 else right
    tail = "" if rng.random() < 0.25 else rng.choice((" ", "\n")) + _words(rng, 1, 5) + "."
    pieces.append(lead + tail)
    return Field(tuple(pieces))


def _item_count(rng: random.Random) -> int:
    return rng.choice((0, 1, 1, 2, 2, 3, 4))


def make_sample(rng: random.Random) -> Sample:
    roll = rng.random()
    if roll < 1 / 3:
        fields = (make_field(rng, _item_count(rng) or 1), make_field(rng, _item_count(rng)))
        record = {"input": fields[0].text, "output": fields[1].text}
        return Sample(record, "input-output", fields)
    turns = [make_field(rng, _item_count(rng)) for _ in range(rng.choice((2, 2, 4)))]
    roles = ["user", "assistant"] * (len(turns) // 2)
    if roll < 2 / 3:
        system = [make_field(rng, _item_count(rng))] if rng.random() < 0.7 else []
        messages = [{"role": "system", "content": f.text} for f in system]
        messages += [{"role": role, "content": f.text} for role, f in zip(roles, turns)]
        return Sample({"messages": messages}, "messages", tuple(system + turns))
    system = [make_field(rng, _item_count(rng)) for _ in range(rng.choice((0, 1, 1, 2)))]
    blocks = [[turn] + ([make_field(rng, _item_count(rng))] if rng.random() < 0.2 else []) for turn in turns]
    record = {"schemaVersion": "bedrock-conversation-2024", "system": [{"text": f.text} for f in system],
              "messages": [{"role": role, "content": [{"text": f.text} for f in fs]} for role, fs in zip(roles, blocks)]}
    if not system and rng.random() < 0.5:
        del record["system"]
    return Sample(record, "bedrock-conversation-2024", tuple(system + [f for fs in blocks for f in fs]))


def corpus(records: int, seed: int = 0) -> list[Sample]:
    """``records`` samples, the same for the same seed."""
    rng = random.Random(seed)
    return [make_sample(rng) for _ in range(records)]
