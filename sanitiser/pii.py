"""PII in a text, found on its view (pii_view.py) and replaced by a placeholder of its kind.

What is caught (docs/sanitisation.md has the table and the benchmark's figures):
- EMAIL: local parts of letters and digits of any script and ``. _ % + - '``; domains of
  any script's labels (IDN) or punycode; '＠' and full-width addresses through the view.
- PHONE: libphonenumber (Google's; the ``phonenumbers`` package) reads any number written
  with a + country code, and for each non-NANP region of ``phone_regions`` the national
  numbers valid in its plan, written any way it accepts, with their trunk prefix (0 in GB
  and DE) and not a date. NANP national numbers (US, CA, ...: country code 1) have one
  fixed shape, NPA NXX XXXX, and fictional and test ranges (555 ...) that no plan calls
  valid fill support data: a pattern reads them, (1) (555) 123-4567 in every separator the
  view knows, and a bare run of 10 digits (or 11 after a 1); a 7-digit local number without
  its area code is not claimed (it reads as a quantity as often).
- CREDIT_CARD: 13-19 digits starting 2-6 that pass Luhn, contiguous or in the layouts cards
  are printed in (groups of four; Amex 4-6-5; Diners 4-6-4) with any run of up to three
  separators (space, tab, '.', '/', '-') between groups; digits after it (a CVV, an expiry
  date) do not hide it; after a '+' it is a phone number.
- SSN: area-group-serial with separators (``123-45-6789``, ``123 45 6789``), never-issued
  numbers left alone.
- IP_ADDRESS: IPv4 dotted quads; IPv6 in every form ``ipaddress`` accepts (compressed,
  embedded IPv4) with at least three groups (not a slice such as ``a[1::2]``), except the
  loopback and unspecified addresses.
Numbers are bounded by other digits, not letters ('SSN123-45-6789' is caught).
Names and street addresses need a model: ``comprehend_pii``.

Each rule has a gate as cheap as a substring test ('@', a digit run, ':' between hex
digits); the prefilter and the text gate hold the same gates as Hyperscan patterns, so they
skip only what no rule would touch.
"""
from __future__ import annotations

import ipaddress
import re
import unicodedata
from itertools import repeat

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from .pii_view import View, mark_pattern

KINDS = ("EMAIL", "PHONE", "CREDIT_CARD", "SSN", "IP_ADDRESS")
NUMBER_PRIORITY = ("SSN", "CREDIT_CARD", "IP_ADDRESS", "PHONE")  # where two kinds claim the same digits

DIGITS = "0123456789"
DIGIT_RUN = r"[0-9][0-9 \t.()/+-]{5,}[0-9]"  # no numeric PII without a run like this (in the view every digit is ASCII)
IPV6_GATE = r":[0-9A-Fa-f]{0,4}:"  # no IPv6 address without two colons with at most four hex digits between
EMAIL_LOCAL_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-'")
MARK = mark_pattern()  # a combining mark: part of a word in any script (Python's \w leaves them out)
# Letters and digits of any script, marks, '-'; a TLD of letters (IDN) or punycode. Code
# with numpy's '@' ('q@k.transpose(-2, -1)') reads as an address and is scrubbed: telling it
# from 'john@example.com(home)' would take guessing, and a leak costs more than a lost operand.
EMAIL_DOMAIN = (rf"(?:[\w-]|{MARK})+(?:\.(?:[\w-]|{MARK})+)*\.(?:[^\W\d_](?:[^\W\d_]|{MARK})+|xn--[\w-]+)(?!\w|{MARK})")
SEPARATORS = r"[ \t./-]{1,3}"
# Numbers are bounded by other digits, not by letters: 'SSN123-45-6789' and 'CC4111...' are
# written so. Each number pattern is tried around the digit runs only (see _numbers).
SSN = rf"(?<!\d)(?!000|666|9\d\d)\d{{3}}{SEPARATORS}(?!00)\d{{2}}{SEPARATORS}(?!0000)\d{{4}}(?!\d)"
CARD_START = r"(?<![\d+])[2-6]"  # after a '+' it is a phone number
# The layouts cards are printed in, longest first, each tried from every start: the first
# that passes Luhn wins, so digits after a card ('4111 1111 1111 1111 123', a CVV) leave it a card.
CARD_LAYOUTS = (rf"\d{{4}}(?:{SEPARATORS}\d{{4}}){{3}}{SEPARATORS}\d{{1,3}}(?!\d)",  # fours, 17-19 digits
                rf"\d{{4}}(?:{SEPARATORS}\d{{4}}){{2}}{SEPARATORS}\d{{1,4}}(?!\d)",  # fours, 13-16
                rf"\d{{4}}{SEPARATORS}\d{{6}}{SEPARATORS}\d{{5}}(?!\d)",  # Amex 4-6-5
                rf"\d{{4}}{SEPARATORS}\d{{6}}{SEPARATORS}\d{{4}}(?!\d)",  # Diners 4-6-4
                r"\d{13,19}(?!\d)")
