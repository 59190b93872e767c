"""Every botocore request checked the way the AWS service checks it, before moto sees it.

Moto accepts requests AWS refuses, and botocore's own validator checks only types and
required members. This checker walks a request's parameters against the operation's input
shape in botocore's service model — structures, lists, maps (keys and values) — and applies
each shape's constraints as the service does:

- `pattern`: the whole value must match, not a part of it (SageMaker refused the job name
  'health_and_personal_care_inter_title-2018-09-06-05-57-49-470', whose start matches
  `^[a-zA-Z0-9](-*[a-zA-Z0-9])*`: "Member must satisfy regular expression pattern",
  https://github.com/aws/sagemaker-python-sdk/issues/384). The patterns are
  Java regular expressions; `java_pattern` translates them for the `regex` package (see
  there). A pattern that cannot be translated raises `UntranslatablePattern` naming the
  shape: it is never skipped.
- `min`/`max`: length of a string (characters) or blob (bytes), number of items of a list,
  number of entries of a map, value of an integer/long/float/double.
- `enum`: the value must be one of the listed strings.
- botocore's own type and required-member checks, run here too for clients that turn
  them off (moto's Step Functions interpreter does).
- the documented rules the models cannot express, from `openforge_lambda.aws_rules`.

`install()` wraps `BaseClient._make_api_call`, so every client in the process is checked:
the tests', the Lambda handlers', the CLI's and the ones moto's Step Functions interpreter
creates for `aws-sdk:` tasks. A refused request raises the service's ValidationException
(as AWS would) and is recorded for the test that made it (`recording()`).
"""
from __future__ import annotations

import functools
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import regex
from botocore.client import BaseClient
from botocore.model import OperationModel, Shape
from botocore.validate import ParamValidationDecorator, ParamValidator

from openforge_lambda import aws_rules

SHOWN_VALUE_CHARS = 120
SHOWN_ENUM_VALUES = 12


class UntranslatablePattern(Exception):
    """A model pattern this checker cannot turn into a Python regular expression."""


@dataclass(frozen=True)
class Refusal:
    """One member of one request that AWS would refuse."""

    service: str
    operation: str
    path: str
    value: Any
    rule: str

    def __str__(self) -> str:
        return f"{self.service} {self.operation}: {self.path or '(request)'} = {shown(self.value)}: {self.rule}"


def shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_VALUE_CHARS else f"{text[:SHOWN_VALUE_CHARS]}… ({len(text)} chars)"


# --- Java patterns -----------------------------------------------------------------------

# Java's predefined and POSIX classes are US-ASCII (no UNICODE_CHARACTER_CLASS flag), while
# Python's \w, \d, \s and the regex package's \p{Alnum} are Unicode: spell them out.
JAVA_ASCII_CLASSES = {
    "w": "a-zA-Z_0-9", "d": "0-9", "s": " \\t\\n\\x0B\\f\\r",
    "p{Lower}": "a-z", "p{Upper}": "A-Z", "p{ASCII}": "\\x00-\\x7F", "p{Alpha}": "a-zA-Z", "p{Digit}": "0-9",
    "p{Alnum}": "a-zA-Z0-9", "p{Punct}": "\\x21-\\x2F\\x3A-\\x40\\x5B-\\x60\\x7B-\\x7E", "p{Graph}": "\\x21-\\x7E",
    "p{Print}": "\\x20-\\x7E", "p{Blank}": " \\t", "p{Cntrl}": "\\x00-\\x1F\\x7F", "p{XDigit}": "0-9a-fA-F",
    "p{Space}": " \\t\\n\\x0B\\f\\r",
    # Java-only names: LD is Character.isLetterOrDigit, all is any character.
    "p{LD}": "\\p{L}\\p{Nd}", "p{all}": "\\x00-\\U0010FFFF",
}
JAVA_NEGATED = {"W": "w", "D": "d", "S": "s"} | {f"P{{{name[2:-1]}}}": name for name in JAVA_ASCII_CLASSES if name.startswith("p{")}
# Without DOTALL, Java's '.' excludes every line terminator, Python's only '\n'.
JAVA_DOT = "[^\\n\\r\\u0085\\u2028\\u2029]"
JAVA_WORD_BOUNDARY = "(?:(?<=[a-zA-Z0-9_])(?![a-zA-Z0-9_])|(?<![a-zA-Z0-9_])(?=[a-zA-Z0-9_]))"
HIGH_SURROGATE, LOW_SURROGATE = range(0xD800, 0xDC00), range(0xDC00, 0xE000)


