"""One shard (an S3 object) through the sanitiser, with its outputs beside each other.

Storage-agnostic: the caller passes how to open the input and an output object, so the
Lambda (S3 streams) and tests (moto) share it.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from dataclasses import dataclass, fields

from openforge_contract.s3_layout import CLEAN_OUTPUT, DUPLICATES_OUTPUT, KEYS_OUTPUT, QUARANTINE_OUTPUT, STATS_OUTPUT, output_key

from .core import JsonlSink, Sanitiser, Settings
from .ranges import RangeLines


class BadRequest(ValueError):
    pass


@dataclass(frozen=True)
class ShardRequest:
    bucket: str
    key: str
    input_prefix: str
    output_bucket: str
    output_prefix: str
    settings: Settings
    byte_range: tuple[int, int] | None = None  # inclusive; lines that start inside it

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
            request = cls(event["bucket"], event["key"], event.get("input_prefix", ""), output["bucket"], output["prefix"],
                          settings_from(event.get("settings") or {}), byte_range)
        except (KeyError, TypeError) as error:
            raise BadRequest(f"shard event is missing {error}: expected bucket, key, output.bucket, output.prefix") from None
        if not request.key.startswith(request.input_prefix):
            raise BadRequest(f"key {request.key} is not under input_prefix {request.input_prefix}")
        return request

    def output_key(self, kind: str) -> str:
        relative = self.key[len(self.input_prefix) :]
        if self.byte_range:
            relative += f".bytes-{self.byte_range[0]:015d}-{self.byte_range[1]:015d}"  # zero-padded: ranges sort in order
        return output_key(self.output_prefix, kind, relative)


def settings_from(values: dict) -> Settings:
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise BadRequest(f"unknown sanitiser setting(s): {', '.join(unknown)} (known: {', '.join(sorted(known))})")
    if "extra_markers" in values:
        values = {**values, "extra_markers": tuple(values["extra_markers"])}
    try:
        return Settings(**values)
    except TypeError as error:
        raise BadRequest(str(error)) from None


def sanitise_shard(request: ShardRequest, open_input: Callable, open_output: Callable[[str], object]) -> dict:
    """Returns the shard's counts (what the Map collects); the full stats go to stats/."""
    sanitiser = Sanitiser(request.settings)
    source = f"s3://{request.bucket}/{request.key}"
    if request.byte_range:
        source += f"#bytes={request.byte_range[0]}-{request.byte_range[1]}"  # line numbers count from the range's first line
    with open_output(request.output_key(CLEAN_OUTPUT)) as clean, open_output(request.output_key(QUARANTINE_OUTPUT)) as quarantine, \
            open_output(request.output_key(DUPLICATES_OUTPUT)) as duplicates:
        with open_input() as stream:
            if request.byte_range:
                stream = io.BufferedReader(RangeLines(stream, *request.byte_range))
            stats = sanitiser.run(stream, source, JsonlSink(clean, quarantine, duplicates))
    with open_output(request.output_key(KEYS_OUTPUT)) as keys:
        keys.write(sanitiser.clean_keys.tobytes())
    with open_output(request.output_key(STATS_OUTPUT)) as out:
        out.write(json.dumps({"source": source, "clean_key": request.output_key(CLEAN_OUTPUT), **stats.to_dict()}).encode())
    if not stats.balanced:
        raise RuntimeError(f"{source}: lines in ({stats.lines_in}) != clean + quarantined + duplicates: a record went missing")
    return {"source": source, "lines_in": stats.lines_in, "clean": stats.clean, "quarantined": stats.quarantined,
            "duplicates": stats.exact_duplicates + stats.near_duplicates, "stats_key": request.output_key(STATS_OUTPUT)}
