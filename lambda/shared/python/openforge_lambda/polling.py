"""How long a job loop waits before its next check: longer as the execution ages, so one
loop checks O(log(run length)) times and a run's history stays under Step Functions' limit
(the bound: pipeline/run_limits.py, which sets the numbers the state machine passes here)."""
from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import datetime, timezone


def next_wait_seconds(age_seconds: float, poll_seconds: int, age_divisor: int) -> int:
    """max(poll_seconds, age / age_divisor): a finished job is noticed within 1/age_divisor of the run's age."""
    return max(int(poll_seconds), math.ceil(max(0.0, age_seconds) / age_divisor))


def wait_after_check(poll: Mapping, now: datetime | None = None) -> int:
    """``poll``: {"poll_seconds", "age_divisor", "execution_started": $$.Execution.StartTime (ISO 8601)}."""
    started = datetime.fromisoformat(str(poll["execution_started"]).replace("Z", "+00:00"))
    if started.tzinfo is None:
        started = started.replace(tzinfo=timezone.utc)
    age = ((now or datetime.now(timezone.utc)) - started).total_seconds()
    return next_wait_seconds(age, poll["poll_seconds"], poll["age_divisor"])
