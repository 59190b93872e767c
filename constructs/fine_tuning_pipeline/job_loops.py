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

from pipeline import steps

Guard = Callable[[sfn.TaskStateBase], sfn.TaskStateBase]


@dataclass(frozen=True)
class JobLoop:
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


def job_loop(scope: Construct, functions: dict[str, lambda_.IFunction], names: tuple[str, str, str], step: str, mix_path: str, status_path: str,
             guarded: Guard) -> JobLoop:
    """Start a job, then Check and Wait until it is done; the Choice is the caller's
    (JobLoop.until_done). ``names``: the start, wait and check states'."""
    start_name, wait_name, check_name = names
    start = guarded(invoke(scope, functions["StartTrainingJob"], start_name, result_path=f"{status_path}_job", payload=sfn.TaskInput.from_object(
        {"step": step, "run.$": "$.run", "plan.$": "$.plan", "mix.$": mix_path, "execution_arn.$": "$$.Execution.Id"})))
    wait = sfn.Wait(scope, wait_name, time=sfn.WaitTime.seconds_path(f"{status_path}.wait_seconds"))
    check = guarded(invoke(scope, functions["CheckTrainingJob"], check_name, result_path=status_path,
                           payload=sfn.TaskInput.from_object({"job.$": f"{status_path}_job", "poll": {
                               "poll_seconds.$": "$.plan.poll_seconds", "age_divisor": run_limits.POLL_AGE_DIVISOR,
                               "execution_started.$": "$$.Execution.StartTime"}})))
    start.next(check)
    wait.next(check)
    return JobLoop(start, wait, check)


def mixes_map(scope: Construct, functions: dict[str, lambda_.IFunction], max_parallel_runs: int) -> sfn.Map:
    """One training and evaluation per mix, in parallel; a failed mix is a result, not a
    failed run, so the other mixes of a grid still count."""
    mixes = sfn.Map(scope, steps.MIXES, items_path="$.plan.mixes", max_concurrency=max_parallel_runs,
                    item_selector={"run.$": "$.run", "plan.$": "$.plan", "mix.$": "$$.Map.Item.Value"}, result_path="$.results")
    error = sfn.Pass(scope, steps.MIX_ERROR, parameters={"mix.$": "$.mix", "failed": {"step": "error", "error.$": "$.error.Error", "cause.$": "$.error.Cause"}})
    # The mix's training or evaluation job would run on after its iteration ends: stop it
    # (CleanUpRun with this mix only), then record the error; a stop that fails still records it.
    stop = invoke(scope, functions["CleanUpRun"], steps.STOP_MIX, result_path="$.stopped", payload=sfn.TaskInput.from_object(
        {"run.$": "$.run", "plan.$": "$.plan", "mix.$": "$.mix", "error.$": "$.error"}))
    stop.add_catch(error, errors=[sfn.Errors.ALL], result_path="$.stop_error")
    stop.next(error)

    def caught(task):
        task.add_catch(stop, errors=[sfn.Errors.ALL], result_path="$.error")
        return task

    train = job_loop(scope, functions, (steps.TRAIN, steps.WAIT_TRAINING, steps.CHECK_TRAINING), "training", "$.mix", "$.training", caught)
    evaluate = job_loop(scope, functions, (steps.EVALUATE, steps.WAIT_EVALUATION, steps.CHECK_EVALUATION), "evaluation", "$.mix", "$.evaluation", caught)
    result = sfn.Pass(scope, steps.MIX_RESULT, parameters={"mix.$": "$.mix", "training.$": "$.training", "evaluation.$": "$.evaluation"})
    for step, loop, done, after in (("training", train, steps.TRAINING_DONE, evaluate.start), ("evaluation", evaluate, steps.EVALUATION_DONE, result)):
        status = f"$.{step}"
        failed = sfn.Pass(scope, steps.MIX_FAILED[step], parameters={
            "mix.$": "$.mix", "failed": {"step": step, "job_name.$": f"{status}.job_name", "cause.$": f"{status}.failure_reason"}})
        loop.until_done(scope, done, status, completed=after, failed=failed)
    mixes.item_processor(train.start)
    return mixes
