"""A seeded corpus of chat records with planted PII and distractors, and the ground truth of
each: what the PII benchmark (benchmarks/pii.py) runs the sanitiser over and scores.

Every PII kind the sanitiser claims (docs/sanitisation.md) in every written form, in every
text field of the three formats (the system text, user and assistant turns, Bedrock's
system and content blocks, ``input``/``output``), at the start, middle and end of a text,
next to punctuation and several to a text. Beside them, distractors that must come out
unchanged: order and ticket numbers, dates, times, versions, prices, quantities, ZIP codes,
ISBNs, C++ names.

A bare 7- or 10-digit number reads as a US phone number (national forms without a
separator are claimed) and is scrubbed by design, so no distractor is one; the ticket
numbers have 8 or 9 digits and no leading 0 (a leading 0 makes a GB/DE national number).

A text is built from pieces, filler and items in turn (filler, item, filler, ..., filler):
the filler is plain ASCII words and punctuation no rule changes, so the scorer finds each
filler in the clean text and reads off exactly what each item became.
"""
from __future__ import annotations

import ipaddress
import random
from dataclasses import dataclass

import phonenumbers

KINDS = ("EMAIL", "PHONE", "CREDIT_CARD", "SSN", "IP_ADDRESS")
PHONE_REGIONS = ("US", "GB", "DE")  # the benchmark's Settings(phone_regions=...): GB/DE national forms are planted
WORDS = ("please update the account for my details are below and you can reach me at we sent it to "
         "thanks again this is about the refund shipping parcel invoice password login error crash new "
         "address which one is right see also from their agent said here is what I have noted").split()


@dataclass(frozen=True)
class Item:
    value: str
    kind: str  # a PII kind (KINDS) when planted, else the distractor's class
    form: str
    planted: bool  # PII the sanitiser must replace, or a distractor it must keep verbatim


@dataclass(frozen=True)
class Field:
    pieces: tuple  # str filler and Item in turn, starting and ending with (possibly empty) filler

    @property
    def text(self) -> str:
        return "".join(p if isinstance(p, str) else p.value for p in self.pieces)

    @property
    def items(self) -> list[Item]:
        return [p for p in self.pieces if isinstance(p, Item)]


@dataclass(frozen=True)
class Sample:
    record: dict
    format: str
    fields: tuple[Field, ...]  # in the order of sanitiser.formats.text_slots(record)


# ---------------------------------------------------------------- PII, by kind and form
FULL_WIDTH = {c: chr(ord(c) + 0xFEE0) for c in map(chr, range(0x21, 0x7F))}


def full_width(text: str, only_digits: bool = False) -> str:
    return "".join(FULL_WIDTH.get(c, c) if (c.isdigit() or not only_digits) else c for c in text)


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(count))


FIRST = ("john", "maria", "wei", "fatima", "liam", "olga", "kenji", "ana", "dev", "sara")
LAST = ("smith", "garcia", "chen", "khan", "murphy", "ivanova", "sato", "silva", "patel", "berg")
DOMAINS = ("example.com", "mail.example.org", "corp-mail.co.uk", "students.uni-example.edu", "example.io")
UNICODE_LOCALS = ("jöhn.smith", "o'brien", "zoë", "renée.dupont", "françois", "jürgen.müller", "søren", "łukasz.nowak", "josé", "андрей")
IDN = (("user", "bücher.de"), ("пример", "почта.рф"), ("info", "münchen.example"), ("kontakt", "café-paris.fr"), ("support", "例え.jp"))


def _ascii_email(rng: random.Random) -> str:
    tag = rng.choice(("", "", f"+{rng.choice(WORDS)}"))
    return f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randint(1, 999)}{tag}@{rng.choice(DOMAINS)}"


def _insert(rng: random.Random, text: str, char: str) -> str:
    at = rng.randint(1, len(text) - 1)
    while text[at - 1] == "@" or text[at] == "@":
        at = rng.randint(1, len(text) - 1)
    return text[:at] + char + text[at:]


