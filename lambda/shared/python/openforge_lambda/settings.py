"""Environment variables of a handler, read and checked in one place."""
from __future__ import annotations

import os


class MissingSetting(RuntimeError):
    pass


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