OCTET = r"(?:25[0-5]|2[0-4]\d|[01]?\d?\d)"
IPV4 = rf"(?<![\d.])(?:{OCTET}\.){{3}}{OCTET}(?!\.?\d)"
IPV6 = r"(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?!\w|\.\d)"
IPV6_MIN_GROUPS = 3  # fewer is a slice ('a[1::2]'), a C++ scope or a label ('dead::beef'), not an address worth a placeholder
NANP_COUNTRY_CODE = 1
# NPA NXX XXXX, the area code starting 2-9 (a timestamp such as 1700000000 is not a phone);
# the exchange is not checked, since 555 123 4567 is how examples and test data write them.
NANP = (rf"(?<![\d+])(?:1{SEPARATORS})?(?:\([2-9]\d\d\)[ \t./-]{{0,3}}|[2-9]\d\d{SEPARATORS})\d{{3}}{SEPARATORS}\d{{4}}(?!\d)"
        rf"|(?<![\d+])[2-9]\d\d{SEPARATORS}\d{{7}}(?!\d)"
        r"|(?<![\d+])1?[2-9]\d{9}(?!\d)")
DATE = re.compile(r"\d{1,2}([./-])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}([./-])\d{1,2}\2\d{1,2}")  # libphonenumber skips only slashed dates
OPENING = {"(": ")", "[": "]"}
MIN_PHONE_DIGITS = 7  # the shortest whole international numbers (Niue +683 4002)
FEWEST_DIGITS = {"SSN": 9, "IP_ADDRESS": 4, "PHONE": 10, "CREDIT_CARD": 13}  # a run with fewer holds none (NANP: 10)
WINDOW_SLACK = 4  # characters after a run that decide its boundary for libphonenumber
LEADING = frozenset(" \t.()[]/+-")  # what may stand before a number's first digit and belong to it


def _blanked(text: str, spans: list) -> str:
    """``text`` with each span's characters spaces (offsets unchanged)."""
    pieces, done = [], 0
    for start, end, _ in sorted(spans):
        pieces += [text[done:start], " " * (end - start)]
        done = end
    return "".join(pieces) + text[done:]


class Claimed:
    """The characters PII spans took so far: a span is taken only where none is (one C-level
    find per span: checking it against every span before was quadratic, 388 s for a 2 MB line
    of SSNs)."""

    def __init__(self, length: int, spans=()):
        self._taken = bytearray(length)
        for start, end, _ in spans:
            self._taken[start:end] = b"\x01" * (end - start)

    def take(self, start: int, end: int) -> bool:
        if self._taken.find(1, start, end) != -1:
            return False
        self._taken[start:end] = b"\x01" * (end - start)
        return True


def _without_unpaired_opening(start: int, written: str) -> tuple[int, str]:
    """libphonenumber takes a bracket before a number as part of it ('(555 123 4567)' gives
    '(555 123 4567'): leave out an opening bracket whose closing one is not in the match."""
    while written[:1] in OPENING and OPENING[written[0]] not in written:
        start, written = start + 1, written[1:]
    return start, written


def _compiled(pattern: str) -> tuple[re.Pattern, re.Pattern]:
    """(for ASCII text, for other text): \\d, \\w and \\b are ASCII's in the first, so it tests
    a bitmap instead of Unicode's tables, and matches exactly the same on ASCII text."""
    return re.compile(pattern, re.ASCII), re.compile(pattern)


PATTERNS = {name: _compiled(pattern) for name, pattern in
            (("digit_run", DIGIT_RUN), ("ipv6_gate", IPV6_GATE), ("SSN", SSN), ("IP_ADDRESS", IPV4), ("ipv6", IPV6), ("nanp", NANP),
             ("card_start", CARD_START))}
# An ASCII text holds no combining mark: its domain pattern leaves them out (3x faster).
PATTERNS["domain"] = (re.compile(EMAIL_DOMAIN.replace(f"|{MARK}", ""), re.ASCII), re.compile(EMAIL_DOMAIN))
CARD_LAYOUT_PATTERNS = [_compiled(layout) for layout in CARD_LAYOUTS]
NON_DIGIT = re.compile(r"\D")