EMAIL_FORMS = {
    "ascii": _ascii_email,
    "unicode_local": lambda rng: f"{rng.choice(UNICODE_LOCALS)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}",
    "idn_domain": lambda rng: "{0}{2}@{1}".format(*rng.choice(IDN), rng.randint(1, 99)),
    "fullwidth_at": lambda rng: _ascii_email(rng).replace("@", "\uff20"),
    "fullwidth_all": lambda rng: full_width(_ascii_email(rng)),
    "soft_hyphen": lambda rng: _insert(rng, _ascii_email(rng), "\u00ad"),
    "zero_width": lambda rng: _insert(rng, _ascii_email(rng), rng.choice("\u200b\u200c\u200d\u2060")),
}

US_AREAS = ("201", "212", "303", "312", "415", "512", "617", "646", "702", "206", "555")


def _us(rng: random.Random) -> tuple[str, str, str]:
    exchange = "555" if rng.random() < 0.5 else str(rng.randint(200, 999))
    return rng.choice(US_AREAS), exchange, _digits(rng, 4)


def _us_form(template: str):
    return lambda rng: template.format(*_us(rng))


# Templates for the national and international numbers: libphonenumber's examples and the
# issue's; the last digits vary, kept only where libphonenumber calls the number valid.
TEMPLATES = {
    "GB": ("+442079460958", "+441212345678", "+447400123456", "+447911123456"),
    "DE": ("+4930901820", "+4930123456", "+4915123456789", "+4989123456"),
    "FR": ("+33142685300", "+33612345678"),
    "ES": ("+34912345678", "+34612345678"), "IT": ("+390212345678", "+393123456789"), "NL": ("+31201234567", "+31612345678"),
    "AU": ("+61212345678", "+61412345678"), "JP": ("+81312345678", "+819012345678"), "IN": ("+917123456789", "+918123456789"),
    "BR": ("+551123456789", "+5511961234567"),
}


def valid_number(rng: random.Random, region: str) -> phonenumbers.PhoneNumber:
    template = phonenumbers.parse(rng.choice(TEMPLATES[region]))
    national = str(template.national_number)
    for _ in range(100):
        number = phonenumbers.parse(f"+{template.country_code}{national[:-4]}{_digits(rng, 4)}")
        if phonenumbers.is_valid_number(number):
            return number
    return template  # every template is a valid number (tests/sanitiser/test_pii_bench.py)


def _formatted(region_choices: tuple[str, ...], style) -> callable:
    return lambda rng: phonenumbers.format_number(valid_number(rng, rng.choice(region_choices)), style)


INTL = phonenumbers.PhoneNumberFormat.INTERNATIONAL
PHONE_FORMS = {
    "us_paren_nospace": _us_form("({}){}-{}"),
    "us_paren_space": _us_form("({}) {}-{}"),
    "us_dash": _us_form("{}-{}-{}"),
    "us_dot": _us_form("{}.{}.{}"),
    "us_contiguous": _us_form("{}{}{}"),
    "us_space": _us_form("{} {} {}"),
    "us_plus1": _us_form("+1 {} {} {}"),
    "us_tollfree": lambda rng: f"1-{rng.choice(('800', '888', '877'))}-555-01{_digits(rng, 2)}",
    "us_nb_hyphen": _us_form("{}\u2011{}\u2011{}"),
    "us_en_dash": _us_form("{}\u2013{}\u2013{}"),
    "us_fullwidth": lambda rng: full_width(_us_form("{}-{}-{}")(rng), only_digits=True),
    "intl_GB": _formatted(("GB",), INTL),
    "intl_DE": _formatted(("DE",), INTL),
    "intl_FR": _formatted(("FR",), INTL),
    "intl_other": _formatted(("ES", "IT", "NL", "AU", "JP", "IN", "BR"), INTL),
    "intl_e164": _formatted(("GB", "DE", "FR", "ES", "IT", "NL", "AU", "JP", "IN", "BR"), phonenumbers.PhoneNumberFormat.E164),
    "national_GB": _formatted(("GB",), phonenumbers.PhoneNumberFormat.NATIONAL),
    "national_DE": _formatted(("DE",), phonenumbers.PhoneNumberFormat.NATIONAL),
}


def luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + _digits(rng, length - len(prefix) - 1)
    total = 0
    for index, char in enumerate(reversed(body)):  # the check digit will sit right of these
        digit = int(char) * (2 if index % 2 == 0 else 1)
        total += digit - 9 if digit > 9 else digit
    return body + str((10 - total % 10) % 10)


CARD_BRANDS = (  # prefix, length
    (lambda rng: "4", 16), (lambda rng: "4", 13), (lambda rng: "4", 19), (lambda rng: str(rng.randint(51, 55)), 16),
    (lambda rng: str(rng.randint(2221, 2720)), 16), (lambda rng: rng.choice(("34", "37")), 15), (lambda rng: "6011", 16),
)


def card_groups(digits: str) -> list[str]:
    if len(digits) == 15 and digits[0] == "3":  # Amex: 4-6-5
        return [digits[:4], digits[4:10], digits[10:]]
    return [digits[i : i + 4] for i in range(0, len(digits), 4)]


def _card(separator: str, fullwidth: bool = False):
    def make(rng: random.Random) -> str:
        prefix, length = rng.choice(CARD_BRANDS)
        text = separator.join(card_groups(luhn_complete(rng, prefix(rng), length)))
        return full_width(text, only_digits=True) if fullwidth else text
    return make


CARD_FORMS = {
    "contiguous": _card(""), "space": _card(" "), "dash": _card("-"), "dot": _card("."), "slash": _card("/"),
    "spaced_dash": _card(" - "), "soft_hyphen": _card("\u00ad"), "nbsp": _card("\u00a0"), "en_dash": _card("\u2013"),
    "fullwidth": _card(" ", fullwidth=True),
}


def _ssn(separator: str, fullwidth: bool = False):
    def make(rng: random.Random) -> str:
        area = rng.choice([a for a in range(1, 900) if a != 666])
        text = f"{area:03d}{separator}{rng.randint(1, 99):02d}{separator}{rng.randint(1, 9999):04d}"
        return full_width(text, only_digits=True) if fullwidth else text
    return make


SSN_FORMS = {"dash": _ssn("-"), "space": _ssn(" "), "dot": _ssn("."), "fullwidth": _ssn("-", fullwidth=True)}


def _ipv4(rng: random.Random) -> str:
    first = rng.choice((10, 172, 192, rng.randint(11, 223)))
    return ".".join(map(str, (first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))))


def _ipv6(rng: random.Random, zeros: int) -> ipaddress.IPv6Address:
    groups = [0x2001, 0x0DB8] + [rng.randint(1, 0xFFFF) for _ in range(6)]
    start = rng.randint(2, 8 - zeros)
    groups[start : start + zeros] = [0] * zeros
    return ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))


IP_FORMS = {
    "ipv4": _ipv4,
    "ipv6_full": lambda rng: _ipv6(rng, 0).exploded,
    "ipv6_compressed": lambda rng: _ipv6(rng, rng.randint(2, 4)).compressed,
    "ipv6_embedded_ipv4": lambda rng: rng.choice(("::ffff:", "64:ff9b::", "2001:db8:1:2:3:4:")) + _ipv4(rng),
}

PII_FORMS = {"EMAIL": EMAIL_FORMS, "PHONE": PHONE_FORMS, "CREDIT_CARD": CARD_FORMS, "SSN": SSN_FORMS, "IP_ADDRESS": IP_FORMS}


# ---------------------------------------------------------------- distractors, by class and form
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December")


def _isbn13(rng: random.Random) -> str:
    body = rng.choice(("978", "979")) + _digits(rng, 9)
    check = (10 - sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(body)) % 10) % 10
    return f"{body[:3]}-{body[3]}-{body[4:8]}-{body[8:]}-{check}"


def _date(rng: random.Random) -> tuple[int, int, int]:
    return rng.randint(1990, 2030), rng.randint(1, 12), rng.randint(1, 28)


