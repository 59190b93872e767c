"""Every written form of each PII kind the PII benchmark plants and of each distractor class
it keeps (synthetic_data/pii_corpus.py builds the records): each a function of a
``random.Random`` that returns the value, or ``(head, value, tail)`` where text that is not
PII is written around it and must survive (``CC4111...``, ``555-123-4567x89``).
"""
from __future__ import annotations

import ipaddress
import random

import phonenumbers

KINDS = ("EMAIL", "PHONE", "CREDIT_CARD", "SSN", "IP_ADDRESS")
PHONE_REGIONS = ("US", "GB", "DE")  # the benchmark's Settings(phone_regions=...): GB/DE national forms are planted
WORDS = ("please update the account for my details are below and you can reach me at we sent it to "
         "thanks again this is about the refund shipping parcel invoice password login error crash new "
         "address which one is right see also from their agent said here is what I have noted").split()



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
# Scripts whose letters take vowel signs and viramas (combining marks): Devanagari, Bengali,
# Tamil, Telugu, Kannada, Gujarati, Thai; NFC already (no composition exclusions such as 'ड़').
INDIC_LOCALS = ("संपर्क", "सहायता", "राहुल.शर्मा", "যোগাযোগ", "தொடர்பு", "ప్రియ", "ಸಂಪರ್ಕ", "સંપર્ક", "ติดต่อ")
INDIC_DOMAINS = ("डाटामेल.भारत", "उदाहरण.भारत", "মেইল.ভারত", "அஞ்சல்.இந்தியா", "ಮೇಲ್.ಭಾರತ", "ไปรษณีย์.ไทย", "डाटामेल.com", "उदाहरण.in")
LATIN_MARKED = ("o\u0323\u0300la", "ade\u0301", "s\u0323e\u0323\u0300gun", "te\u0300mi\u0301", "n\u0304ana", "i\u0331fe")  # Yoruba etc., decomposed
LATIN_MARKS = "\u0300\u0301\u0304\u0308\u0323\u0331"


def _ascii_email(rng: random.Random) -> str:
    tag = rng.choice(("", "", f"+{rng.choice(WORDS)}"))
    return f"{rng.choice(FIRST)}.{rng.choice(LAST)}{rng.randint(1, 999)}{tag}@{rng.choice(DOMAINS)}"


def _insert(rng: random.Random, text: str, char: str) -> str:
    at = rng.randint(1, len(text) - 1)
    while text[at - 1] == "@" or text[at] == "@":
        at = rng.randint(1, len(text) - 1)
    return text[:at] + char + text[at:]


def _marked_email(rng: random.Random) -> str:
    """'john.ọ̀la@example.com': a name written with combining marks, or marks on 1-2 letters."""
    if rng.random() < 0.5:
        return f"{rng.choice(FIRST)}.{rng.choice(LATIN_MARKED)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}"
    local = list(f"{rng.choice(FIRST)}.{rng.choice(LAST)}")
    for at in rng.sample([i for i, c in enumerate(local) if c.isalpha()], rng.randint(1, 2)):
        local[at] += "".join(rng.sample(LATIN_MARKS, rng.randint(1, 2)))
    return f"{''.join(local)}@{rng.choice(DOMAINS)}"


