"""What a clean record may carry: only the fields training reads, never a key twice.

A clean line is written back as the bytes it came in with only when those bytes hold
exactly the recognised fields of its format (``exact_keys``) and no key twice; a record
with other fields is re-serialised from its recognised fields alone (``recognised``) and
the fields dropped are counted by name (``unknown_fields``); a record with a key twice is
quarantined (``duplicate_key``), as one nested deeper than ``MAX_DEPTH`` is.

Duplicate keys vanish when a record is parsed (the last one wins), so they are found on the
raw bytes: every key ends with a quote and a colon, so ``line.count(b'":')`` is at least the
number of keys in the line, plus any escaped quote before a colon inside a string. When it
equals the keys the parsed record has, no key came twice (and the cheap count is a C-level
map over the whole chunk); otherwise a regex allowing whitespace before the colon counts
again, and only if that still disagrees does the exact check (``json.loads`` with a pairs
hook) run on that one line.
"""
from __future__ import annotations

import re
from itertools import chain
from operator import itemgetter
from typing import Any

from .formats import BEDROCK_SCHEMA, MAX_DEPTH, FormatError, depth_over, detect_format, strict_loads, too_deep

BEDROCK_KEYS = frozenset({"schemaVersion", "system", "messages"})
KEY_END = re.compile(rb'"\s*:')
CONTENT = itemgetter("content")


def exact_keys(record: dict) -> int | None:
    """The number of keys of a validated record that holds only its format's recognised
    fields, or None when it holds others (or a schemaVersion other than Bedrock's)."""
    if "input" in record or "output" in record:
        return 2 if len(record) == 2 else None
    messages = record["messages"]
    if type(messages[0].get("content")) is not list and "schemaVersion" not in record:
        return 1 + 2 * len(messages) if len(record) == 1 and set(map(len, messages)) == {2} else None
    if not BEDROCK_KEYS.issuperset(record) or record.get("schemaVersion", BEDROCK_SCHEMA) != BEDROCK_SCHEMA:
        return None
    system = record.get("system") or []
    blocks = list(chain(system, chain.from_iterable(map(CONTENT, messages))))
    if set(map(len, messages)) != {2} or (blocks and set(map(len, blocks)) != {1}):
        return None
    return len(record) + 2 * len(messages) + len(blocks)


def keys_agree(line: bytes, keys: int) -> bool:
    """Whether the raw line cannot hold more keys than ``keys`` (see the module's note)."""
    return line.count(b'":') == keys or len(KEY_END.findall(line)) == keys


def inspect(line: bytes, record: dict) -> tuple[int | None, FormatError | None]:
    """(exact_keys of the record, the error that quarantines it or None), for a record the
    fast path declined: the slow, exact checks."""
    keys = exact_keys(record)
    if keys is None:
        if depth_over(record, MAX_DEPTH):
            return None, too_deep()
        if keys_agree(line, count_keys(record)):
            return None, None
    elif keys_agree(line, keys):
        return keys, None
    try:
        strict_loads(line)
    except FormatError as error:
        return keys, error
    return keys, None


def count_keys(value: Any) -> int:
    """Keys in every object of a parsed value (iterative; depth is checked first)."""
    count, level = 0, [value]
    while level:
        count += sum(len(node) for node in level if type(node) is dict)
        level = [child for node in level if type(node) in (dict, list)
                 for child in (node.values() if type(node) is dict else node) if type(child) in (dict, list)]
    return count


def recognised(record: dict) -> dict:
    """A new record of the recognised fields only, in the format's own shape."""
    fmt = detect_format(record)
    if fmt == "input-output":
        return {"input": record["input"], "output": record["output"]}
    if fmt == "messages":
        return {"messages": [{"role": m["role"], "content": m["content"]} for m in record["messages"]]}
    kept: dict = {"schemaVersion": BEDROCK_SCHEMA} if "schemaVersion" in record else {}
    if record.get("system") is not None:
        kept["system"] = [{"text": block["text"]} for block in record["system"]]
    kept["messages"] = [{"role": m["role"], "content": [{"text": block["text"]} for block in m["content"]]} for m in record["messages"]]
    return kept


def unknown_fields(record: dict) -> list[str]:
    """The names of the fields ``recognised`` leaves out, e.g. ``meta``, ``messages[].name``."""
    fmt = detect_format(record)
    if fmt == "input-output":
        return sorted(set(record) - {"input", "output"})
    if fmt == "messages":
        return sorted(set(record) - {"messages"}) + [f"messages[].{key}" for m in record["messages"] for key in sorted(set(m) - {"role", "content"})]
    dropped = sorted(set(record) - BEDROCK_KEYS)
    dropped += [f"system[].{key}" for block in record.get("system") or [] for key in sorted(set(block) - {"text"})]
    for message in record["messages"]:
        dropped += [f"messages[].{key}" for key in sorted(set(message) - {"role", "content"})]
        dropped += [f"messages[].content[].{key}" for block in message["content"] for key in sorted(set(block) - {"text"})]
    return dropped

