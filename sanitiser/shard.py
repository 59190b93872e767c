"""One shard (an S3 object) through the sanitiser, with its outputs beside each other.

Storage-agnostic: the caller passes how to open the input and an output object, so the
Lambda (S3 streams) and tests (moto) share it.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from contextlib import closing
from dataclasses import dataclass

from openforge_contract.s3_layout import CLEAN_OUTPUT, DUPLICATES_OUTPUT, KEYS_OUTPUT, QUARANTINE_OUTPUT, STATS_OUTPUT, output_key, shard_name

from .core import JsonlSink, Sanitiser, Settings
from .ranges import RangeLines
from .reader import LeadingBom, LineEndings
from .settings import SettingsError, user_settings

READ_BYTES = 8 * 1024 * 1024  # what one read from the object asks for


class BadRequest(ValueError):
    pass


class BytesUnaccounted(RuntimeError):
    """The sanitiser did not read every byte of its object or range: lines went missing."""


class ObjectChanged(BytesUnaccounted):
    """The object is not the size it was when the shards were planned: it was written to since."""


def byte_accounting(expected: int, accounted: int, what: str) -> dict:
    """The ``bytes`` entry of a shard's stats: the object's or range's size, and what was read of it."""
    return {"what": what, "expected": expected, "accounted": accounted, "balanced": expected == accounted}


def check_bytes(source: str, accounting: dict) -> None:
    if not accounting["balanced"]:
        raise BytesUnaccounted(f"{source}: read {accounting['accounted']:,} bytes of the {accounting['what']}'s {accounting['expected']:,}: "
                               "the rest was never sanitised (the object changed since the plan, or the read stopped early)")


def check_planned(source: str, planned: int | None, seen: int) -> None:
    """Fails before a byte is read when the object is not the size the plan saw: a whole-object
    shard would sanitise a different amount than planned, and the ranges, cut from the planned
    size, would leave out what it grew by (or reach past where it now ends)."""
    if planned is not None and seen != planned:
        change = f"grew by {seen - planned:,}" if seen > planned else f"shrank by {planned - seen:,}"
        raise ObjectChanged(f"{source}: the object is {seen:,} bytes now but was {planned:,} when the shards were planned ({change} bytes): "
                            "it was written to since, so this run would sanitise a different dataset than it planned; nothing of it "
                            "was sanitised. Run again once nothing writes under the input prefix.")


@dataclass(frozen=True)
class ShardRequest:
    bucket: str
    key: str
    input_prefix: str
    output_bucket: str
    output_prefix: str
    settings: Settings
    byte_range: tuple[int, int] | None = None  # inclusive; lines that start inside it
    planned_bytes: int | None = None  # the object's size when the shards were planned (the plan item's object_bytes)

    @property
    def read_from(self) -> int:
        """Where to start reading: one byte early, to see whether a line starts at the range."""
        return max(self.byte_range[0] - 1, 0) if self.byte_range else 0

    @classmethod
    def from_event(cls, event: dict) -> ShardRequest:
        try:
            output = event["output"]
            byte_range = event.get("range")
            if byte_range is not None:
                start, end = (int(v) for v in byte_range)
                if not 0 <= start <= end:
                    raise BadRequest(f"range must be [start, end] with 0 <= start <= end, got {byte_range}")
                byte_range = (start, end)
            planned = event.get("object_bytes")
            if planned is not None and (type(planned) is not int or planned < 0):
                raise BadRequest(f"object_bytes must be the object's size in bytes (a whole number >= 0), got {planned!r}")
            request = cls(event["bucket"], event["key"], event.get("input_prefix", ""), output["bucket"], output["prefix"],
                          settings_from(event.get("settings")), byte_range, planned)
        except (KeyError, TypeError) as error:
            raise BadRequest(f"shard event is missing {error}: expected bucket, key, output.bucket, output.prefix") from None
        if not request.key.startswith(request.input_prefix):
            raise BadRequest(f"key {request.key} is not under input_prefix {request.input_prefix}")
        return request

    def output_key(self, kind: str) -> str:
        return output_key(self.output_prefix, kind, shard_name(self.key[len(self.input_prefix) :], self.byte_range))


def settings_from(values) -> Settings:
    """Only the settings a user may set (sanitiser/settings.py USER_SETTINGS), each checked."""
    try:
        return Settings(**user_settings(values))
    except SettingsError as error:
        raise BadRequest(str(error)) from None


def sanitise_shard(request: ShardRequest, open_input: Callable, open_output: Callable[[str], object]) -> dict:
    """``open_input()`` gives (a stream of the object from ``request.read_from``, the whole
    object's size in bytes). Returns the shard's counts (what the Map collects); the full
    stats go to stats/. Fails, after writing the stats, when a line or a byte went missing."""
    sanitiser = Sanitiser(request.settings)
    source = f"s3://{request.bucket}/{request.key}"
    if request.byte_range:
        source += f"#bytes={request.byte_range[0]}-{request.byte_range[1]}"  # line numbers count from the range's first line
    with open_output(request.output_key(CLEAN_OUTPUT)) as clean, open_output(request.output_key(QUARANTINE_OUTPUT)) as quarantine, \
            open_output(request.output_key(DUPLICATES_OUTPUT)) as duplicates:
        body, object_bytes = open_input()
        with closing(body):
            check_planned(source, request.planned_bytes, object_bytes)
            lines = LineEndings(body)
            ranged = RangeLines(lines, *request.byte_range) if request.byte_range else None
            stream = ranged or lines
            if request.read_from == 0:  # the object's start: a byte order mark there is not data
                stream = bom = LeadingBom(stream)
            stats = sanitiser.run(io.BufferedReader(stream, buffer_size=READ_BYTES), source, JsonlSink(clean, quarantine, duplicates))
    read = stats.bytes_in + (bom.stripped if request.read_from == 0 else 0)
    if ranged is None:
        accounting = byte_accounting(object_bytes, read, "object")
    else:  # an object shorter than the planned range accounts for less than the range
        accounting = byte_accounting(ranged.size, ranged.accounted(read), "range")
        accounting["object_bytes"] = object_bytes
    with open_output(request.output_key(KEYS_OUTPUT)) as keys:
        keys.write(sanitiser.clean_keys.tobytes())
    with open_output(request.output_key(STATS_OUTPUT)) as out:
        out.write(json.dumps({"source": source, "clean_key": request.output_key(CLEAN_OUTPUT), **stats.to_dict(), "bytes": accounting}).encode())
    if not stats.balanced:
        raise RuntimeError(f"{source}: lines in ({stats.lines_in}) != clean + quarantined + duplicates: a record went missing")
    check_bytes(source, accounting)
    return {"source": source, "lines_in": stats.lines_in, "clean": stats.clean, "quarantined": stats.quarantined,
            "duplicates": stats.exact_duplicates + stats.near_duplicates, "stats_key": request.output_key(STATS_OUTPUT)}
