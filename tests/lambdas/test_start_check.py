"""Given a run and plan that did not come from ValidateInput (a direct invoke of the start
function), when StartTrainingJob runs, then it starts nothing the pipeline would not have:
the plan's names and locations, the instance type and count, the target and the job's
size are checked again, on both start paths, and a refusal names the field."""
from __future__ import annotations

import copy
from dataclasses import replace

import pytest

from tests.lambdas.conftest import LambdaContext, load_handler
from tests.lambdas.training_runs import ARTIFACTS, DATASETS, ENVIRONMENT_VARIABLES, run_and_plan, step_job

from openforge_lambda.run import Run  # isort: skip
from openforge_lambda.run_plan import Mix, RunPlan  # isort: skip
from openforge_lambda.start_check import StartRequest, check_job_limits  # isort: skip
from openforge_lambda.training_job import TrainingRequestRefused  # isort: skip

LIMITS = {"TRAINING_INSTANCE_TYPES": "ml.p5.48xlarge,ml.trn1.32xlarge", "MAX_INSTANCE_COUNT": "2"}
ELSEWHERE = "s3://someone-elses-bucket/raw/tickets/"


def crafted(change) -> tuple[dict, dict, dict]:
    run, plan = run_and_plan()
    run, plan, mix = copy.deepcopy(run), copy.deepcopy(plan), None
    return change(run, plan, mix) or (run, plan, mix)


def set_mix(run, plan, mix):
    return run, plan, {**plan["mixes"][0], "training_job_name": "fraud-scoring-prod"}


CRAFTED = {
    "another job's name": (lambda run, plan, mix: plan["mixes"][0].update(training_job_name="fraud-scoring-t75-f42b7a90"),
                           r"^plan\.mixes\[0\]\.training_job_name: is 'fraud-scoring-t75-f42b7a90', but the run and its execution name "
                           r"make 'tickets-t75-f42b7a90'$"),
    "a validation name of its own": (lambda run, plan, mix: plan.update(validation_job_name="tickets-val"),
                                     r"^plan\.validation_job_name: is 'tickets-val', but"),
    "another team's data": (lambda run, plan, mix: plan.update(customer_data_s3_uri=ELSEWHERE), r"^plan\.customer_data_s3_uri: is "),
    "output elsewhere": (lambda run, plan, mix: plan.update(training_output_s3_uri="s3://someone-elses-bucket/training/"),
                         r"^plan\.training_output_s3_uri: is "),
    "a base model outside base-models/": (lambda run, plan, mix: run.update(base_model_s3_uri=f"s3://{DATASETS}/raw/model/"),
                                          rf"^run\.base_model_s3_uri: s3://{DATASETS}/raw/model/ is not under s3://{ARTIFACTS}/base-models/"),
    "all of raw/": (lambda run, plan, mix: run.update(customer_data_s3_uri=f"s3://{DATASETS}/raw/"),
                    r"^run\.customer_data_s3_uri: .* is not a folder of its own under raw/ \(which holds every team's data\)"),
    "a type the environment does not allow": (lambda run, plan, mix: run["compute"].update(instance_type="ml.p4d.24xlarge"),
                                              r"^run\.compute\.instance_type: ml\.p4d\.24xlarge is not allowed in this environment"),
    "more instances than the limit": (lambda run, plan, mix: run["compute"].update(instance_count=64),
                                      r"^run\.compute\.instance_count: 64 is more than this environment's limit of 2$"),
    "a field the input does not have": (lambda run, plan, mix: run.update(role_arn="arn:aws:iam::123456789012:role/admin"),
                                        r"^run\.role_arn: unknown field"),
    "an execution name SageMaker cannot tag with": (lambda run, plan, mix: plan.update(execution_name="x'; reboot"),
                                                    r"^plan\.execution_name: \"x'; reboot\" cannot tag the run's SageMaker jobs"),
    "a mix not in the plan": (set_mix, r"^mix: is not one of the plan's mixes"),
    "a mix dropped": (lambda run, plan, mix: plan.update(mixes=plan["mixes"][:1]), r"^plan\.mixes: must be the run's 2 mixes"),
    "no plan": (lambda run, plan, mix: (run, None, mix), r"^plan\.execution_name: required"),
}


