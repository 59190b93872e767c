"""The (role, text) pairs of a record in the common, plainly valid shapes, with as little
Python as possible; ``None`` sends the record down the full validator in formats.py,
which also words the error. A property test checks both agree whenever this answers."""
from __future__ import annotations

from functools import lru_cache
from operator import itemgetter

from .formats import BEDROCK_SCHEMA

ROLE, CONTENT, TEXT = itemgetter("role"), itemgetter("content"), itemgetter("text")


def _text(value: str) -> bool:
    """Non-empty and not only whitespace (isspace stops at the first other character)."""
    return bool(value) and not value.isspace()


@lru_cache(maxsize=4096)
def _valid_roles(roles: tuple) -> bool:
    turns = roles[1:] if roles and roles[0] == "system" else roles
    return (
        len(turns) >= 2
        and len(turns) % 2 == 0
        and all(role == ("user" if index % 2 == 0 else "assistant") for index, role in enumerate(turns))
    )


def fast_pairs(record) -> list[tuple[str, str]] | None:
    if type(record) is not dict:
        return None
    if "input" in record or "output" in record:
        question, answer = record.get("input"), record.get("output")
        if type(question) is str and type(answer) is str and _text(question) and _text(answer):
            return [("user", question), ("assistant", answer)]
        return None
    messages = record.get("messages")
    if type(messages) is not list or not messages or type(messages[0]) is not dict:
        return None
    if "schemaVersion" in record or type(messages[0].get("content")) is list:
        return _bedrock(record, messages)
    try:
        roles = tuple(map(ROLE, messages))
        contents = list(map(CONTENT, messages))
        # str.isspace raises TypeError on anything but a string, so this is the type check too.
        if not _valid_roles(roles) or not all(contents) or any(map(str.isspace, contents)):
            return None
    except (TypeError, KeyError):
        return None
    return list(zip(roles, contents))


def _bedrock(record: dict, messages: list) -> list[tuple[str, str]] | None:
    pairs = []
    if record.get("schemaVersion", BEDROCK_SCHEMA) != BEDROCK_SCHEMA:
        return None
    system = record.get("system")
    if system is not None:
        if type(system) is not list:
            return None
        if system:
            text = _joined_texts(system)
            if text is None:
                return None
            pairs.append(("system", text))
    try:
        for message in messages:
            role = message["role"]
            if role not in ("user", "assistant") or type(message["content"]) is not list:
                return None
            text = _joined_texts(message["content"])
            if text is None:
                return None
            pairs.append((role, text))
    except (TypeError, KeyError):
        return None
    if not _valid_roles(tuple(map(itemgetter(0), pairs))):
        return None
    return pairs


def _joined_texts(blocks: list) -> str | None:
    """The texts of non-empty text blocks joined by newlines, or None. An empty block is
    refused: it would leave a stray newline for normalisation to fix."""
    if len(blocks) == 1:  # the usual shape, without building a list
        block = blocks[0]
        text = block.get("text") if type(block) is dict else None
        return text if type(text) is str and text and not text.isspace() else None
    try:
        texts = list(map(TEXT, blocks))  # TypeError or KeyError unless every block is an object with "text"
        joined = "\n".join(texts)  # TypeError unless every text is a string
    except (TypeError, KeyError):
        return None
    if not texts or not all(texts) or any(map(str.isspace, texts)):
        return None
    return joined
