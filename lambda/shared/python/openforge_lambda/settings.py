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
