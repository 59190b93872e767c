"""PII in a text, found on its view (pii_view.py) and replaced by a placeholder of its kind.

What is caught (docs/sanitisation.md has the table and the benchmark's figures):
- EMAIL: local parts of letters and digits of any script and ``. _ % + - '``; domains of
  any script's labels (IDN) or punycode; '＠' and full-width addresses through the view.
- PHONE: libphonenumber (Google's; the ``phonenumbers`` package) reads each region of
  ``phone_regions``: numbers valid in that region's plan, written any way it accepts, and
  any number written with a + country code; a national number only with its trunk prefix
  (0 in GB and DE) and never a date. NANP regions (country code 1) take every
  number of a possible length grouped as NANP numbers are written, since fictional and test
  ranges (555-0100 ...) fill support data; a bare run of fewer than 10 digits is never read
  as a phone (quantities, tickets), a bare run of 10 always is.
- CREDIT_CARD: 13-19 digits starting 2-6 that pass Luhn, contiguous or in the layouts cards
  are printed in (groups of four; Amex 4-6-5; Diners 4-6-4) with any run of up to three
  separators (space, '.', '/', '-') between groups.
- SSN: area-group-serial with separators (``123-45-6789``, ``123 45 6789``), never-issued
  numbers left alone.
- IP_ADDRESS: IPv4 dotted quads; IPv6 in every form ``ipaddress`` accepts (compressed,
  embedded IPv4) except the loopback and unspecified addresses.
Names and street addresses need a model: ``comprehend_pii``.

Each rule has a gate as cheap as a substring test ('@', a digit run, ':' between hex
digits) and ``could_change`` is exactly those gates, so the prefilter and the text gate can
skip what no rule would touch.
"""
from __future__ import annotations

import ipaddress
import re

import phonenumbers
from phonenumbers import Leniency, PhoneNumberMatcher

from .pii_view import View

KINDS = ("EMAIL", "PHONE", "CREDIT_CARD", "SSN", "IP_ADDRESS")
NUMBER_PRIORITY = ("SSN", "CREDIT_CARD", "IP_ADDRESS", "PHONE")  # where two kinds claim the same digits

DIGITS = "0123456789"
DIGIT_RUN = r"[0-9][0-9 .()/+-]{5,}[0-9]"  # no numeric PII without a run like this (in the view every digit is ASCII)
IPV6_GATE = r":[0-9A-Fa-f]{0,4}:"  # no IPv6 address without two colons with at most four hex digits between
EMAIL_LOCAL_ASCII = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-'_")
EMAIL_DOMAIN = r"[\w-]+(?:\.[\w-]+)*\.(?:[^\W\d_]{2,}|xn--[\w-]+)\b"
SEPARATORS = r"[ ./-]{1,3}"
SSN = rf"\b(?!000|666|9\d\d)\d{{3}}(?P<s1>{SEPARATORS})(?!00)\d{{2}}(?P=s1)(?!0000)\d{{4}}\b"
CARD = r"\b[2-6](?:[ ./-]{0,3}\d){12,18}\b"
IPV4 = r"\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b"
IPV6 = r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:(?:\d{1,3}\.){3}\d{1,3}|[0-9A-Fa-f]{0,4})(?![\w:])"
CARD_LAYOUTS = ((4, 6, 5), (4, 6, 4))  # Amex, Diners; everything else is printed in fours
NANP_COUNTRY_CODE = 1
# A NANP number matched on its length alone must also be grouped as NANP numbers are
# written: (1) 555 123 4567, 555-0134, 5551234567 (not 2024-118734, an order number).
NANP_GROUPS = frozenset({(10,), (11,), (3, 3, 4), (1, 3, 3, 4), (3, 4), (1, 10)})
DIGIT_GROUP = re.compile(r"\d+")
DATE = re.compile(r"\d{1,2}([./-])\d{1,2}\1(?:\d{4}|\d{2})|\d{4}([./-])\d{1,2}\2\d{1,2}")  # libphonenumber skips only slashed dates
OPENING = {"(": ")", "[": "]"}


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
            (("digit_run", DIGIT_RUN), ("ipv6_gate", IPV6_GATE), ("domain", EMAIL_DOMAIN), ("SSN", SSN), ("CREDIT_CARD", CARD),
             ("IP_ADDRESS", IPV4), ("ipv6", IPV6))}
NON_DIGIT = re.compile(r"\D")
SEPARATOR_RUN = re.compile(SEPARATORS)


