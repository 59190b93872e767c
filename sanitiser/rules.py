"""Per-field text rules: reserved markers, normalisation, PII (pii.py). Each returns the new
text and what it found, and each has a cheap test first so clean text costs almost nothing."""
from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable

from .pii import PiiScrubber

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

RULES = frozenset({"markers", "pii", "normalise"})


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
                 comprehend=None, phone_regions: tuple[str, ...] = ("US",)):
        if marker_fix not in MARKER_FIXES:
            raise ValueError(f"marker_fix must be one of {', '.join(MARKER_FIXES)}, got {marker_fix!r}")
        self.marker_fix, self.scrub_pii, self.normalise, self.comprehend = marker_fix, scrub_pii, normalise, comprehend
        self.pii = PiiScrubber(phone_regions)
        self.markers = tuple(dict.fromkeys([*NOVA_RESERVED_MARKERS, *(m for m in extra_markers if m)]))
        self._markers = re.compile("|".join(re.escape(m) for m in sorted(self.markers, key=len, reverse=True)))

    def apply(self, text: str, findings: Findings, rules: frozenset = RULES) -> str:
        """The cleaned text. ``rules`` narrows which rules can apply (the prefilter knows).
        With marker_fix='quarantine' markers are only counted."""
        if self.normalise and not text.isascii():  # first: removing an invisible character can reveal a marker
            text = self._unicode(text, findings)
        while "markers" in rules and any(map(text.__contains__, self.markers)):  # substring tests beat one big regex
            removed = []
            fixed = self._markers.sub(lambda m: self._fix_marker(m.group(0), findings, removed), text)
            if fixed == text:
                break
            # Again until none is left ('<ima<image>ge>' leaves '<image>'), and NFC again: a
            # removed tag may have stood between a letter and its combining mark.
            text = self._unicode(fixed, findings) if self.normalise and not fixed.isascii() else fixed
            if not removed:
                break  # only a removal can join a new marker ("System:" -> "System :" makes none; an extra marker ":" would loop)
            rules = RULES  # and every rule after: a marker removed can join what they look for ('john<image>@example.com')
        if self.scrub_pii and "pii" in rules:
            text = self.pii.scrub(text, findings)
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

    def _fix_marker(self, marker: str, findings: Findings, removed: list) -> str:
        findings.markers[marker] += 1
        if self.marker_fix == "quarantine":
            return marker
        if self.marker_fix == "space" and marker.endswith(":"):
            return marker[:-1] + " :"  # the seed's fix: "System:" -> "System :"
        removed.append(marker)
        return ""  # tags like <image> or [EOS], and every marker with marker_fix='strip'
