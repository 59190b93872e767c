"""What the start function checks before it starts anything, whichever way the step runs
(a SageMaker training job or a Slurm job on HyperPod): the run and its plan are what
ValidateInput would have made, and the job fits SageMaker's limits.

The pipeline passes ValidateInput's own output, so for it this is a re-check; a direct
invoke of the function with a crafted plan (other job names, another team's data, an
instance type the environment does not allow) is refused here, naming the field, with
the rules ValidateInput applies: the run is normalised again against the environment's
limits, and the plan's names and locations must be the ones ``run_plan.plan_run`` derives
from the run and the execution's name. That is the start function's parse of its event
(``StartRequest.from_event``): what passes is the typed run, plan and mix the step runs from.
"""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from openforge_lambda.pipeline_input import (
    HYPERPARAMETER_KEY_MAX_LENGTH, HYPERPARAMETER_VALUE_MAX_LENGTH, HYPERPARAMETERS_MAX_COUNT, S3_URI_MAX_LENGTH, SAGEMAKER_NAME_PATTERN,
    EnvironmentPolicy, PipelineInputError, is_tag_value, parse_run)
from openforge_lambda.run import Run
from openforge_lambda.run_plan import Mix, PlatformLocations, RunPlan, plan_run
from openforge_lambda.training_job import JobPlan, TrainingRequestRefused

# What the steps' jobs read from the plan (training_job.job_plan): each must be the derived one.
PLAN_FIELDS = ("execution_name", "validation_job_name", "customer_data_s3_uri", "evaluation_data_s3_uri", "training_output_s3_uri",
               "checkpoint_s3_uri", "report_s3_uri")
MIX_FIELDS = ("customer_data_percent", "label", "training_job_name", "evaluation_job_name")


@dataclass(frozen=True)
class StartRequest:
    """StartTrainingJob's event, parsed once: the step, the run and plan as ValidateInput makes
    them, the mix (None: a validation run, which takes the plan's first) and the execution asking
    ($$.Execution.Id; None on a direct invoke)."""

    step: str
    run: Run
    plan: RunPlan
    mix: Mix | None
    execution_arn: str | None = None

    @classmethod
    def from_event(cls, event: Mapping, policy: EnvironmentPolicy, platform: PlatformLocations) -> StartRequest:
        """TrainingRequestRefused names the first field that is not what ValidateInput makes.
        ``policy`` and ``platform`` are the environment's, as ValidateInput has them."""
        if not isinstance(event, Mapping):
            raise TrainingRequestRefused("", "must be an object: {\"step\", \"run\", \"plan\", \"mix\", \"execution_arn\"}")
        plan, mix = event.get("plan") or {}, event.get("mix")
        if not isinstance(plan, Mapping):
            raise TrainingRequestRefused("plan", "required: ValidateInput's plan of the run")
        try:
            run = parse_run(event.get("run") or {}, policy)
            expected = plan_run(run, plan.get("execution_name"), platform)
        except PipelineInputError as error:
            where = "plan" if error.field == "execution_name" else "run"
            raise TrainingRequestRefused(f"{where}.{error.field}".rstrip("."), error.problem) from None
        derived = expected.to_dict()
        for field in PLAN_FIELDS:
            _require_same(f"plan.{field}", plan.get(field), derived[field])
        given_mixes = plan.get("mixes")
        if not isinstance(given_mixes, list) or len(given_mixes) != len(expected.mixes):
            raise TrainingRequestRefused("plan.mixes", f"must be the run's {len(expected.mixes)} mixes, got {given_mixes!r}")
        for index, (given, derived_mix) in enumerate(zip(given_mixes, derived["mixes"])):
            for field in MIX_FIELDS:
                _require_same(f"plan.mixes[{index}].{field}", given.get(field) if isinstance(given, Mapping) else None, derived_mix[field])
        chosen = None
        if mix is not None:
            chosen = next((planned for planned in expected.mixes if _same_mix(mix, planned.to_dict())), None)
            if chosen is None:
                raise TrainingRequestRefused("mix", f"is not one of the plan's mixes: {dict(mix) if isinstance(mix, Mapping) else mix!r}")
        return cls(event.get("step"), run, expected, chosen, event.get("execution_arn") or None)


def check_job_limits(job: JobPlan) -> None:
    """The job as SageMaker will see it (CreateTrainingJob's name, hyperparameters, S3 URIs
    and tags, or the same for the Slurm job) within SageMaker's limits."""
    if not re.fullmatch(SAGEMAKER_NAME_PATTERN, job.name):
        raise TrainingRequestRefused("name", f"{job.name!r} is not a SageMaker name (1-63 letters, digits or hyphens)")
    if len(job.hyperparameters) > HYPERPARAMETERS_MAX_COUNT:
        raise TrainingRequestRefused("hyperparameters", f"{len(job.hyperparameters)} hyperparameters; SageMaker takes at most "
                                                        f"{HYPERPARAMETERS_MAX_COUNT}")
    for key, value in job.hyperparameters.items():
        if len(key) > HYPERPARAMETER_KEY_MAX_LENGTH:
            raise TrainingRequestRefused(f"hyperparameters.{key[:40]}...", f"a {len(key)}-character name; SageMaker takes names up to "
                                                                           f"{HYPERPARAMETER_KEY_MAX_LENGTH}")
        if len(value) > HYPERPARAMETER_VALUE_MAX_LENGTH:
            raise TrainingRequestRefused(f"hyperparameters.{key}", f"{len(value)} characters; SageMaker takes values up to "
                                                                   f"{HYPERPARAMETER_VALUE_MAX_LENGTH}")
    uris = {f"channels.{name}": uri for name, uri in job.channels.items()}
    uris.update(output_s3_uri=job.output_s3_uri, checkpoint_s3_uri=job.checkpoint_s3_uri or "")
    for field, uri in uris.items():
        if len(uri) > S3_URI_MAX_LENGTH:
            raise TrainingRequestRefused(field, f"{len(uri)} characters; SageMaker takes S3 URIs up to {S3_URI_MAX_LENGTH}")
    for key, value in job.tags.items():
        if not is_tag_value(value):
            raise TrainingRequestRefused(f"tags.{key}", f"{value!r} is not a SageMaker tag value")


def _require_same(field: str, given, expected) -> None:
    if given != expected:
        raise TrainingRequestRefused(field, f"is {given!r}, but the run and its execution name make {expected!r}")


def _same_mix(mix, derived: Mapping) -> bool:
    return isinstance(mix, Mapping) and all(mix.get(field) == derived[field] for field in MIX_FIELDS)