def _escape_at(pattern: str, index: int) -> tuple[str, int]:
    """The escape starting at pattern[index] == '\\' (without the backslash) and its end."""
    if index + 1 >= len(pattern):
        raise UntranslatablePattern("trailing backslash")
    letter = pattern[index + 1]
    if letter in "pPx" and index + 2 < len(pattern) and pattern[index + 2] == "{":
        end = pattern.find("}", index + 2)
        if end < 0:
            raise UntranslatablePattern(f"unclosed \\{letter}{{")
        return pattern[index + 1:end + 1], end + 1
    if letter == "u":
        return pattern[index + 1:index + 6], index + 6
    return letter, index + 2


def java_pattern(pattern: str) -> str:
    """`pattern` (Java syntax, as AWS validates it) for the `regex` package in V1 mode,
    which shares Java's nested classes and `&&` intersection. Translated: ASCII-only
    predefined and POSIX classes; UTF-16 surrogate pairs (\\uD800\\uDC00) to the code point
    they encode; \\x{...}; \\z; '.' without DOTALL; \\b; literal '|', '~' and a '-' after a
    class escape inside [...] (set operators or ranges in V1, literals in Java)."""
    out: list[str] = []
    depth = 0  # inside how many [...]
    dotall = "(?s" in pattern
    i = 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\":
            escape, i = _escape_at(pattern, i)
            if escape.startswith("u") and int(escape[1:], 16) in HIGH_SURROGATE and pattern.startswith("\\u", i):
                low = int(pattern[i + 2:i + 6], 16)
                if low in LOW_SURROGATE:
                    high = int(escape[1:], 16)
                    out.append(f"\\U{0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00):08X}")
                    i += 6
                    continue
            if escape.startswith("x{"):
                out.append(f"\\U{int(escape[2:-1], 16):08X}")
            elif escape == "z":
                out.append("\\Z")
            elif escape == "b" and depth == 0:
                out.append(JAVA_WORD_BOUNDARY)
            elif escape in JAVA_ASCII_CLASSES or escape in JAVA_NEGATED:
                negated = escape in JAVA_NEGATED
                members = JAVA_ASCII_CLASSES[JAVA_NEGATED.get(escape, escape)]
                out.append(f"[^{members}]" if negated else members if depth else f"[{members}]")
                if depth and pattern.startswith("-", i) and not pattern.startswith("-]", i):
                    out.append("\\-")  # Java: a '-' after a class escape is a literal
                    i += 1
            else:
                out.append("\\" + escape)
            continue
        if char == "[":
            depth += 1
            out.append(char)
            if pattern.startswith("^", i + 1):
                out.append("^")
                i += 1
        elif char == "]" and depth:
            depth -= 1
            out.append(char)
        elif depth and char in "|~":
            out.append("\\" + char)
        elif char == "." and not depth and not dotall:
            out.append(JAVA_DOT)
        else:
            out.append(char)
        i += 1
    return "".join(out)


@functools.cache
def compiled(pattern: str, shape_name: str) -> regex.Pattern:
    try:
        return regex.compile(java_pattern(pattern), regex.V1)
    except (regex.error, UntranslatablePattern, ValueError) as error:
        raise UntranslatablePattern(f"shape {shape_name}: pattern {pattern!r} cannot be checked: {error}") from error


# --- the walk ------------------------------------------------------------------------------

NUMBER_TYPES = frozenset({"integer", "long", "float", "double"})


def _shape_refusals(shape: Shape, value: Any, path: str) -> Iterator[tuple[str, Any, str]]:
    """(path, value, rule) for every constraint of `shape` and its members that `value` breaks."""
    kind, meta = shape.type_name, shape.metadata
    if kind == "structure":
        if isinstance(value, Mapping) and not getattr(shape, "is_document_type", False):
            members = shape.members
            for name, member_value in value.items():
                if name in members:
                    yield from _shape_refusals(members[name], member_value, f"{path}.{name}" if path else name)
        return
    if kind == "list":
        if isinstance(value, (list, tuple)):
            yield from _range(shape, len(value), path, value, "items")
            for index, item in enumerate(value):
                yield from _shape_refusals(shape.member, item, f"{path}[{index}]")
        return
    if kind == "map":
        if isinstance(value, Mapping):
            yield from _range(shape, len(value), path, value, "entries")
            for key, item in value.items():
                yield from _shape_refusals(shape.key, key, f"{path} (key {key!r})")
                yield from _shape_refusals(shape.value, item, f"{path}[{key!r}]")
        return
    if kind == "string":
        if not isinstance(value, str):
            return
        yield from _range(shape, len(value), path, value, "characters")
        if "enum" in meta and value not in meta["enum"]:
            listed = ", ".join(meta["enum"][:SHOWN_ENUM_VALUES]) + (f", … ({len(meta['enum'])} values)" if len(meta["enum"]) > SHOWN_ENUM_VALUES else "")
            yield path, value, f"must be one of shape {shape.name}'s enum values: {listed}"
        if "pattern" in meta and compiled(meta["pattern"], shape.name).fullmatch(value) is None:
            yield path, value, f"must match shape {shape.name}'s pattern {meta['pattern']}"
        return
    if kind == "blob":
        if isinstance(value, (bytes, bytearray)):
            yield from _range(shape, len(value), path, value, "bytes")
        elif isinstance(value, str):
            yield from _range(shape, len(value.encode("utf-8")), path, value, "bytes")
        return
    if kind in NUMBER_TYPES and isinstance(value, (int, float)) and not isinstance(value, bool):
        if "min" in meta and value < meta["min"]:
            yield path, value, f"at least {meta['min']} (shape {shape.name})"
        if "max" in meta and value > meta["max"]:
            yield path, value, f"at most {meta['max']} (shape {shape.name})"


