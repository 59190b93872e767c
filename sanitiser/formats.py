"""Turn one JSONL record in any accepted format into a list of chat messages.

Accepted formats (one record per line):
- ``bedrock-conversation-2024`` (Nova): ``{"schemaVersion": ..., "system": [{"text": ...}],
  "messages": [{"role": "user", "content": [{"text": ...}]}, ...]}``
- OpenAI-style ``{"messages": [{"role": "system|user|assistant", "content": "..."}]}``
- ``{"input": "...", "output": "..."}`` (one user turn, one assistant turn)

Every format becomes ``[{"role": ..., "content": str}, ...]``: an optional system message,
then user/assistant turns that alternate, starting with user and ending with assistant.

What a valid record is, for the sanitiser and the trainer alike (both read records through
``parse_line`` or the same checks): at most ``MAX_RECORD_BYTES`` bytes, JSON nested at most
``MAX_DEPTH`` deep, no key twice in one object, and an accepted format. Fields a format
does not know are allowed here; the sanitiser drops them from what it writes
(sanitiser/records.py), so training reads only the recognised ones.
"""
from __future__ import annotations

import json
from typing import Any

FORMATS = ("bedrock-conversation-2024", "messages", "input-output")
BEDROCK_SCHEMA = "bedrock-conversation-2024"
BEDROCK_KEYS = frozenset({"schemaVersion", "system", "messages"})
MAX_RECORD_BYTES = 2 * 1024 * 1024  # one line, without its newline
MAX_DEPTH = 64  # objects and lists inside one another; the formats themselves need 5
Message = dict[str, str]


class FormatError(ValueError):
    """Why a record is not in an accepted format (the caller adds file and line)."""

    reason = "invalid_structure"  # the sanitiser's quarantine reason


class DuplicateKeyError(FormatError):
    reason = "duplicate_key"


class TooDeepError(FormatError):
    reason = "too_deep"


class TooLongError(FormatError):
    reason = "line_too_long"


def too_long(length: int, limit: int = MAX_RECORD_BYTES) -> TooLongError:
    return TooLongError(f"the record is {length} bytes, over the limit of {limit}")


def too_deep(limit: int = MAX_DEPTH) -> TooDeepError:
    return TooDeepError(f"the record is nested more than {limit} levels deep")


def duplicate_key(key: str) -> DuplicateKeyError:
    return DuplicateKeyError(f"the key {key!r} appears twice in one object (a parser keeps only one of them)")


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    record = dict(pairs)
    if len(record) != len(pairs):
        seen: set[str] = set()
        raise duplicate_key(next(key for key, _ in pairs if key in seen or seen.add(key)))
    return record


def strict_loads(line: str | bytes) -> Any:
    """JSON as the trainer reads it: a duplicate key or nesting past ``MAX_DEPTH`` is a
    FormatError, never a silently kept last value or a RecursionError."""
    try:
        record = json.loads(line, object_pairs_hook=_unique_keys)
    except RecursionError:
        raise too_deep() from None
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise FormatError(f"not valid JSON ({error})") from None
    if depth_over(record, MAX_DEPTH):
        raise too_deep()
    return record


def depth_over(value: Any, limit: int) -> bool:
    """Whether objects and lists nest more than ``limit`` deep (iterative: no recursion)."""
    level = [value]
    for _ in range(limit):
        level = [child for node in level if isinstance(node, (dict, list))
                 for child in (node.values() if isinstance(node, dict) else node) if isinstance(child, (dict, list))]
        if not level:
            return False
    return True


def detect_format(record: dict[str, Any]) -> str:
    if "input" in record or "output" in record:
        return "input-output"
    if "messages" in record:
        msgs = record["messages"]
        bedrock = "schemaVersion" in record or (
            isinstance(msgs, list) and msgs and isinstance(msgs[0], dict) and isinstance(msgs[0].get("content"), list)
        )
        return "bedrock-conversation-2024" if bedrock else "messages"
    raise FormatError(f"unknown format: expected one of {', '.join(FORMATS)} (keys 'messages' or 'input'/'output'), got keys {sorted(record)[:8]}")


