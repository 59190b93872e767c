import io

import orjson
import pytest

from sanitiser.core import Sanitiser, Settings


class ListSink:
    def __init__(self):
        self.clean_lines, self.quarantined, self.duplicates = [], [], []

    def clean(self, data: bytes) -> None:
        self.clean_lines.extend(data.split(b"\n"))  # a sink gets one or more lines at once

    def quarantine(self, record: dict) -> None:
        self.quarantined.append(record)

    def duplicate(self, record: dict) -> None:
        self.duplicates.append(record)


def sanitise(data: bytes, settings: Settings = Settings(), source: str = "s3://bucket/data.jsonl", sanitiser: Sanitiser | None = None):
    sink = ListSink()
    sanitiser = sanitiser or Sanitiser(settings)
    stats = sanitiser.run(io.BytesIO(data), source, sink)
    return stats, sink


def jsonl(*records) -> bytes:
    return b"".join(orjson.dumps(r) + b"\n" for r in records)


@pytest.fixture
def run():
    return sanitise
