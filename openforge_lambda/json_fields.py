"""Reading one JSON object of a state (a run, a plan, a mix) into a typed object: each field's
presence and type checked once, a missing or mistyped one refused with ``FieldError`` naming
its path (``plan.mixes[0].training_job_name: required``), so the ``from_dict`` of every typed
object reads the same way and fails the same way.
"""
from __future__ import annotations

import json
import math
from collections.abc import Mapping

from openforge_lambda.settings import FieldError


class Fields:
    """The fields of the object at ``path`` (a dotted path, or "" for the whole input)."""

    def __init__(self, data, path: str):
        if not isinstance(data, Mapping):
            raise FieldError(path, f"must be an object, got {_shown(data)}")
        self._data, self._path = data, path

    def where(self, name: str) -> str:
        return f"{self._path}.{name}" if self._path else name

    def present(self, name: str):
        value = self._data.get(name)
        if value is None:
            raise FieldError(self.where(name), "required")
        return value

    def optional(self, name: str):
        return self._data.get(name)

    def text(self, name: str, *, optional: bool = False) -> str | None:
        value = self._data.get(name)
        if value is None and optional:
            return None
        value = self.present(name)
        if not isinstance(value, str) or not value.strip():
            raise FieldError(self.where(name), f"must be a non-empty string, got {value!r}")
        return value

    def number(self, name: str) -> float:
        value = self.present(name)
        if not is_number(value):
            raise FieldError(self.where(name), f"must be a number, got {_shown(value)}")
        return value

    def whole_number(self, name: str, minimum: int | None = None) -> int:
        value = self.present(name)
        if not isinstance(value, int) or isinstance(value, bool) or (minimum is not None and value < minimum):
            floor = f" of at least {minimum}" if minimum is not None else ""
            raise FieldError(self.where(name), f"must be a whole number{floor}, got {value!r}")
        return value

    def boolean(self, name: str) -> bool:
        value = self._data.get(name)
        if not isinstance(value, bool):
            raise FieldError(self.where(name), f"must be true or false, got {_shown(value)}")
        return value

    def block(self, name: str, *, optional: bool = False) -> Fields | None:
        value = self._data.get(name)
        if value is None and optional:
            return None
        return Fields(self.present(name), self.where(name))

    def objects(self, name: str) -> list[Fields]:
        """A list of objects, each read with its index in the path (mixes[0])."""
        value = self.present(name)
        if not isinstance(value, list):
            raise FieldError(self.where(name), f"must be a list, got {_shown(value)}")
        return [Fields(item, f"{self.where(name)}[{index}]") for index, item in enumerate(value)]

    def texts(self, name: str) -> tuple[str, ...]:
        value = self.present(name)
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise FieldError(self.where(name), f"must be a list of strings, got {_shown(value)}")
        return tuple(value)

    def numbers(self, name: str) -> tuple[float, ...]:
        value = self.present(name)
        if not isinstance(value, list) or not all(is_number(item) for item in value):
            raise FieldError(self.where(name), f"must be a list of numbers, got {_shown(value)}")
        return tuple(value)

    def number_map(self, name: str, *, optional: bool = False) -> dict[str, float] | None:
        value = self._data.get(name)
        if value is None and optional:
            return None
        value = self.present(name)
        if not isinstance(value, Mapping) or not all(isinstance(key, str) and is_number(item) for key, item in value.items()):
            raise FieldError(self.where(name), f"must be an object of numbers, got {_shown(value)}")
        return dict(value)

    def mapping(self, name: str) -> dict:
        value = self.present(name)
        if not isinstance(value, Mapping):
            raise FieldError(self.where(name), f"must be an object, got {_shown(value)}")
        return dict(value)


def is_number(value) -> bool:
    """A JSON number that is finite (true and false are not numbers here)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _shown(value) -> str:
    try:
        return json.dumps(value)
    except (TypeError, ValueError):
        return repr(value)