def luhn_valid(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for index, char in enumerate(digits):
        digit = int(char)
        if index % 2 == parity:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_at(text: str, start: int, end: int, which: bool) -> int | None:
    """The end of the card number written from ``start`` (before ``end``) in one of the
    printed layouts, the longest that passes Luhn, or None."""
    for layouts in CARD_LAYOUT_PATTERNS:
        match = layouts[which].match(text, start, end)
        if match is not None and luhn_valid(NON_DIGIT.sub("", match.group(0))):
            return match.end()
    return None


def has_digit(text: str) -> bool:
    return any(map(text.__contains__, DIGITS))  # ten substring tests (memchr) beat one regex scan of prose


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _word_boundary(text: str, index: int) -> bool:
    before = index > 0 and _is_word(text[index - 1])
    return before != (index < len(text) and _is_word(text[index]))


def _email_local(char: str) -> bool:
    return char in EMAIL_LOCAL_ASCII or (not char.isascii() and (char.isalnum() or unicodedata.category(char)[0] == "M"))


class PiiScrubber:
    def __init__(self, phone_regions: tuple[str, ...] = ("US",)):
        unknown = [region for region in phone_regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"phone_regions: {', '.join(map(repr, unknown))} not a region libphonenumber knows (ISO 3166 codes such as US, GB, DE)")
        nanp = [phonenumbers.country_code_for_region(region) == NANP_COUNTRY_CODE for region in phone_regions]
        self.nanp = any(nanp)  # the NANP pattern (see the module's docstring)
        self.phone_regions = tuple(dict.fromkeys(region for region, is_nanp in zip(phone_regions, nanp) if not is_nanp))

    def scrub(self, text: str, findings) -> str:
        """``text`` with its PII replaced, again until nothing changes: a match can leave a
        neighbour that reads as PII on its own ('2001:db8::1a@b.io': the e-mail takes
        '1a@b.io', leaving an IPv6 address), and clean output cleaned again must not change."""
        while (scrubbed := self._scrub_once(text, findings)) != text:
            text = scrubbed
        return text

    def _scrub_once(self, text: str, findings) -> str:
        view = View(text)
        seen = view.text
        which = not seen.isascii()
        spans: list[tuple[int, int, str]] = []
        if "@" in seen:
            spans += self._emails(seen, which)
        if ":" in seen and PATTERNS["ipv6_gate"][which].search(seen) is not None:
            spans += self._ipv6(seen, which, spans)  # before the numbers: an IPv6 address may end in an IPv4 one
        if has_digit(seen) and (runs := [run.span() for run in PATTERNS["digit_run"][which].finditer(seen)]):
            spans += self._numbers(seen, which, runs, spans)
        if not spans:
            return text
        pieces, done = [], 0
        for start, end, kind in sorted(spans):
            start, end = view.source_span(start, end)
            if start < done:  # one source character behind two view matches ('½' is '1⁄2'): the first took it
                continue
            pieces += [text[done:start], f"[{kind}]"]
            findings.pii[kind] += 1
            done = end
        return "".join(pieces) + text[done:]

    @staticmethod
    def _emails(text: str, which: bool) -> list[tuple[int, int, str]]:
        """Anchored on each '@' (a regex starting at every word would backtrack on all text)."""
        spans, done, at = [], 0, text.find("@")
        domain_pattern = PATTERNS["domain"][which]
        while at != -1:
            start = at
            while start > done and (text[start - 1] in EMAIL_LOCAL_ASCII or (not text[start - 1].isascii() and _email_local(text[start - 1]))):
                start -= 1  # the ASCII test inline: a call a character was a third of an e-mail's cost
            while start < at and not _word_boundary(text, start):  # a leading \b: not from inside a word or a quote
                start += 1
            domain = domain_pattern.match(text, at + 1)
            if start < at and domain:
                spans.append((start, domain.end(), "EMAIL"))
                done = domain.end()
            at = text.find("@", max(done, at + 1))
        return spans

    def _numbers(self, text: str, which: bool, runs: list[tuple[int, int]], taken: list) -> list[tuple[int, int, str]]:
        """SSN, card, IPv4 and NANP phone patterns only around the digit runs (a match cannot
        reach outside its run but for a '(' before it and the character after it that decides
        a word boundary); other phones from libphonenumber; each where no earlier kind
        (``taken``, then NUMBER_PRIORITY) took the characters."""
        found: dict[str, list[tuple[int, int]]] = {kind: [] for kind in NUMBER_PRIORITY}
        windows = [(max(0, run_start - 1), min(len(text), run_end + 1), sum(map(text.count, DIGITS, repeat(run_start), repeat(run_end))))
                   for run_start, run_end in runs]  # a '(' before, the boundary after; the run's digits
        for kind in ("SSN", "IP_ADDRESS") + (("PHONE",) if self.nanp else ()):
            pattern, fewest = PATTERNS["nanp" if kind == "PHONE" else kind][which], FEWEST_DIGITS[kind]
            for position, end, digits in windows:
                if digits >= fewest:
                    found[kind] += [match.span() for match in pattern.finditer(text, position, end)]
        for position, end, digits in windows:
            if digits < FEWEST_DIGITS["CREDIT_CARD"]:
                continue
            for start in PATTERNS["card_start"][which].finditer(text, position, end):
                if (card_end := card_at(text, start.start(), end, which)) is not None:
                    found["CREDIT_CARD"].append((start.start(), card_end))
        phone_runs = [run for run, (_, _, digits) in zip(runs, windows) if digits >= MIN_PHONE_DIGITS]
        if phone_runs and (self.phone_regions or "+" in text):
            blanked = _blanked(text, taken)  # an e-mail's or IPv6 address's digits are no phone: don't make libphonenumber read them
            found["PHONE"] = sorted({*found["PHONE"], *self._phones(blanked, phone_runs)})
        candidates = [(start, end, kind) for kind in NUMBER_PRIORITY for start, end in found[kind]]
        if len(candidates) < 2 and not taken:
            return candidates  # the usual case: nothing to resolve
        claimed = Claimed(len(text), taken)
        return [(start, end, kind) for start, end, kind in candidates if claimed.take(start, end)]

    def _phones(self, text: str, runs: list[tuple[int, int]]) -> list[tuple[int, int]]:
        """libphonenumber around each digit run with enough digits for a phone (its matcher
        costs 30-80 us a call: prose around the run only slows it), the run's neighbours in
        the window for the matcher's own boundary checks."""
        spans = set()
        for run_start, run_end in runs:
            low = run_start
            while low and text[low - 1] in LEADING:  # a '+' or '(' may stand a few separators before the digits
                low -= 1
            low, high = max(0, low - 1), min(len(text), run_end + WINDOW_SLACK)
            window = text[low:high]
            passes = [(region, Leniency.VALID) for region in self.phone_regions] + ([("ZZ", Leniency.POSSIBLE)] if "+" in window else [])
            for region, leniency in passes:  # ZZ, no region: only numbers written with + are read
                for match in PhoneNumberMatcher(window, region, leniency=leniency):
                    start, written = _without_unpaired_opening(match.start, match.raw_string)
                    if self._phone_as_written(written, region, leniency):
                        spans.add((low + start, low + match.end))
        return sorted(spans)

    @staticmethod
    def _phone_as_written(written: str, region: str, leniency) -> bool:
        """libphonenumber's match, kept only where it is written as a phone number is."""
        if written.startswith("+"):
            return True
        if written.isdigit() and len(written) < 10:
            return False  # a bare 7-9 digit run is a quantity or a ticket more often than a phone
        if DATE.fullmatch(written):
            return False  # 09.15.2010 is a valid German number, and a date
        if leniency == Leniency.POSSIBLE:
            return False  # only a + number, read in the ZZ pass, is taken on its length alone
        trunk = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
        return not trunk or written.lstrip("(").startswith((trunk, "00"))  # a national number is dialled with its trunk prefix

    @staticmethod
    def _ipv6(text: str, which: bool, taken: list) -> list[tuple[int, int, str]]:
        claimed, spans = Claimed(len(text), taken), []
        for match in PATTERNS["ipv6"][which].finditer(text):
            start, written = match.start(), match.group(0)
            if written.endswith(":") and not written.endswith("::"):
                written = written[:-1]  # '2001:db8::1: blocked'
            try:
                address = ipaddress.IPv6Address(written)
            except ValueError:
                continue
            groups = [group for group in written.split(":") if group]
            if address.is_loopback or address.is_unspecified or (len(groups) < IPV6_MIN_GROUPS and "." not in written):
                continue
            if claimed.take(start, start + len(written)):
                spans.append((start, start + len(written), "IP_ADDRESS"))
        return spans