def to_messages(record: Any) -> list[Message]:
    if not isinstance(record, dict):
        raise FormatError(f"record must be a JSON object, got {type(record).__name__}")
    fmt = detect_format(record)
    if fmt == "input-output":
        messages = [{"role": "user", "content": _text(record, "input")}, {"role": "assistant", "content": _text(record, "output")}]
    elif fmt == "messages":
        messages = [_openai_message(m, i) for i, m in enumerate(_list(record, "messages"))]
    else:
        messages = _bedrock_messages(record)
    _check_turns(messages)
    return messages


def parse_line(line: str | bytes) -> list[Message]:
    """One JSONL line as training reads it (a FormatError says why not; the caller adds file
    and line)."""
    size = len(line.rstrip("\r\n").encode("utf-8")) if isinstance(line, str) else len(line.rstrip(b"\r\n"))
    if size > MAX_RECORD_BYTES:
        raise too_long(size)
    return to_messages(strict_loads(line))


def _text(record: dict, key: str) -> str:
    value = record.get(key)
    if not isinstance(value, str) or not value.strip():
        raise FormatError(f"'{key}' must be a non-empty string")
    return value


def _list(record: dict, key: str) -> list:
    value = record.get(key)
    if not isinstance(value, list) or not value:
        raise FormatError(f"'{key}' must be a non-empty list")
    return value


def _openai_message(message: Any, index: int) -> Message:
    if not isinstance(message, dict):
        raise FormatError(f"messages[{index}] must be an object")
    role, content = message.get("role"), message.get("content")
    if role not in ("system", "user", "assistant"):
        raise FormatError(f"messages[{index}].role must be system, user or assistant, got {role!r}")
    if not isinstance(content, str) or not content.strip():
        raise FormatError(f"messages[{index}].content must be a non-empty string")
    return {"role": role, "content": content}


def _bedrock_messages(record: dict) -> list[Message]:
    messages: list[Message] = []
    if record.get("schemaVersion", BEDROCK_SCHEMA) != BEDROCK_SCHEMA:
        raise FormatError(f"'schemaVersion' must be {BEDROCK_SCHEMA!r}, got {record['schemaVersion']!r}")
    system = record.get("system")
    if system is not None:
        if not isinstance(system, list) or not all(isinstance(s, dict) and isinstance(s.get("text"), str) for s in system):
            raise FormatError("'system' must be a list of {\"text\": ...} blocks")
        text = "\n".join(s["text"] for s in system)
        if text.strip():
            messages.append({"role": "system", "content": text})
    for index, message in enumerate(_list(record, "messages")):
        if not isinstance(message, dict) or message.get("role") not in ("user", "assistant"):
            raise FormatError(f"messages[{index}].role must be user or assistant")
        blocks = message.get("content")
        if not isinstance(blocks, list) or not blocks:
            raise FormatError(f"messages[{index}].content must be a non-empty list of blocks")
        texts = []
        for block in blocks:
            if not isinstance(block, dict) or not isinstance(block.get("text"), str):
                raise FormatError(f"messages[{index}].content: only text blocks are supported, got {_block_kind(block)}")
            texts.append(block["text"])
        text = "\n".join(texts)
        if not text.strip():
            raise FormatError(f"messages[{index}].content is empty")
        messages.append({"role": message["role"], "content": text})
    return messages


def _block_kind(block: Any) -> str:
    return ", ".join(sorted(block)) if isinstance(block, dict) else type(block).__name__


def _check_turns(messages: list[Message]) -> None:
    turns = messages[1:] if messages and messages[0]["role"] == "system" else messages
    if any(m["role"] == "system" for m in turns):
        raise FormatError("a system message may only come first")
    for index, message in enumerate(turns):
        expected = "user" if index % 2 == 0 else "assistant"
        if message["role"] != expected:
            raise FormatError(f"turn {index + 1} is {message['role']!r} but should be {expected!r}: turns alternate user/assistant, starting with user")
    if not turns or turns[-1]["role"] != "assistant":
        raise FormatError("the conversation must end with an assistant turn (nothing to learn otherwise)")


def text_slots(record: dict) -> list[tuple[Any, Any]]:
    """Every text field of a validated record as (container, key), so it can be rewritten
    in place and the record keeps its own format."""
    fmt = detect_format(record)
    if fmt == "input-output":
        return [(record, "input"), (record, "output")]
    if fmt == "messages":
        return [(message, "content") for message in record["messages"]]
    slots = [(block, "text") for block in record.get("system") or []]
    for message in record["messages"]:
        slots += [(block, "text") for block in message["content"]]
    return slots