def _range(shape: Shape, size: int, path: str, value: Any, unit: str) -> Iterator[tuple[str, Any, str]]:
    meta = shape.metadata
    if "min" in meta and size < meta["min"]:
        yield path, value, f"at least {meta['min']} {unit}, has {size} (shape {shape.name})"
    if "max" in meta and size > meta["max"]:
        yield path, value, f"at most {meta['max']} {unit}, has {size} (shape {shape.name})"


def refusals(operation: OperationModel, params: Mapping[str, Any], *, botocore_types: bool = True) -> list[Refusal]:
    """Every reason AWS would refuse `params` for `operation` (empty: it would accept them)."""
    service, name = operation.service_model.service_name, operation.name
    found = [Refusal(service, name, path, value, rule) for path, value, rule in _shape_refusals(operation.input_shape, params, "")] \
        if operation.input_shape is not None else []
    found += [Refusal(service, name, v.path, v.value, f"{v.rule} ({v.source})") for v in aws_rules.violations(service, name, params)]
    if botocore_types and operation.input_shape is not None:
        report = ParamValidator().validate(params, operation.input_shape)
        if report.has_errors():
            found.append(Refusal(service, name, "", "(see rule)", report.generate_report()))
    return found


# --- the hook --------------------------------------------------------------------------------

class Recording:
    """The refusals of one test; shared by the threads its requests run on (moto's Step
    Functions executions run in threads of their own)."""

    def __init__(self) -> None:
        self.refused: list[Refusal] = []
        self.checked: dict[tuple[str, str], int] = {}  # requests seen, by (service, operation)
        self._lock = threading.Lock()

    def add(self, service: str, operation: str, found: list[Refusal]) -> None:
        with self._lock:
            self.checked[(service, operation)] = self.checked.get((service, operation), 0) + 1
            self.refused.extend(found)


_current: Recording | None = None
_original_make_api_call = BaseClient._make_api_call


@contextmanager
def recording() -> Iterator[Recording]:
    global _current
    previous, _current = _current, Recording()
    try:
        yield _current
    finally:
        _current = previous


def _checked_make_api_call(self: BaseClient, operation_name: str, api_params: dict) -> Any:
    __tracebackhide__ = True  # a failing test shows the caller and the refusal, not this wrapper
    operation = self.meta.service_model.operation_model(operation_name)
    # botocore runs its own type checks unless the client turned them off (its serializer
    # is then not wrapped in the validating decorator).
    found = refusals(operation, api_params, botocore_types=not isinstance(self._serializer, ParamValidationDecorator))
    if _current is not None:
        _current.add(operation.service_model.service_name, operation_name, found)
    if found:
        raise self.exceptions.from_code("ValidationException")(
            {"Error": {"Code": "ValidationException", "Message": "; ".join(map(str, found))},
             "ResponseMetadata": {"RequestId": "refused-by-tests-aws-strict", "HTTPStatusCode": 400, "HTTPHeaders": {}, "RetryAttempts": 0}},
            operation_name)
    return _original_make_api_call(self, operation_name, api_params)


def install() -> None:
    """Check every request of every botocore client in this process (idempotent)."""
    BaseClient._make_api_call = _checked_make_api_call


def report(refused: list[Refusal]) -> str:
    lines = "\n".join(f"  - {refusal}" for refusal in refused)
    return (f"AWS would refuse {len(refused)} request member(s) that moto accepted:\n{lines}\n"
            "(checked against botocore's service model and openforge_lambda.aws_rules; "
            "mark a test @pytest.mark.aws_refuses(reason=...) only if it sends a bad request on purpose)")
