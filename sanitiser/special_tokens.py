"""The base model's special tokens, read from its ``tokenizer.json`` (no tokenizer library:
the Lambda carries none), to be treated as reserved markers.

A file that is not what a Hugging Face tokenizer writes (not JSON, not UTF-8, the wrong
shape) is refused with a ``TokenizerError`` naming the file and what is wrong with it,
rather than a traceback or, worse, an empty list of tokens that would let them all through.
"""
from __future__ import annotations

import json
from pathlib import Path

TOKENIZER_FILE = "tokenizer.json"


class TokenizerError(ValueError):
    """A tokenizer.json that cannot give the special tokens; the message names the file."""


def special_tokens(model: str | Path) -> list[str]:
    """The contents of the tokens marked ``special`` in ``added_tokens``; ``model`` is a model
    folder holding tokenizer.json, or that file itself."""
    path = Path(model)
    if path.is_dir():
        path = path / TOKENIZER_FILE
    if not path.is_file():
        raise FileNotFoundError(f"no {TOKENIZER_FILE} in {model}" if path.name == TOKENIZER_FILE and path.parent.is_dir()
                                else f"no such tokenizer file or model folder: {model}")
    try:
        document = json.loads(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as error:
        raise TokenizerError(f"{path}: not UTF-8 text (byte {error.start}: {error.reason}); give the model's tokenizer.json") from None
    except json.JSONDecodeError as error:
        raise TokenizerError(f"{path}:{error.lineno}:{error.colno}: not valid JSON ({error.msg}); give the model's tokenizer.json") from None
    return _special(path, document)


def _special(path: Path, document) -> list[str]:
    if not isinstance(document, dict):
        raise TokenizerError(f"{path}: the top level is a JSON {_kind(document)}, not an object with 'added_tokens'")
    added = document.get("added_tokens", [])
    if not isinstance(added, list):
        raise TokenizerError(f"{path}: 'added_tokens' is a JSON {_kind(added)}, not a list of tokens")
    tokens = []
    for index, token in enumerate(added):
        where = f"{path}: added_tokens[{index}]"
        if not isinstance(token, dict):
            raise TokenizerError(f"{where} is a JSON {_kind(token)}, not an object with 'content' and 'special'")
        special, content = token.get("special", False), token.get("content")
        if not isinstance(special, bool):
            raise TokenizerError(f"{where}: 'special' is a JSON {_kind(special)}, not true or false")
        if special and not isinstance(content, str):
            raise TokenizerError(f"{where}: 'content' is {'missing' if content is None else 'a JSON ' + _kind(content)}, not a string")
        if special and content:
            tokens.append(content)
    return tokens


def _kind(value) -> str:
    names = {dict: "object", list: "list", str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
    return names.get(type(value), type(value).__name__)
