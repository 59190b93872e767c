"""The streaming pass: every line in ends up clean, quarantined (with a reason) or recorded
as a duplicate of an earlier line; ``Stats.balanced`` checks that nothing went missing.

Fast path: a line is parsed once (orjson) and written out as the very bytes it came in
with unless a rule changed a text or it holds other fields than its format's (records.py):
only those are serialised again, from their recognised fields.

Long because the chunk pass is one pipeline of batched steps (parse, prefilter, text gate,
rules, dedup, write) whose order the fast path's guarantees depend on; its pieces that stand
alone already live in their own modules (reader, prefilter, textgate, rules, dedup).
"""
from __future__ import annotations

import base64
import unicodedata
from array import array
from bisect import bisect_left
from collections import Counter, deque
from dataclasses import dataclass, field, replace
from itertools import chain, compress, filterfalse, repeat
from operator import add, is_, is_not, itemgetter, ne, not_, or_
from typing import BinaryIO, Protocol

import orjson

from .comprehend import ComprehendScrubber
from .dedup import ExactDuplicates, NearDuplicates, content_key, content_keys
from .fastpath import fast_pairs
from .formats import MAX_RECORD_BYTES, text_slots, to_messages, too_deep, too_long
from .prefilter import ALL_RULES, Prefilter
from .reader import KEEP_OF_LONG_LINE, Line
from .records import decline_unplain, validated
from .rules import Findings, Rules
from .settings import check_sizes
from .textgate import TextGate

REASONS = {
    "empty_line": "the line is blank",
    "line_too_long": "the line is longer than max_line_bytes",
    "invalid_utf8": "the line is not valid UTF-8",
    "invalid_json": "the line is not valid JSON",
    "truncated_last_line": "the last line has no newline and is not valid JSON (the file was cut short)",
    "invalid_structure": "valid JSON but not a usable conversation in an accepted format",
    "duplicate_key": "a key appears twice in one object: which value is meant is ambiguous",
    "too_deep": "objects and lists nested deeper than the trainer reads (formats.MAX_DEPTH)",
    "reserved_marker": "a reserved chat marker in the text (marker_fix=quarantine)",
    "empty_after_cleaning": "a text field is empty once cleaned",
}
QUARANTINE_RAW_BYTES = 64 * 1024
LINE_BITS = 40  # up to a trillion lines per source  # a quarantine record keeps at most this much of the raw line


class Sink(Protocol):
    def clean(self, data: bytes) -> None:
        """One or more clean lines, joined by newlines, without a final newline."""
    def quarantine(self, record: dict) -> None: ...
    def duplicate(self, record: dict) -> None: ...


class JsonlSink:
    """A Sink over three writable streams (files, S3 object writers): clean lines as they
    are, quarantine and duplicate records as one JSON object per line."""

    def __init__(self, clean, quarantine, duplicates):
        self._clean, self._quarantine, self._duplicates = clean, quarantine, duplicates

    def clean(self, data: bytes) -> None:
        self._clean.write(data + b"\n")

    def quarantine(self, record: dict) -> None:
        self._quarantine.write(orjson.dumps(record) + b"\n")

    def duplicate(self, record: dict) -> None:
        self._duplicates.write(orjson.dumps(record) + b"\n")


