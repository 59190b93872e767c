"""Per-field text rules: reserved markers, normalisation, PII. Each returns the new text
and what it found, and each has a cheap test first so clean text costs almost nothing."""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

# Nova's reserved markers (case-sensitive, as Nova matches them).
NOVA_RESERVED_MARKERS = (
    "System:", "SYSTEM:", "User:", "USER:", "Bot:", "BOT:", "Assistant:", "ASSISTANT:", "Thought:",
    "[EOS]", "<image>", "<video>", "<unk>",
)
MARKER_FIXES = ("space", "strip", "quarantine")

QUOTES = {"\u201c": '"', "\u201d": '"', "\u201e": '"', "\u2033": '"', "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u2032": "'"}
INVISIBLE = dict.fromkeys("\u200b\u200c\u200d\u2060\ufeff", "")  # zero-width characters
SPACES = dict.fromkeys("\u00a0\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000", " ")
UNICODE_FIXES = {**QUOTES, **INVISIBLE, **SPACES}
# translate() looks every character up in a dict (~8 us for a paragraph); finding which of
# these characters occur and replacing just those (no replacement is itself one) is C-speed.
FIXABLE = re.compile("[" + re.escape("".join(UNICODE_FIXES)) + "]")
TRAILING_SPACE = re.compile(r"[ \t]+(?=\n)")

EMAIL = r"(?P<EMAIL>\b[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b)"
SSN = r"(?P<SSN>\b(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}\b)"
CARD = r"(?P<CREDIT_CARD>\b\d(?:[ -]?\d){12,18}\b)"
PHONE = r"(?P<PHONE>(?<![\w+])(?:\+\d{1,3}[ .-]?)?(?:\(\d{3}\)|\d{3})[ .-]\d{3}[ .-]\d{4}\b)"
IPV4 = r"(?P<IP_ADDRESS>\b(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\b)"
EMAIL_LOCAL = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")
EMAIL_DOMAIN = re.compile(r"[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}\b")
NUMERIC_PII = re.compile("|".join((SSN, CARD, PHONE, IPV4)))
NUMERIC_TRIGGER = re.compile(r"\d[\d .()-]{5,}\d")  # no numeric PII without a run like this
# The same two for ASCII text, where they match exactly the same (\d, \w and \b reduce to
# ASCII) but test a character against a bitmap instead of looking it up in Unicode's tables.
ASCII_NUMERIC_PII = re.compile(NUMERIC_PII.pattern, re.ASCII)
ASCII_NUMERIC_TRIGGER = re.compile(NUMERIC_TRIGGER.pattern, re.ASCII)
DIGITS = "0123456789"  # ten substring tests (memchr) beat one regex scan of text without digits
NON_ASCII_DIGIT = re.compile(r"[^\D0-9]")  # a decimal digit of any script but ASCII's: \d above reads them all


def has_digit(text: str) -> bool:
    return any(map(text.__contains__, DIGITS)) or (not text.isascii() and NON_ASCII_DIGIT.search(text) is not None)
RULES = frozenset({"markers", "pii", "normalise"})


def _is_word(char: str) -> bool:
    return char.isalnum() or char == "_"


def _word_boundary(text: str, index: int) -> bool:
    before = index > 0 and _is_word(text[index - 1])
    return before != (index < len(text) and _is_word(text[index]))


def luhn_valid(digits: str) -> bool:
    total, parity = 0, len(digits) % 2
    for index, char in enumerate(digits):
        digit = int(char)
        if index % 2 == parity:
            digit = digit * 2 - 9 if digit > 4 else digit * 2
        total += digit
    return total % 10 == 0


class Findings:
    """What the rules found in one record (plain dicts: a Counter costs more to create than
    most records cost to clean)."""

    __slots__ = ("markers", "pii", "normalised")

    def __init__(self):
        self.markers: defaultdict[str, int] = defaultdict(int)
        self.pii: defaultdict[str, int] = defaultdict(int)
        self.normalised = 0

    def __eq__(self, other) -> bool:
        return isinstance(other, Findings) and (self.markers, self.pii, self.normalised) == (other.markers, other.pii, other.normalised)

    def __repr__(self) -> str:
        return f"Findings(markers={dict(self.markers)}, pii={dict(self.pii)}, normalised={self.normalised})"