EMAIL_FORMS = {
    "ascii": _ascii_email,
    "unicode_local": lambda rng: f"{rng.choice(UNICODE_LOCALS)}{rng.randint(1, 99)}@{rng.choice(DOMAINS)}",
    "idn_domain": lambda rng: "{0}{2}@{1}".format(*rng.choice(IDN), rng.randint(1, 99)),
    "fullwidth_at": lambda rng: _ascii_email(rng).replace("@", "\uff20"),
    "fullwidth_all": lambda rng: full_width(_ascii_email(rng)),
    "soft_hyphen": lambda rng: _insert(rng, _ascii_email(rng), "\u00ad"),
    "zero_width": lambda rng: _insert(rng, _ascii_email(rng), rng.choice("\u200b\u200c\u200d\u2060")),
    "indic_local": lambda rng: f"{rng.choice(INDIC_LOCALS)}{rng.choice(('', str(rng.randint(1, 99))))}@{rng.choice(DOMAINS)}",
    "indic_domain": lambda rng: f"{rng.choice(FIRST)}{rng.choice(('', '.' + rng.choice(LAST)))}@{rng.choice(INDIC_DOMAINS)}",
    "indic_both": lambda rng: f"{rng.choice(INDIC_LOCALS)}@{rng.choice(INDIC_DOMAINS)}",
    "combining_marks": _marked_email,
    "comment_after": lambda rng: ("", _ascii_email(rng), rng.choice(("(home)", "(work)", "()"))),  # 'john@example.com(home)'
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
    "us_dash_3_7": _us_form("{}-{}{}"),
    "us_tab": _us_form("{}\t{}\t{}"),
    "letter_prefix": lambda rng: (rng.choice(("tel", "Tel", "ph", "phone", "cell", "mob")), _us_form("{}-{}-{}")(rng), ""),
    "extension": lambda rng: ("", _us_form(rng.choice(("{}-{}-{}", "({}) {}-{}", "{}.{}.{}")))(rng),
                              f"{rng.choice(('x', 'ext', 'x'))}{rng.randint(1, 9999)}"),
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


def _with_tail(make_tail):
    """A card, then a CVV or an expiry date: never one that makes the digits a longer valid card."""
    def make(rng: random.Random) -> tuple[str, str, str]:
        card = _card(rng.choice((" ", " ", "-", "")))(rng)
        while True:
            tail = make_tail(rng, card)
            digits = "".join(filter(str.isdigit, card + tail))
            if len(digits) > 19 or not luhn_valid(digits):
                return "", card, tail
    return make


def luhn_valid(digits: str) -> bool:
    doubled = (int(d) * (2 if i % 2 else 1) for i, d in enumerate(reversed(digits)))
    return sum(d - 9 if d > 9 else d for d in doubled) % 10 == 0


def _marked_card(rng: random.Random) -> str:
    """Combining marks after digits ('4\u0301111'): after every digit or after 1-3 of them."""
    text, mark = _card(rng.choice(("", " ", "-")))(rng), rng.choice("\u0301\u0332\u20dd")
    digits = [i for i, c in enumerate(text) if c.isdigit()]
    marked = set(digits) if rng.random() < 0.3 else set(rng.sample(digits, rng.randint(1, 3)))
    return "".join(c + mark if i in marked else c for i, c in enumerate(text))


def _invisible_card(rng: random.Random) -> str:
    """A variation selector, the combining grapheme joiner or a bidi override between groups."""
    prefix, length = rng.choice(CARD_BRANDS)
    groups, char, space = card_groups(luhn_complete(rng, prefix(rng), length)), rng.choice("\ufe0f\u034f\u202e"), rng.choice(("", " "))
    joins = [rng.choice((char + space, space + char)) if rng.random() < 0.7 else space for _ in groups[1:]]
    joins[rng.randrange(len(joins))] = char + space
    return groups[0] + "".join(j + g for j, g in zip(joins, groups[1:]))


CARD_FORMS = {
    "contiguous": _card(""), "space": _card(" "), "dash": _card("-"), "dot": _card("."), "slash": _card("/"),
    "spaced_dash": _card(" - "), "soft_hyphen": _card("\u00ad"), "nbsp": _card("\u00a0"), "en_dash": _card("\u2013"),
    "fullwidth": _card(" ", fullwidth=True), "tab": _card("\t"),
    "cvv_after": _with_tail(lambda rng, card: f" {_digits(rng, 4 if card[0] == '3' else 3)}"),
    "expiry_after": _with_tail(lambda rng, card: f" {rng.randint(1, 12):02d}/{rng.randint(24, 35)}"),
    "letter_prefix": lambda rng: (rng.choice(("CC", "cc", "card", "Visa", "MC", "acct")), _card(rng.choice(("", "", " ", "-")))(rng), ""),
    "combining_marks": _marked_card,
    "invisible_between_groups": _invisible_card,
}


def _ssn(separator: str, fullwidth: bool = False):
    def make(rng: random.Random) -> str:
        area = rng.choice([a for a in range(1, 900) if a != 666])
        text = f"{area:03d}{separator}{rng.randint(1, 99):02d}{separator}{rng.randint(1, 9999):04d}"
        return full_width(text, only_digits=True) if fullwidth else text
    return make


def _mixed_ssn(rng: random.Random) -> str:
    first, second = rng.sample(("-", " ", "."), 2)
    return _ssn("#")(rng).replace("#", first, 1).replace("#", second)


SSN_FORMS = {"dash": _ssn("-"), "space": _ssn(" "), "dot": _ssn("."), "fullwidth": _ssn("-", fullwidth=True),
             "mixed_separators": _mixed_ssn, "tab": _ssn("\t"),
             "letter_prefix": lambda rng: (rng.choice(("SSN", "ssn", "SocSec", "SSN#")), _ssn(rng.choice(("-", "-", " ")))(rng), "")}


def _ipv4(rng: random.Random) -> str:
    first = rng.choice((10, 172, 192, rng.choice([o for o in range(11, 224) if o != 127])))  # 127: loopback, not claimed
    return ".".join(map(str, (first, rng.randint(0, 255), rng.randint(0, 255), rng.randint(1, 254))))


def _ipv6(rng: random.Random, zeros: int) -> ipaddress.IPv6Address:
    groups = [0x2001, 0x0DB8] + [rng.randint(1, 0xFFFF) for _ in range(6)]
    start = rng.randint(2, 8 - zeros)
    groups[start : start + zeros] = [0] * zeros
    return ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups))