def luhn_valid(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for index, char in enumerate(digits):
        digit = int(char)
        if index % 2 == parity:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


def card_number(written: str) -> bool:
    digits = NON_DIGIT.sub("", written)
    if not 13 <= len(digits) <= 19 or not luhn_valid(digits):
        return False
    groups = tuple(map(len, SEPARATOR_RUN.split(written)))
    return len(groups) == 1 or groups in CARD_LAYOUTS or (all(size == 4 for size in groups[:-1]) and groups[-1] <= 4)


def has_digit(text: str) -> bool:
    return any(map(text.__contains__, DIGITS))  # ten substring tests (memchr) beat one regex scan of prose


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _word_boundary(text: str, index: int) -> bool:
    before = index > 0 and _is_word(text[index - 1])
    return before != (index < len(text) and _is_word(text[index]))


def _email_local(char: str) -> bool:
    return char in EMAIL_LOCAL_ASCII or (not char.isascii() and char.isalnum())


class PiiScrubber:
    def __init__(self, phone_regions: tuple[str, ...] = ("US",)):
        unknown = [region for region in phone_regions if region not in phonenumbers.SUPPORTED_REGIONS]
        if unknown:
            raise ValueError(f"phone_regions: {', '.join(map(repr, unknown))} not a region libphonenumber knows (ISO 3166 codes such as US, GB, DE)")
        # NANP: length is the only test worth making (see the module's docstring).
        self.phone_passes = [(region, Leniency.POSSIBLE if phonenumbers.country_code_for_region(region) == NANP_COUNTRY_CODE else Leniency.VALID)
                             for region in dict.fromkeys(phone_regions)]

    @staticmethod
    def could_change(text: str) -> bool:
        """Whether ``scrub`` could change ``text``: exactly the gates it opens."""
        view = View(text).text
        ascii_only = view.isascii()
        return ("@" in view or (has_digit(view) and PATTERNS["digit_run"][not ascii_only].search(view) is not None)
                or (":" in view and PATTERNS["ipv6_gate"][not ascii_only].search(view) is not None))

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
            while start > done and _email_local(text[start - 1]):
                start -= 1
            while start < at and not _word_boundary(text, start):  # a leading \b: not from inside a word or a quote
                start += 1
            domain = domain_pattern.match(text, at + 1)
            if start < at and domain:
                spans.append((start, domain.end(), "EMAIL"))
                done = domain.end()
            at = text.find("@", max(done, at + 1))
        return spans

    def _numbers(self, text: str, which: bool, runs: list[tuple[int, int]], taken: list) -> list[tuple[int, int, str]]:
        """SSN, card and IPv4 patterns only around the digit runs (a match cannot reach
        outside its run but for the character after it that decides a word boundary);
        phones from libphonenumber over the whole text; each where no earlier kind (``taken``)
        took the characters."""
        found: dict[str, list[tuple[int, int]]] = {kind: [] for kind in NUMBER_PRIORITY}
        for kind in ("SSN", "CREDIT_CARD", "IP_ADDRESS"):
            pattern = PATTERNS[kind][which]
            for run_start, run_end in runs:
                position, end = run_start, min(len(text), run_end + 1)
                while (match := pattern.search(text, position, end)) is not None:
                    if kind != "CREDIT_CARD" or (card_number(match.group(0)) and text[match.start() - 1 : match.start()] != "+"):  # +49151...: a phone
                        found[kind].append(match.span())
                        position = match.end()
                    else:  # not a card from here: one may start at the next digit group
                        position = match.start() + 1
        found["PHONE"] = self._phones(text)
        spans = list(taken)
        for kind in NUMBER_PRIORITY:
            for start, end in found[kind]:
                if not any(start < other_end and other_start < end for other_start, other_end, _ in spans):
                    spans.append((start, end, kind))
        return spans[len(taken):]

    def _phones(self, text: str) -> list[tuple[int, int]]:
        spans = set()
        passes = self.phone_passes + ([("ZZ", Leniency.POSSIBLE)] if "+" in text else [])  # ZZ: only numbers written with +
        for region, leniency in passes:
            for match in PhoneNumberMatcher(text, region, leniency=leniency):
                start, written = _without_unpaired_opening(match.start, match.raw_string)
                if self._phone_as_written(written, region, leniency):
                    spans.add((start, match.end))
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
            return tuple(map(len, DIGIT_GROUP.findall(written))) in NANP_GROUPS
        trunk = phonenumbers.PhoneMetadata.metadata_for_region(region).national_prefix
        return not trunk or written.lstrip("(").startswith((trunk, "00"))  # a national number is dialled with its trunk prefix

    @staticmethod
    def _ipv6(text: str, which: bool, taken: list) -> list[tuple[int, int, str]]:
        spans = []
        for match in PATTERNS["ipv6"][which].finditer(text):
            try:
                address = ipaddress.IPv6Address(match.group(0))
            except ValueError:
                continue
            if address.is_loopback or address.is_unspecified:
                continue
            start, end = match.span()
            if not any(start < other_end and other_start < end for other_start, other_end, _ in taken):
                spans.append((start, end, "IP_ADDRESS"))
        return spans

