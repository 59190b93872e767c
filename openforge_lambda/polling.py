"""How long a job loop waits before its next check: longer as the execution ages, so one
loop checks O(log(run length)) times and a run's history stays under Step Functions' limit
(the bound: constructs/fine_tuning_pipeline/run_limits.py, which sets the numbers the state machine passes here)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone


def next_wait_seconds(age_seconds: float, poll_seconds: int, age_divisor: int) -> int:
    """max(poll_seconds, age / age_divisor): a finished job is noticed within 1/age_divisor of the run's age."""
    return max(int(poll_seconds), math.ceil(max(0.0, age_seconds) / age_divisor))


def wait_after_check(poll: Mapping, now: datetime | None = None) -> int:
    """``poll``: {"poll_seconds", "age_divisor", "execution_started": $$.Execution.StartTime (ISO 8601)}."""
    return next_wait_seconds(seconds_since(poll["execution_started"], now), poll["poll_seconds"], poll["age_divisor"])


def seconds_since(started: str, now: datetime | None = None) -> float:
    """Seconds from ``started`` (ISO 8601, as Step Functions' context times and our records
    write it; no zone means UTC) to ``now``."""
    when = datetime.fromisoformat(str(started).replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=timezone.utc)
    return ((now or datetime.now(timezone.utc)) - when).total_seconds()