class Rules:
    def __init__(self, *, marker_fix: str = "space", extra_markers: Iterable[str] = (), scrub_pii: bool = True, normalise: bool = True,
                 comprehend=None):
        if marker_fix not in MARKER_FIXES:
            raise ValueError(f"marker_fix must be one of {', '.join(MARKER_FIXES)}, got {marker_fix!r}")
        self.marker_fix, self.scrub_pii, self.normalise, self.comprehend = marker_fix, scrub_pii, normalise, comprehend
        self.markers = tuple(dict.fromkeys([*NOVA_RESERVED_MARKERS, *(m for m in extra_markers if m)]))
        self._markers = re.compile("|".join(re.escape(m) for m in sorted(self.markers, key=len, reverse=True)))

    def apply(self, text: str, findings: Findings, rules: frozenset = RULES) -> str:
        """The cleaned text. ``rules`` narrows which rules can apply (the prefilter knows).
        With marker_fix='quarantine' markers are only counted."""
        if self.normalise and not text.isascii():  # first: removing an invisible character can reveal a marker
            text = self._unicode(text, findings)
        if "markers" in rules and any(map(text.__contains__, self.markers)):  # substring tests beat one big regex
            text = self._markers.sub(lambda m: self._fix_marker(m.group(0), findings), text)
        if self.scrub_pii and "pii" in rules:
            if "@" in text:
                text = self._scrub_emails(text, findings)
            if has_digit(text):
                text = self._scrub_numbers(text, findings)
        if self.comprehend is not None:
            text = self.comprehend(text, findings)
        if self.normalise:  # last: it also tidies what removing a tag left behind
            text = self._tidy(text, findings)
        return text

    @staticmethod
    def _unicode(text: str, findings: Findings) -> str:
        cleaned = text
        for char in set(FIXABLE.findall(text)):
            cleaned = cleaned.replace(char, UNICODE_FIXES[char])
        cleaned = unicodedata.normalize("NFC", cleaned)
        if cleaned != text:
            findings.normalised += 1
        return cleaned

    @staticmethod
    def _tidy(text: str, findings: Findings) -> str:
        original = text
        if "\r" in text:
            text = text.replace("\r\n", "\n").replace("\r", "\n")
        if " \n" in text or "\t\n" in text:
            text = TRAILING_SPACE.sub("", text)
        if text[:1].isspace() or text[-1:].isspace():
            text = text.strip()
        if text != original:
            findings.normalised += 1
        return text

    def _fix_marker(self, marker: str, findings: Findings) -> str:
        findings.markers[marker] += 1
        if self.marker_fix == "quarantine":
            return marker
        if self.marker_fix == "space" and marker.endswith(":"):
            return marker[:-1] + " :"  # the seed's fix: "System:" -> "System :"
        return ""  # tags like <image> or [EOS], and every marker with marker_fix='strip'

    @staticmethod
    def _scrub_emails(text: str, findings: Findings) -> str:
        """Anchored on each '@' (a regex starting at every word would backtrack on all text)."""
        pieces, done, at = [], 0, text.find("@")
        while at != -1:
            start = at
            while start > done and text[start - 1] in EMAIL_LOCAL:
                start -= 1
            while start < at and not _word_boundary(text, start):  # the regex's leading \b
                start += 1
            domain = EMAIL_DOMAIN.match(text, at + 1)
            if start < at and domain:
                pieces += [text[done:start], "[EMAIL]"]
                findings.pii["EMAIL"] += 1
                done = domain.end()
            at = text.find("@", max(done, at + 1))
        return "".join(pieces) + text[done:] if pieces else text

    def _scrub_numbers(self, text: str, findings: Findings) -> str:
        """Same result as ``NUMERIC_PII.sub`` over the whole text, but the regex only runs
        around the digit runs the trigger found, so prose costs nothing. A match cannot
        reach outside its run, except a leading '+' or '(' (6 characters of slack) and the
        one character after that decides a word boundary."""
        trigger, numeric_pii = (ASCII_NUMERIC_TRIGGER, ASCII_NUMERIC_PII) if text.isascii() else (NUMERIC_TRIGGER, NUMERIC_PII)
        pieces, done = [], 0
        for run in trigger.finditer(text):
            position, end = max(done, run.start() - 6), min(len(text), run.end() + 1)
            while (match := numeric_pii.search(text, position, end)) is not None:
                pieces += [text[done : match.start()], self._scrub(match, findings)]
                done = position = match.end()
        return "".join(pieces) + text[done:] if pieces else text

    @staticmethod
    def _scrub(match: re.Match, findings: Findings) -> str:
        kind = match.lastgroup
        if kind == "CREDIT_CARD" and not luhn_valid(re.sub(r"\D", "", match.group(0))):
            return match.group(0)  # a long number that is not a card
        findings.pii[kind] += 1
        return f"[{kind}]"