@dataclass
class Stats:
    lines_in: int = 0
    clean: int = 0
    quarantined: int = 0
    exact_duplicates: int = 0
    near_duplicates: int = 0
    rewritten: int = 0  # clean records whose text a rule changed
    bytes_in: int = 0
    reasons: Counter = field(default_factory=Counter)
    markers: Counter = field(default_factory=Counter)
    pii: Counter = field(default_factory=Counter)
    normalised_fields: int = 0
    dropped_fields: Counter = field(default_factory=Counter)  # fields training does not read, left out of clean records

    @property
    def balanced(self) -> bool:
        return self.lines_in == self.clean + self.quarantined + self.exact_duplicates + self.near_duplicates

    def add(self, other: Stats) -> Stats:
        for name in ("lines_in", "clean", "quarantined", "exact_duplicates", "near_duplicates", "rewritten", "bytes_in", "normalised_fields"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        for name in ("reasons", "markers", "pii", "dropped_fields"):
            getattr(self, name).update(getattr(other, name))
        return self

    def to_dict(self) -> dict:
        return {
            "lines_in": self.lines_in, "clean": self.clean, "quarantined": self.quarantined,
            "exact_duplicates": self.exact_duplicates, "near_duplicates": self.near_duplicates,
            "rewritten": self.rewritten, "bytes_in": self.bytes_in, "normalised_fields": self.normalised_fields,
            "quarantine_reasons": dict(sorted(self.reasons.items())), "reserved_markers": dict(sorted(self.markers.items())),
            "pii_scrubbed": dict(sorted(self.pii.items())), "dropped_fields": dict(sorted(self.dropped_fields.items())), "balanced": self.balanced,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Stats:
        stats = cls(**{k: data[k] for k in ("lines_in", "clean", "quarantined", "exact_duplicates", "near_duplicates", "rewritten", "bytes_in", "normalised_fields")})
        stats.reasons.update(data.get("quarantine_reasons", {}))
        stats.markers.update(data.get("reserved_markers", {}))
        stats.pii.update(data.get("pii_scrubbed", {}))
        stats.dropped_fields.update(data.get("dropped_fields", {}))
        return stats


@dataclass(frozen=True)
class Settings:
    marker_fix: str = "space"
    extra_markers: tuple[str, ...] = ()
    scrub_pii: bool = True
    normalise: bool = True
    exact_dedup: bool = True
    near_dedup: bool = True
    near_threshold: float = 0.8
    max_line_bytes: int = MAX_RECORD_BYTES  # the trainer refuses longer records
    chunk_bytes: int = 128 * 1024  # raw bytes a stage works on at once: small enough that its objects stay in cache
    fast_path: bool = True  # False: every line through every rule (the reference the tests compare with)
    comprehend_pii: bool = False  # also Amazon Comprehend's DetectPiiEntities on every text field
    comprehend_language: str = "en"
    phone_regions: tuple[str, ...] = ("US",)  # national phone formats read (a + country code is read in any)

    def __post_init__(self):
        check_sizes(self)  # sanitiser/settings.py: a 0-byte chunk read nothing and passed


def _settled_unicode(pairs: list[tuple[str, str]]) -> bool:
    """The texts of a non-ASCII line are ones no rule would change: the non-ASCII ones
    already NFC and none with whitespace at either end (a character the PII view changes,
    such as another script's digit, the prefilter has flagged already)."""
    texts = list(map(TEXT_OF, pairs))
    non_ascii = list(filterfalse(str.isascii, texts))
    return (all(map(unicodedata.is_normalized, repeat("NFC"), non_ascii))
            and not any(map(str.isspace, map(FIRST, texts))) and not any(map(str.isspace, map(LAST, texts))))


def _scatter(target: list, indexes, values) -> None:
    """target[index] = value for each pair, as one C-level map (deque with maxlen 0 just runs it)."""
    deque(map(target.__setitem__, indexes, values), maxlen=0)


TEXT_OF, FIRST, LAST = itemgetter(1), itemgetter(slice(None, 1)), itemgetter(slice(-1, None))
NORMALISE = frozenset({"normalise"})  # a rewritten text is always tidied


def _line_rules(data, prefiltered: frozenset) -> frozenset:
    """The rules a declined line runs: the prefilter's and tidying, and for a non-ASCII line
    every rule (the text gate still narrows each text): the prefilter sees bytes, while NFC
    can make a marker ('[MAS\u212aK]', KELVIN SIGN, is '[MASK]') and the PII rules read the
    text's view (pii_view.py)."""
    return prefiltered | NORMALISE if type(data) is not bytes or data.isascii() else ALL_RULES


def _parsed(lines: list[bytes]) -> list:
    """Each line parsed, None where it is not JSON; one C-level map until a line fails."""
    records: list = []
    while len(records) < len(lines):
        try:
            records.extend(map(orjson.loads, lines[len(records):] if records else lines))
        except orjson.JSONDecodeError:
            records.append(None)  # extend kept what it parsed before the bad line
    return records


class Sanitiser:
    def __init__(self, settings: Settings = Settings(), *, comprehend_client=None):
        if settings.comprehend_pii:  # Comprehend must see every record: no line may skip the rules
            settings = replace(settings, fast_path=False)
        self.settings = settings
        comprehend = ComprehendScrubber(comprehend_client, language=settings.comprehend_language) if settings.comprehend_pii else None
        self.rules = Rules(marker_fix=settings.marker_fix, extra_markers=settings.extra_markers, scrub_pii=settings.scrub_pii,
                           normalise=settings.normalise, comprehend=comprehend, phone_regions=settings.phone_regions)
        self.exact = ExactDuplicates() if settings.exact_dedup else None
        self.near = NearDuplicates(settings.near_threshold) if settings.near_dedup else None
        self.prefilter = Prefilter(settings.extra_markers)
        self.gate = TextGate(self.rules)
        self.sources: list[str] = []  # duplicates are found across every source this instance ran over

    def run(self, stream: BinaryIO, source: str, sink: Sink) -> Stats:
        """Sanitise one source (a file or an S3 object stream) into ``sink``."""
        self.sources.append(source)
        stats = Stats()
        self.clean_keys = array("Q")  # (content key, input line) of each clean record, in output order
        for lines, flagged, terminated_last in self._chunks(stream, stats):
            self._chunk(lines, flagged, terminated_last, stats.lines_in, source, sink, stats)
            stats.lines_in += len(lines)
        return stats

    def _chunk(self, lines: list, flagged: dict, terminated_last: bool, before: int, source: str, sink: Sink, stats: Stats) -> None:
        """One chunk, a stage at a time over all its lines (C-level maps, not a Python loop
        per line): the fast path, the rules for the lines it declined, then deduplication
        in line order, so the first occurrence is kept whichever path a line took."""
        count = len(lines)
        keys: list = [None] * count  # content key of every line still in the running
        pairs: list = [None] * count  # its (role, text) pairs, for near-duplicate detection
        slow = self._fast_path(lines, flagged, keys, pairs)
        rewritten: dict[int, tuple[bytes, Findings, bool, list | None]] = {}
        last = count - 1
        slow_lines = [self._line(lines[index], before + index + 1, index < last or terminated_last) for index in slow]
        line_rules = [_line_rules(lines[index], flagged.get(index, ALL_RULES)) for index in slow]
        for index, cleaned in zip(slow, self._clean_all(slow_lines, line_rules, source, sink, stats)):
            if cleaned is not None:
                rewritten[index], pairs[index], keys[index] = cleaned

        running = list(compress(range(count), map(is_not, keys, repeat(None))))
        numbers = list(map(add, running, repeat(before + 1)))
        packed = list(map(or_, numbers, repeat((len(self.sources) - 1) << LINE_BITS)))  # source and line in one int
        duplicates: list[tuple[int, dict]] = []
        if self.exact is not None:
            firsts = self.exact.firsts(map(keys.__getitem__, running), packed)
            for position in compress(range(len(running)), map(ne, firsts, packed)):
                duplicates.append((position, {"source": source, "line": numbers[position], "kind": "exact", "duplicate_of": self._location(firsts[position])}))
            stats.exact_duplicates += len(duplicates)
        if self.near is not None:
            removed = {position for position, _ in duplicates}
            candidates = list(filterfalse(removed.__contains__, range(len(running))))
            found = self.near.find(list(map(pairs.__getitem__, map(running.__getitem__, candidates))), list(map(packed.__getitem__, candidates)))
            for at, (first, similarity) in found.items():
                position = candidates[at]
                duplicates.append((position, {"source": source, "line": numbers[position], "kind": "near", "similarity": round(similarity, 3),
                                              "duplicate_of": self._location(first)}))
            stats.near_duplicates += len(found)
        if duplicates:
            duplicates.sort(key=itemgetter(0))
            for _, record in duplicates:
                sink.duplicate(record)
            gone = {position for position, _ in duplicates}
            kept = list(filterfalse(gone.__contains__, range(len(running))))
            running, numbers = list(map(running.__getitem__, kept)), list(map(numbers.__getitem__, kept))

        clean = list(map(lines.__getitem__, running))
        for index, (data, findings, changed, dropped) in rewritten.items():  # a few a chunk: found by binary search in running
            position = bisect_left(running, index)
            if position < len(running) and running[position] == index:
                clean[position] = data
                self._count(findings, changed, dropped, stats)
        stats.clean += len(clean)
        self.clean_keys.extend(chain.from_iterable(zip(map(keys.__getitem__, running), numbers)))
        if clean:
            sink.clean(b"\n".join(clean))

    def _fast_path(self, lines: list, flagged: dict, keys: list, pairs: list) -> list[int]:
        """Fills in key and pairs of every line no rule can change (parsed, validated and
        written as the bytes it came in as); returns the indexes of the others, in order."""
        count = len(lines)
        if not self.settings.fast_path or type(lines[0]) is not bytes:  # a cut-short over-long line comes alone
            return list(range(count))
        eligible = bytearray(b"\x01") * count
        for index in flagged:
            eligible[index] = 0
        if max(map(len, lines)) > self.settings.max_line_bytes:
            for index, data in enumerate(lines):
                if len(data) > self.settings.max_line_bytes:
                    eligible[index] = 0
        taken = list(compress(range(count), eligible))
        taken_lines = list(map(lines.__getitem__, taken))
        taken_records = _parsed(taken_lines)
        taken_pairs = list(map(fast_pairs, taken_records))  # None where the full validator must look
        decline_unplain(taken_lines, taken_records, taken_pairs)  # other fields or a key twice: the slow path looks
        for position in compress(range(len(taken)), map(not_, map(bytes.isascii, taken_lines))):
            if taken_pairs[position] is not None and not _settled_unicode(taken_pairs[position]):
                taken_pairs[position] = None
        _scatter(keys, taken, content_keys(taken_pairs))
        _scatter(pairs, taken, taken_pairs)
        declined = [taken[position] for position in compress(range(len(taken)), map(is_, taken_pairs, repeat(None)))]
        _scatter(keys, declined, repeat(None))
        return sorted(chain(compress(range(count), map(not_, eligible)), declined))

    @property
    def _kept(self) -> int:
        """Bytes kept of an over-long line: fewer than the limit, so Line.too_long holds."""
        return min(KEEP_OF_LONG_LINE, self.settings.max_line_bytes)

    def _line(self, data, number: int, terminated: bool) -> Line:
        if type(data) is Line:  # an over-long line, already cut short by the reader
            return Line(number, data.data, data.length, data.terminated)
        if len(data) > self.settings.max_line_bytes:
            return Line(number, data[:self._kept], len(data), terminated)
        return Line(number, data, len(data), terminated)

    def _chunks(self, stream: BinaryIO, stats: Stats):
        """(lines, indexes the prefilter flagged, whether the last line ended with a newline),
        reading ``chunk_bytes`` at a time; a line longer than max_line_bytes is read past in
        pieces and handed on as a cut-short ``Line``."""
        limit, carry = self.settings.max_line_bytes, b""
        while True:
            block = stream.read(self.settings.chunk_bytes)
            stats.bytes_in += len(block)
            data = carry + block
            if not block:
                if data:
                    yield self._split(data, terminated=False)
                return
            cut = data.rfind(b"\n")
            if cut < 0:
                if len(data) > limit:
                    yield [self._skip_long_line(data, stream, stats)], {}, True
                    carry = b""
                else:
                    carry = data
                continue
            carry = data[cut + 1 :]
            yield self._split(data[:cut], terminated=True)
            if len(carry) > limit:
                yield [self._skip_long_line(carry, stream, stats)], {}, True
                carry = b""

    def _split(self, chunk: bytes, terminated: bool):
        lines = chunk.split(b"\n")
        flagged = self.prefilter.flagged(chunk, lines) if self.settings.fast_path else dict.fromkeys(range(len(lines)), ALL_RULES)
        if b"\r" in chunk:  # CRLF files: the carriage return is not part of the record
            lines = [line[:-1] if line.endswith(b"\r") else line for line in lines]
        return lines, flagged, terminated

    def _skip_long_line(self, start: bytes, stream: BinaryIO, stats: Stats) -> Line:
        length, terminated = len(start), False
        while True:
            piece = stream.readline(1 << 20)
            stats.bytes_in += len(piece)
            if not piece:
                break
            if piece.endswith(b"\n"):
                length += len(piece) - 1
                terminated = True
                break
            length += len(piece)
        return Line(0, start[:self._kept], length, terminated)

    def _clean_all(self, lines: list[Line], rules: list[frozenset], source: str, sink: Sink, stats: Stats) -> list:
        """``_clean`` of each line, in order, with one TextGate pass over the texts of all of
        them first, so the rules run only on the texts they could change."""
        parsed = list(map(self._parsed_line, lines))
        slots = [text_slots(record) if failure is None else [] for record, _, failure, _ in parsed]
        texts = [container[key] for container, key in chain.from_iterable(slots)]
        needed = iter(self.gate.rules_needed(texts))
        return [self._clean(line, record_pairs_failure, [(container, key, next(needed)) for container, key in record_slots], source, sink, stats, line_rules)
                for line, record_pairs_failure, record_slots, line_rules in zip(lines, parsed, slots, rules)]

    def _parsed_line(self, line: Line) -> tuple:
        """As records.validated: (record, pairs, None, fields left out) or (None, None, (reason, detail), None)."""
        if line.too_long:
            return None, None, ("line_too_long", str(too_long(line.length, self.settings.max_line_bytes))), None
        if not line.data.strip():
            return None, None, ("empty_line", ""), None
        try:
            record = orjson.loads(line.data)
        except orjson.JSONDecodeError as error:
            return None, None, ("too_deep", str(too_deep())) if "depth limit" in str(error) else self._unparsable(line, error), None
        return validated(line.data, record)

    def _clean(self, line: Line, parsed: tuple, slots: list[tuple], source: str, sink: Sink, stats: Stats,
               rules: frozenset = ALL_RULES) -> tuple[tuple[bytes, Findings, bool, list | None], list, int] | None:
        """Every rule in ``rules`` on the texts of one parsed line, as far as the gate says a
        text needs it (``slots``: container, key, the rules it needs): ((bytes to write,
        findings, whether a rule changed a text, fields left out), pairs, content key), or None
        when the line was quarantined."""
        record, pairs, failure, dropped = parsed
        if failure is not None:
            return self._quarantine(sink, stats, source, line, *failure)
        findings = Findings()
        changed = False
        for container, key, needed in slots:
            if not needed:
                continue
            text = container[key]
            cleaned = self.rules.apply(text, findings, rules & needed)
            if cleaned != text:
                if not cleaned:
                    return self._quarantine(sink, stats, source, line, "empty_after_cleaning", f"'{key}' is empty after cleaning")
                container[key] = cleaned
                changed = True
        if findings.markers and self.settings.marker_fix == "quarantine":
            return self._quarantine(sink, stats, source, line, "reserved_marker", ", ".join(sorted(findings.markers)))
        if changed:  # the texts are the cleaned ones now
            pairs = fast_pairs(record) or [(m["role"], m["content"]) for m in to_messages(record)]
        return (orjson.dumps(record) if changed or dropped else line.data, findings, changed, dropped), pairs, content_key(pairs)

    @staticmethod
    def _count(findings: Findings, changed: bool, dropped: list | None, stats: Stats) -> None:
        """What the rules did to a record that was kept."""
        if findings.markers:
            stats.markers.update(findings.markers)
        if findings.pii:
            stats.pii.update(findings.pii)
        stats.normalised_fields += findings.normalised
        stats.rewritten += changed
        if dropped:
            stats.dropped_fields.update(dropped)

    def _location(self, packed: int) -> dict:
        return {"source": self.sources[packed >> LINE_BITS], "line": packed & ((1 << LINE_BITS) - 1)}

    def _unparsable(self, line: Line, error: Exception) -> tuple[str, str]:
        try:
            line.data.decode("utf-8")
        except UnicodeDecodeError as decode_error:
            return "invalid_utf8", f"byte {decode_error.start}: {decode_error.reason}"
        if not line.terminated:
            return "truncated_last_line", str(error)
        return "invalid_json", str(error)

    def _quarantine(self, sink: Sink, stats: Stats, source: str, line: Line, reason: str, detail: str) -> None:
        """Records the line with its reason; returns None, like every path that writes nothing clean."""
        stats.quarantined += 1
        stats.reasons[reason] += 1
        raw = line.data[:QUARANTINE_RAW_BYTES]
        try:
            kept = {"raw": raw.decode("utf-8")}
        except UnicodeDecodeError:
            kept = {"raw_base64": base64.b64encode(raw).decode()}
        sink.quarantine({"source": source, "line": line.number, "reason": reason, "detail": detail, **kept,
                         "raw_bytes": line.length, "raw_truncated": line.length > len(raw)})