@pytest.fixture
def environment(monkeypatch):
    for name, value in {**ENVIRONMENT_VARIABLES, **LIMITS}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HYPERPOD_CLUSTER_NAME", raising=False)


@pytest.mark.parametrize("change, message", CRAFTED.values(), ids=CRAFTED.keys())
@pytest.mark.parametrize("target", ["training-job", "hyperpod"])
def test_a_crafted_run_or_plan_is_refused_on_both_start_paths_naming_the_field(aws, environment, monkeypatch, change, message, target):
    monkeypatch.setenv("HYPERPOD_CLUSTER_NAME", "openforge-dev")
    run, plan, mix = crafted(change)
    run["compute"]["target"] = target
    with pytest.raises(TrainingRequestRefused, match=message) as refused:
        load_handler("start_training_job")({"step": "training", "run": run, "plan": plan, "mix": mix or (plan or {"mixes": [None]})["mixes"][0]},
                                           LambdaContext())
    assert str(refused.value) == f"{refused.value.field}: {refused.value.problem}"


def test_hyperpod_is_refused_where_the_environment_has_no_cluster(aws, environment):
    run, plan = run_and_plan(compute={"target": "hyperpod"})
    with pytest.raises(TrainingRequestRefused, match=r"^run\.compute\.target: hyperpod: this environment has no HyperPod cluster"):
        load_handler("start_training_job")({"step": "validation", "run": run, "plan": plan}, LambdaContext())


def test_what_validate_input_made_passes_unchanged(environment):
    import os

    from openforge_lambda.pipeline_input import EnvironmentPolicy
    from openforge_lambda.run_plan import PlatformLocations

    run, plan = run_and_plan()
    policy, platform = EnvironmentPolicy.from_environment(os.environ), PlatformLocations.from_environment(os.environ)
    for step, mix in (("validation", None), ("training", plan["mixes"][1]), ("evaluation", plan["mixes"][0])):
        event = {"step": step, "run": run, "plan": plan, "mix": mix, "execution_arn": "arn:execution"}
        assert StartRequest.from_event(event, policy, platform) == StartRequest(
            step, Run.from_dict(run), RunPlan.from_dict(plan), Mix.from_dict(mix) if mix else None, "arn:execution")


def test_a_job_beyond_sagemakers_limits_is_refused():
    run, plan = run_and_plan()
    job = step_job("training", run, plan, plan["mixes"][0])
    check_job_limits(job)
    many = {f"setting_{n}": "1" for n in range(101)}
    with pytest.raises(TrainingRequestRefused, match=r"^hyperparameters: 101 hyperparameters; SageMaker takes at most 100$"):
        check_job_limits(replace(job, hyperparameters=many))
    with pytest.raises(TrainingRequestRefused, match=r"^hyperparameters\.mlflow_tracking_uri: 2501 characters; SageMaker takes values up to 2500$"):
        check_job_limits(replace(job, hyperparameters={**job.hyperparameters, "mlflow_tracking_uri": "a" * 2501}))
    with pytest.raises(TrainingRequestRefused, match=r"^hyperparameters\.k{40}\.\.\.: a 257-character name; SageMaker takes names up to 256$"):
        check_job_limits(replace(job, hyperparameters={"k" * 257: "1"}))
    with pytest.raises(TrainingRequestRefused, match=r"^channels\.model: 1030 characters; SageMaker takes S3 URIs up to 1024$"):
        check_job_limits(replace(job, channels={**job.channels, "model": "s3://b/" + "m" * 1022 + "/"}))
    for name in ("a" * 64, "tickets-t75\n"):
        with pytest.raises(TrainingRequestRefused, match=r"^name: .* is not a SageMaker name"):
            check_job_limits(replace(job, name=name))
    with pytest.raises(TrainingRequestRefused, match=r"^tags\.openforge:execution: 'run\(1\)' is not a SageMaker tag value$"):
        check_job_limits(replace(job, tags={**job.tags, "openforge:execution": "run(1)"}))
