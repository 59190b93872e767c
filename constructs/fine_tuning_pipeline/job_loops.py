"""The pipeline's job loops: start a job (validation, training or evaluation), then check and
wait until it is done, each wait the check's ``wait_seconds``, which grows with the
execution's age (run_limits.py), so polling cannot reach the history limit; and the Map that
trains and evaluates every mix."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_stepfunctions as sfn
from constructs import Construct
from constructs.fine_tuning_pipeline import run_limits
from constructs.pipeline_function import invoke

from openforge_contract import states
from openforge_contract.execution_data import ERROR, EVALUATION_LOOP, FAILED, MIX, PLAN, RESULTS, RUN, TRAINING_LOOP, JobLoop, path

Guard = Callable[[sfn.TaskStateBase], sfn.TaskStateBase]


@dataclass(frozen=True)
class LoopStates:
    """One job loop's states (its names and fields: openforge_contract.execution_data.JobLoop)."""

    start: sfn.TaskStateBase
    wait: sfn.Wait
    check: sfn.TaskStateBase

    def until_done(self, scope: Construct, choice_name: str, status_path: str, *, completed: sfn.IChainable, failed: sfn.IChainable) -> None:
        """After each check: a completed job goes on to ``completed``, one that ended otherwise
        to ``failed``; a running one waits and is checked again."""
        self.check.next(sfn.Choice(scope, choice_name)
                        .when(sfn.Condition.string_equals(f"{status_path}.status", "Completed"), completed)
                        .when(sfn.Condition.boolean_equals(f"{status_path}.done", True), failed)
                        .otherwise(self.wait))


def job_loop(scope: Construct, functions: dict[str, lambda_.IFunction], loop: JobLoop, wait_name: str, step: str, mix_path: str,
             guarded: Guard) -> LoopStates:
    """Start a job, then Check and Wait until it is done; the Choice is the caller's
    (LoopStates.until_done)."""
    start = guarded(invoke(scope, functions["StartTrainingJob"], loop.start, result_path=path(loop.started), payload=sfn.TaskInput.from_object(
        {"step": step, "run.$": path(RUN), "plan.$": path(PLAN), "mix.$": mix_path, "execution_arn.$": "$$.Execution.Id"})))
    wait = sfn.Wait(scope, wait_name, time=sfn.WaitTime.seconds_path(path(loop.status, "wait_seconds")))
    check = guarded(invoke(scope, functions["CheckTrainingJob"], loop.check, result_path=path(loop.status),
                           payload=sfn.TaskInput.from_object({"job.$": path(loop.started), "poll": {
                               "poll_seconds.$": path(PLAN, "poll_seconds"), "age_divisor": run_limits.POLL_AGE_DIVISOR,
                               "execution_started.$": "$$.Execution.StartTime"}})))
    start.next(check)
    wait.next(check)
    return LoopStates(start, wait, check)


def mixes_map(scope: Construct, functions: dict[str, lambda_.IFunction], max_parallel_runs: int) -> sfn.Map:
    """One training and evaluation per mix, in parallel; a failed mix is a result, not a
    failed run, so the other mixes of a grid still count."""
    mixes = sfn.Map(scope, states.MIXES, items_path=path(PLAN, "mixes"), max_concurrency=max_parallel_runs,
                    item_selector={f"{RUN}.$": path(RUN), f"{PLAN}.$": path(PLAN), f"{MIX}.$": "$$.Map.Item.Value"}, result_path=path(RESULTS))
    error = sfn.Pass(scope, states.MIX_ERROR, parameters={f"{MIX}.$": path(MIX), FAILED: {"step": "error", "error.$": path(ERROR, "Error"),
                                                                                            "cause.$": path(ERROR, "Cause")}})
    # The mix's training or evaluation job would run on after its iteration ends: stop it
    # (CleanUpRun with this mix only), then record the error; a stop that fails still records it.
    stop = invoke(scope, functions["CleanUpRun"], states.STOP_MIX, result_path="$.stopped", payload=sfn.TaskInput.from_object(
        {"run.$": path(RUN), "plan.$": path(PLAN), "mix.$": path(MIX), "error.$": path(ERROR)}))
    stop.add_catch(error, errors=[sfn.Errors.ALL], result_path="$.stop_error")
    stop.next(error)

    def caught(task):
        task.add_catch(stop, errors=[sfn.Errors.ALL], result_path=path(ERROR))
        return task

    train = job_loop(scope, functions, TRAINING_LOOP, states.WAIT_TRAINING, "training", path(MIX), caught)
    evaluate = job_loop(scope, functions, EVALUATION_LOOP, states.WAIT_EVALUATION, "evaluation", path(MIX), caught)
    result = sfn.Pass(scope, states.MIX_RESULT, parameters={f"{field}.$": path(field) for field in (MIX, TRAINING_LOOP.status, EVALUATION_LOOP.status)})
    for step, loop, states_of_loop, done, after in (("training", TRAINING_LOOP, train, states.TRAINING_DONE, evaluate.start),
                                                    ("evaluation", EVALUATION_LOOP, evaluate, states.EVALUATION_DONE, result)):
        status = path(loop.status)
        failed = sfn.Pass(scope, states.MIX_FAILED[step], parameters={
            f"{MIX}.$": path(MIX), FAILED: {"step": step, "job_name.$": f"{status}.job_name", "cause.$": f"{status}.failure_reason"}})
        states_of_loop.until_done(scope, done, status, completed=after, failed=failed)
    mixes.item_processor(train.start)
    return mixes
