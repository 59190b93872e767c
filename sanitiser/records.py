"""What a clean record may carry: only the fields training reads, never a key twice.

A clean line is written back as the bytes it came in with only when those bytes hold
exactly the recognised fields of its format, each key once; a record with other fields is
re-serialised from its recognised fields alone (``recognised``) and the fields left out
are counted by name (``unknown_fields``); a record with a key twice is quarantined
(``duplicate_key``), as is one nested deeper than ``MAX_DEPTH``.

Both are found with one C-level ``bytes.count`` a line (``quotes_agree``): a JSON line
holds two quotes per string (keys included) plus one per escaped quote inside a string,
and every string of the recognised fields is one of them. So when the quotes are twice the
recognised fields' strings (``recognised_strings``), or one more, the line holds no other
key, neither an unknown field nor a key twice. Where they disagree (escaped quotes in the
text, other fields, a key twice) the slow path looks: the unknown fields by name, key ends
counted (a quote, optional whitespace, a colon), and only if those disagree with the keys
of the parsed record does the exact check (``formats.strict_loads``, ``json.loads`` with a
pairs hook) run on that one line.
"""
from __future__ import annotations

import re
from collections import deque
from itertools import compress, repeat
from operator import floordiv, is_not, itemgetter, ne
from typing import Any

from .fastpath import fast_pairs
from .formats import BEDROCK_KEYS, BEDROCK_SCHEMA, MAX_DEPTH, FormatError, depth_over, detect_format, strict_loads, to_messages, too_deep

KEY_END = re.compile(rb'"\s*:')
CONTENT = itemgetter("content")


def decline_unplain(lines: list[bytes], records: list, pairs: list) -> None:
    """Sets ``pairs[i]`` to None (the slow path looks) where the fast path accepted line i
    but its quotes say it may hold other keys than its recognised fields: C-level maps."""
    valid = list(compress(range(len(pairs)), map(is_not, pairs, repeat(None))))
    quote_pairs = map(floordiv, map(bytes.count, map(lines.__getitem__, valid), repeat(b'"')), repeat(2))
    declined = compress(valid, map(ne, map(recognised_strings, map(records.__getitem__, valid)), quote_pairs))
    deque(map(pairs.__setitem__, declined, repeat(None)), maxlen=0)


def validated(line: bytes, record: Any) -> tuple:
    """(record, its pairs, None, None) for a parsed line whose record may be written as it
    came in; (its recognised fields as a new record, pairs, None, the fields left out) for
    one with other fields; (None, None, (quarantine reason, detail), None) otherwise."""
    try:
        pairs = fast_pairs(record) or [(m["role"], m["content"]) for m in to_messages(record)]
        dropped, error = inspect(line, record)
        if error is not None:
            raise error
    except FormatError as error:
        return None, None, (error.reason, str(error)), None
    return (record, pairs, None, None) if not dropped else (recognised(record), pairs, None, dropped)


def recognised_strings(record: dict) -> int:
    """How many strings (keys and values) the recognised fields of a validated record hold."""
    if "input" in record or "output" in record:
        return 4
    messages = record["messages"]
    if "schemaVersion" not in record and type(messages[0]["content"]) is str:
        return 1 + 4 * len(messages)
    return (2 * ("schemaVersion" in record) + ("system" in record) + 2 * len(record.get("system") or ())
            + 1 + 3 * len(messages) + 2 * sum(map(len, map(CONTENT, messages))))


def quotes_agree(line: bytes, strings: int) -> bool:
    """The line holds no string but the ``strings`` of its recognised fields (see above)."""
    return line.count(b'"') // 2 == strings


def keys_agree(line: bytes, keys: int) -> bool:
    """No key twice in a line whose record has ``keys`` keys: each key ends with a quote, any
    JSON whitespace and a colon, as does an escaped quote before a colon inside a string (which
    only adds), so a count equal to ``keys`` leaves no room for a repeated key. (A plain '":'
    count is no such bound: a key written '"input" :' escapes it.)"""
    return len(KEY_END.findall(line)) == keys


def inspect(line: bytes, record: dict) -> tuple[list[str], FormatError | None]:
    """(the unknown fields of a validated record, the error that quarantines it or None):
    the slow, exact checks, for a line whose quotes disagree."""
    if quotes_agree(line, recognised_strings(record)):
        return [], None
    dropped = unknown_fields(record)
    if dropped and depth_over(record, MAX_DEPTH):
        return dropped, too_deep()
    if keys_agree(line, count_keys(record)):
        return dropped, None
    try:
        strict_loads(line)
    except FormatError as error:
        return dropped, error
    return dropped, None


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
    """The names of the fields ``recognised`` leaves out, e.g. ``meta``, ``messages[].name``, as
    the report counts them: a key name is data too (it may hold an e-mail or a card number), so a
    name that is not a plain identifier is counted as OTHER_FIELD."""
    return [_reported(name) for name in _unknown_fields(record)]


OTHER_FIELD = "(other field names)"
_PLAIN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,39}")


def _reported(path: str) -> str:
    *parents, name = path.rsplit(".", 1) if "[]." in path else (path,)
    return path if _PLAIN_NAME.fullmatch(name) else ".".join([*parents, OTHER_FIELD])


def _unknown_fields(record: dict) -> list[str]:
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