def _padded_ipv4(rng: random.Random) -> str:
    """'010.001.002.003': every octet under 100, or some, written with three digits."""
    octets = _ipv4(rng).split(".")
    while not (short := [i for i, o in enumerate(octets) if len(o) < 3]):
        octets = _ipv4(rng).split(".")
    padded = short if rng.random() < 0.5 else rng.sample(short, rng.randint(1, len(short)))
    return ".".join(f"{int(o):03d}" if i in padded else o for i, o in enumerate(octets))


def _ipv6_before_colon(rng: random.Random) -> tuple[str, str, str]:
    """'2001:db8::1: blocked': the last group is not zero, so the ':' cannot read as '::'."""
    groups, zeros = [0x2001, 0x0DB8] + [rng.randint(1, 0xFFFF) for _ in range(6)], rng.randint(0, 5)
    start = rng.randint(2, 7 - zeros)
    groups[start : start + zeros] = [0] * zeros
    return "", ipaddress.IPv6Address(":".join(f"{g:x}" for g in groups)).compressed, ":"


IP_FORMS = {
    "ipv4": _ipv4,
    "ipv4_leading_zeros": _padded_ipv4,
    "letter_prefix": lambda rng: (rng.choice(("v", "ip", "IP", "host", "srv")), _ipv4(rng), ""),
    "ipv6_colon_after": _ipv6_before_colon,
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
    # A 10-digit number starting 1 is no NANP number (area codes start 2-9); 0123456789 is no valid GB/DE one.
    "timestamp": {"unix seconds": lambda rng: str(rng.randint(1_000_000_000, 1_999_999_999))},
    "digit_sequence": {"0123456789": lambda rng: "0123456789"},
    "number_range": {
        "range n-n-n": lambda rng: f"range {rng.randrange(100, 200, 10)}-{rng.randrange(200, 1000, 10)}-{rng.randrange(1000, 10000, 100)}",
        "dims (n) n-n": lambda rng: f"dims ({rng.choice((128, 192, 100, 160))}) {rng.choice((256, 384, 512, 768))}-{rng.choice((1024, 2048, 4096, 8192))}",
    },
    "slice": {
        "a[n::n]": lambda rng: f"{rng.choice(('a', 'x', 'xs', 'seq'))}[{rng.randint(0, 9)}::{rng.randint(2, 4)}]",
        "arr[::n]": lambda rng: f"{rng.choice(('arr', 'a', 'tokens'))}[::{rng.choice((2, 3, -1))}]",
        "n:n::": lambda rng: f"{rng.randint(1000, 9999)}:{rng.randint(100, 9999)}::",
    },
    "hex_label": {"dead::beef": lambda rng: rng.choice(("dead::beef", "cafe::babe", "beef::f00d", "face::b00c"))},
}
