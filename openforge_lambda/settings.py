"""The error a request refused for one of its fields raises. (A handler's environment
variables are read and checked by openforge_contract.environment_variables.)"""
from __future__ import annotations


class FieldError(ValueError):
    """A request refused because of one field; the message starts with the field's path
    ("(input)" for the request as a whole), so a person knows what to change."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field or '(input)'}: {problem}")

