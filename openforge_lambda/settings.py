"""Environment variables of a handler, read and checked in one place, and the error a
request refused for one of its fields raises."""
from __future__ import annotations

import os


class MissingSetting(RuntimeError):
    pass


class FieldError(ValueError):
    """A request refused because of one field; the message starts with the field's path
    ("(input)" for the request as a whole), so a person knows what to change."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field or '(input)'}: {problem}")


def required(name: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise MissingSetting(f"environment variable {name} is not set on this function")
    return value


def required_list(name: str) -> tuple[str, ...]:
    """A comma-separated variable (subnet ids, security groups), blanks dropped."""
    items = tuple(item.strip() for item in required(name).split(",") if item.strip())
    if not items:
        raise MissingSetting(f"environment variable {name} lists nothing on this function")
    return items
