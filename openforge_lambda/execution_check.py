"""After a start function (StartTrainingJob, DeployEndpoint) has made its job or endpoint:
is the execution that asked for it still running? If not, what was just made is undone.

Why: when an execution is stopped, times out or fails, Step Functions does not stop a Lambda
that is running. The clean-up of an ended execution (CleanUpEndedRun, on EventBridge's status
change) may look for the run's jobs before that Lambda's create lands, find nothing, and the
job would run on for up to max_training_hours.

Why checking after the create closes that race: the clean-up starts only after the execution
has left RUNNING (EventBridge sends the status change once it has happened). This check runs
after the create has returned. If the check sees RUNNING, the execution ended after the create,
so the clean-up starts after the create and finds the job or endpoint; if it sees the execution
ended, this function undoes what it made itself. Either way someone sees it (both undo paths
are harmless to repeat: a stopped job is left alone, a rolled-back deployment has nothing
left). DescribeExecution is documented as eventually consistent ("may not reflect very recent
updates", https://docs.aws.amazon.com/step-functions/latest/apireference/API_DescribeExecution.html):
a stop within that lag of the check can still be read as RUNNING, so the window is narrowed
to the service's read lag, not to zero.

No execution ARN (a direct invoke, e.g. by an operator) means there is no execution to ask
about, and the check is skipped. The state machine always passes $$.Execution.Id; the local
runner (pipeline.local) builds requests but never calls these functions.
"""
from __future__ import annotations

from collections.abc import Callable

# DescribeExecution's status while an execution runs (botocore's model: RUNNING, SUCCEEDED,
# FAILED, TIMED_OUT, ABORTED, PENDING_REDRIVE).
RUNNING = "RUNNING"


class StartUndoneIncompletely(RuntimeError):
    """The execution ended while this step started, and undoing what it made failed: something
    may run on that no clean-up will find. Raised so the invocation shows as an error."""


def ended_status(sfn, execution_arn: str | None) -> str | None:
    """The execution's status when it is no longer running; None while it runs, or when no
    execution ARN was given (nothing to check)."""
    if not execution_arn:
        return None
    status = sfn.describe_execution(executionArn=execution_arn)["status"]
    return None if status == RUNNING else status


def abandoned(record: dict, execution_arn: str, status: str, undone: dict, what: str) -> dict:
    """The start's record, saying that its execution had ended and what was undone; raises
    StartUndoneIncompletely when the undo left problems."""
    reason = (f"execution {execution_arn} was {status} when this step had just started {what}, "
              f"so it was undone: {', '.join([f'stopped {name}' for name in undone['stopped_jobs']] + undone['removed']) or 'nothing was left running'}")
    if undone["cleanup_problems"]:
        raise StartUndoneIncompletely(f"{reason}; but {'; '.join(undone['cleanup_problems'])}")
    return {**record, "execution_ended": {"status": status, "reason": reason, **undone}}


def undone_if_ended(sfn, execution_arn: str | None, record: dict, what: str, undo: Callable[[], dict]) -> dict:
    """``record`` as made while the execution runs; once it has ended, ``undo()`` (a
    failure.undo_start) and the record saying so (``abandoned``)."""
    ended = ended_status(sfn, execution_arn)
    if not ended:
        return record
    return abandoned(record, execution_arn, ended, undo(), what)
