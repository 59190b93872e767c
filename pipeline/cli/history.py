"""The execution's history as Step Functions returns it: the events not yet seen (every page,
newest first, until what was already read), and the readers of an event's fields."""
from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timezone

from openforge_lambda.ended_execution import events_after

# The events that end an execution, and the status each leaves it in.
FINISHED = {"ExecutionSucceeded": "SUCCEEDED", "ExecutionFailed": "FAILED", "ExecutionAborted": "ABORTED", "ExecutionTimedOut": "TIMED_OUT"}


def new_events(sfn, execution_arn: str, after: int, page_size: int | None = None) -> list[dict]:
    """The history's events with an id above ``after``, oldest first (openforge_lambda.ended_execution)."""
    return events_after(sfn, execution_arn, after, **({"page_size": page_size} if page_size else {}))


def event_details(event: Mapping) -> Mapping:
    """An event's details, whatever its type calls them (``taskFailedEventDetails``, ...)."""
    return next((value for key, value in event.items() if key.endswith("EventDetails") and isinstance(value, Mapping)), {})



def timestamp(value) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
    return datetime.fromisoformat(str(value))