DISTRACTORS = {
    "order_number": {
        "ORD-yyyy-n6": lambda rng: f"ORD-{rng.randint(2015, 2030)}-{rng.randint(100000, 999999)}",
        "#A-n5": lambda rng: f"#{rng.choice('ABCDEFGH')}-{rng.randint(10000, 99999)}",
        "order n6": lambda rng: f"order {rng.randint(100000, 999999)}",
        "ticket n8-9": lambda rng: f"ticket {rng.randint(10_000_000, 999_999_999)}",
    },
    "date": {
        "yyyy-mm-dd": lambda rng: "{}-{:02d}-{:02d}".format(*_date(rng)),
        "dd/mm/yyyy": lambda rng: "{2:02d}/{1:02d}/{0}".format(*_date(rng)),
        "mm.dd.yyyy": lambda rng: "{1:02d}.{2:02d}.{0}".format(*_date(rng)),
        "Month d, yyyy": lambda rng: "{1} {2}, {0}".format(*(lambda y, m, d: (y, MONTHS[m - 1], d))(*_date(rng))),
    },
    "time": {
        "hh:mm": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}",
        "hh:mm:ss": lambda rng: f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}",
    },
    "version": {
        "vX.Y.Z": lambda rng: f"v{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}",
        "X.Y.Z": lambda rng: f"{rng.randint(0, 12)}.{rng.randint(0, 40)}.{rng.randint(0, 20)}",
        "Python X.Y.Z": lambda rng: f"Python 3.{rng.randint(6, 13)}.{rng.randint(0, 19)}",
    },
    "price": {
        "$1,299.99": lambda rng: f"${rng.randint(1, 9)},{rng.randint(0, 999):03d}.{rng.randint(0, 99):02d}",
        "€49.95": lambda rng: f"€{rng.randint(1, 999)}.{rng.randint(0, 99):02d}",
        "1.299,00 €": lambda rng: f"{rng.randint(1, 9)}.{rng.randint(0, 999):03d},{rng.randint(0, 99):02d} €",
    },
    "quantity": {
        "n x n g": lambda rng: f"{rng.randint(2, 12)} x {rng.choice((100, 250, 500))} g",
        "n,nnn units": lambda rng: f"{rng.randint(1, 99)},{rng.randint(0, 999):03d} units",
        "n.n kg": lambda rng: f"{rng.randint(1, 99)}.{rng.randint(0, 9)} kg",
    },
    "zip_code": {
        "nnnnn": lambda rng: f"{rng.randint(10000, 99999)}",
        "nnnnn-nnnn": lambda rng: f"{rng.randint(10000, 99999)}-{rng.randint(1000, 9999)}",
    },
    "isbn13": {"978-n-nnnn-nnnn-n": _isbn13},
    "cpp_name": {"std::name": lambda rng: rng.choice(("std::vector<int>", "std::unordered_map", "std::chrono::seconds", "boost::asio::ip::tcp"))},
}


# ---------------------------------------------------------------- texts and records
WRAPS = (("", ""), ("", ""), ("(", ")"), ("<", ">"), ('"', '"'), ("[", "]"), ("'", "'"), ("", ","), ("", "."), ("", ";"), ("", "!"),
         ("", "?"), ("", ":"))


def wraps_for(item: Item) -> tuple[tuple[str, str], ...]:
    """Punctuation that reads the same either way: not ':' after an IPv6 address or a time
    (it could continue it), not quotes around an e-mail whose local part has an apostrophe."""
    banned = set()
    if item.kind in ("IP_ADDRESS", "time", "cpp_name"):
        banned.add(("", ":"))
    if "'" in item.value:
        banned.add(("'", "'"))
    return tuple(w for w in WRAPS if w not in banned)


def _words(rng: random.Random, low: int, high: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def make_item(rng: random.Random, planted_share: float = 0.6) -> Item:
    if rng.random() < planted_share:
        kind = rng.choice(KINDS)
        form, make = rng.choice(list(PII_FORMS[kind].items()))
        return Item(make(rng), kind, form, True)
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
