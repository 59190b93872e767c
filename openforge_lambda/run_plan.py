"""Where one execution of the pipeline reads and writes, and what its jobs are called,
decided once in the first state so every later step (and a person reading the console)
sees the same names.

Names come from the job name and a hash of the execution name: unique per execution
(SageMaker never reuses a training job name) and the same on a retry, so a retried start
finds the job it already made. Locations are checked against the prefixes the platform's
roles may use, so a run that would fail on access denied an hour in fails here, naming
the field.
"""
from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass

from openforge_contract.environment_variables import DEFAULT_MAX_QUARANTINE_PERCENT, DEFAULT_POLL_SECONDS, PlatformBuckets, RunDefaults
from openforge_contract.s3_layout import (BASE_MODELS_PREFIX, CHECKPOINTS_PREFIX, CLEAN_OUTPUT, CURATED_PREFIX, EVALUATION_PREFIX, RAW_PREFIX,
                                          REPORTS_PREFIX, SANITISED_PREFIX, TRAINING_PREFIX)
from openforge_lambda.json_fields import Fields
from openforge_lambda.pipeline_input import SAGEMAKER_NAME_PATTERN, PipelineInputError, is_tag_value, percent_label
from openforge_lambda.run import Run, needs_curated_data
from openforge_lambda.s3_streams import split_s3_uri
from sanitiser.plan import DEFAULT_SHARD_BYTES

HASH_LENGTH = 8


@dataclass(frozen=True)
class PlatformLocations:
    """What the stack sets on ValidateInput: the buckets, how often to poll a job, and the
    environment's quarantine limit for sanitisation."""

    datasets_bucket: str
    artifacts_bucket: str
    poll_seconds: int = DEFAULT_POLL_SECONDS
    max_quarantine_percent: float = DEFAULT_MAX_QUARANTINE_PERCENT

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> PlatformLocations:
        buckets, defaults = PlatformBuckets.from_environment(environ), RunDefaults.from_environment(environ)
        return cls(buckets.datasets, buckets.artifacts, defaults.poll_seconds, defaults.max_quarantine_percent)


@dataclass(frozen=True)
class Mix:
    """One training and evaluation of the run (an entry of plan.mixes): its share of customer
    data, the label its jobs' names carry, and those names."""

    customer_data_percent: float
    label: str
    training_job_name: str
    evaluation_job_name: str

    @classmethod
    def from_dict(cls, data, path: str = "mix") -> Mix:
        return cls.from_fields(Fields(data, path))

    @classmethod
    def from_fields(cls, fields: Fields) -> Mix:
        return cls(fields.number("customer_data_percent"), fields.text("label"), fields.text("training_job_name"),
                   fields.text("evaluation_job_name"))

    def to_dict(self) -> dict:
        return {"customer_data_percent": self.customer_data_percent, "label": self.label,
                "training_job_name": self.training_job_name, "evaluation_job_name": self.evaluation_job_name}

    @property
    def needs_curated_data(self) -> bool:
        return needs_curated_data(self.customer_data_percent)


@dataclass(frozen=True)
class SanitisationJob:
    """What the sanitisation states read (the same job the standalone sanitisation machine takes)."""

    input_prefix: str
    output_prefix: str
    settings: dict
    max_quarantine_percent: float
    shard_bytes: int

    @classmethod
    def from_fields(cls, fields: Fields) -> SanitisationJob:
        return cls(fields.text("input_prefix"), fields.text("output_prefix"), fields.mapping("settings"),
                   fields.number("max_quarantine_percent"), fields.whole_number("shard_bytes", minimum=1))

    def to_dict(self) -> dict:
        return {"input_prefix": self.input_prefix, "output_prefix": self.output_prefix, "settings": dict(self.settings),
                "max_quarantine_percent": self.max_quarantine_percent, "shard_bytes": self.shard_bytes}


@dataclass(frozen=True)
class RunPlan:
    """Where one execution reads and writes and what its jobs are called (``plan_run``); the
    state machine carries ``to_dict()``, and every later step reads it back with ``from_dict``."""

    execution_name: str
    run_id: str
    poll_seconds: int
    datasets_bucket: str
    artifacts_bucket: str
    sanitisation: SanitisationJob
    customer_data_s3_uri: str  # the sanitised copy the training jobs read
    evaluation_data_s3_uri: str
    validation_job_name: str
    mixes: tuple[Mix, ...]
    training_output_s3_uri: str
    checkpoint_s3_uri: str
    report_s3_uri: str
    endpoint_name: str  # as the run asks for it; the deploy function puts it in the environment's namespace
    capacity: dict | None = None  # what each device needs (openforge_lambda.capacity_check); None: not planned

    @classmethod
    def from_dict(cls, data, path: str = "plan") -> RunPlan:
        fields = Fields(data, path)
        buckets = fields.block("buckets")
        return cls(
            execution_name=fields.text("execution_name"),
            run_id=fields.text("run_id"),
            poll_seconds=fields.whole_number("poll_seconds", minimum=0),
            datasets_bucket=buckets.text("datasets"),
            artifacts_bucket=buckets.text("artifacts"),
            sanitisation=SanitisationJob.from_fields(fields.block("sanitisation")),
            customer_data_s3_uri=fields.text("customer_data_s3_uri"),
            evaluation_data_s3_uri=fields.text("evaluation_data_s3_uri"),
            validation_job_name=fields.text("validation_job_name"),
            mixes=tuple(Mix.from_fields(mix) for mix in fields.objects("mixes")),
            training_output_s3_uri=fields.text("training_output_s3_uri"),
            checkpoint_s3_uri=fields.text("checkpoint_s3_uri"),
            report_s3_uri=fields.text("report_s3_uri"),
            endpoint_name=fields.text("endpoint_name"),
            capacity=fields.mapping("capacity") if fields.optional("capacity") is not None else None,
        )

    def to_dict(self) -> dict:
        return {
            "execution_name": self.execution_name,
            "run_id": self.run_id,
            "poll_seconds": self.poll_seconds,
            "buckets": {"datasets": self.datasets_bucket, "artifacts": self.artifacts_bucket},
            "sanitisation": self.sanitisation.to_dict(),
            "customer_data_s3_uri": self.customer_data_s3_uri,
            "evaluation_data_s3_uri": self.evaluation_data_s3_uri,
            "validation_job_name": self.validation_job_name,
            "mixes": [mix.to_dict() for mix in self.mixes],
            "training_output_s3_uri": self.training_output_s3_uri,
            "checkpoint_s3_uri": self.checkpoint_s3_uri,
            "report_s3_uri": self.report_s3_uri,
            "endpoint_name": self.endpoint_name,
            "capacity": self.capacity,
        }

    def job_names(self) -> list[str]:
        """Every job this execution may start: the validation run and each mix's training and evaluation."""
        return [self.validation_job_name] + [name for mix in self.mixes for name in (mix.training_job_name, mix.evaluation_job_name)]


def execution_hash(execution_name: str) -> str:
    return hashlib.sha256(execution_name.encode()).hexdigest()[:HASH_LENGTH]


def _require_under(job_name: str, field: str, uri: str, bucket: str, prefix: str, who: str) -> str:
    """The key part of ``uri``, which must lie in ``bucket`` under ``prefix/``."""
    found_bucket, key = split_s3_uri(uri)
    if found_bucket != bucket or not key.startswith(f"{prefix}/"):
        raise PipelineInputError(field, f"{uri} is not under s3://{bucket}/{prefix}/ ({who} reads only there); "
                                        f"copy the data there, e.g. s3://{bucket}/{prefix}/{job_name}/")
    return key


def _check_execution_name(execution_name) -> None:
    """The execution's name tags its jobs (openforge:execution) and names its S3 prefixes;
    Step Functions allows names SageMaker's tag values do not (e.g. '!', '(', "'"), and refuses
    '/' (one folder of S3 keys), which only a direct invoke could send."""
    if not execution_name:
        raise PipelineInputError("execution_name", "required: the state machine passes $$.Execution.Name")
    if not isinstance(execution_name, str) or not is_tag_value(execution_name) or "/" in execution_name or execution_name.strip(".") == "":
        raise PipelineInputError("execution_name", f"{execution_name!r} cannot tag the run's SageMaker jobs or name its S3 prefixes; "
                                                   "start the execution again with a name of letters, digits, '-' and '_' "
                                                   "(or leave the name empty for a generated one)")


def _require_own_folder(job_name: str, field: str, key: str, bucket: str, prefix: str) -> None:
    """``key`` names a folder of its own under ``prefix/`` (raw/<job>/), not the whole of it:
    ``raw/`` holds every team's raw data, and the sanitisation functions may read all of it."""
    folder = key[len(prefix) + 1:].split("/", 1)[0]
    if folder in ("", ".", ".."):
        raise PipelineInputError(field, f"s3://{bucket}/{key} is not a folder of its own under {prefix}/ (which holds every team's data); "
                                        f"give your data's folder, e.g. s3://{bucket}/{prefix}/{job_name}/")


def _check_names(plan: RunPlan) -> None:
    """Every SageMaker name the plan makes from the input fits SageMaker's name pattern."""
    names = {"validation_job_name": plan.validation_job_name, "run_id": plan.run_id, "endpoint_name": plan.endpoint_name}
    for index, mix in enumerate(plan.mixes):
        names.update({f"mixes[{index}].training_job_name": mix.training_job_name, f"mixes[{index}].evaluation_job_name": mix.evaluation_job_name})
    for where, name in names.items():
        if not re.fullmatch(SAGEMAKER_NAME_PATTERN, name):  # fullmatch: "$" alone lets a final newline through
            raise PipelineInputError("job_name", f"makes the {where} {name!r}, which SageMaker does not take as a name "
                                                 "(1-63 letters, digits or hyphens); use a shorter job_name")


def plan_run(run: Run, execution_name: str, platform: PlatformLocations) -> RunPlan:
    """The plan of a normalised run (pipeline_input.parse_run) for one execution."""
    _check_execution_name(execution_name)
    datasets, artifacts, job = platform.datasets_bucket, platform.artifacts_bucket, run.job_name
    raw_key = _require_under(job, "customer_data_s3_uri", run.customer_data_s3_uri, datasets, RAW_PREFIX, "the sanitisation step")
    _require_own_folder(job, "customer_data_s3_uri", raw_key, datasets, RAW_PREFIX)
    if run.curated_data_s3_uri is not None:
        _require_under(job, "curated_data_s3_uri", run.curated_data_s3_uri, datasets, CURATED_PREFIX, "the training job")
    evaluation_key = _require_under(job, "evaluation.data_s3_uri", run.evaluation.data_s3_uri, datasets, EVALUATION_PREFIX,
                                    "the evaluation job")
    _require_own_folder(job, "evaluation.data_s3_uri", evaluation_key, datasets, EVALUATION_PREFIX)  # byod/ is a team's held-out data
    _require_under(job, "base_model_s3_uri", run.base_model_s3_uri, artifacts, BASE_MODELS_PREFIX, "the training job")

    digest = execution_hash(execution_name)
    run_path = f"{job}/{execution_name}/"
    sanitised = f"{SANITISED_PREFIX}/{run_path}"
    plan = RunPlan(
        execution_name=execution_name,
        run_id=f"{job}-{digest}",
        poll_seconds=platform.poll_seconds,
        datasets_bucket=datasets,
        artifacts_bucket=artifacts,
        # A prefix ends with "/", so raw/tickets does not also take raw/tickets-old.
        sanitisation=SanitisationJob(input_prefix=raw_key if raw_key.endswith("/") else raw_key + "/", output_prefix=sanitised,
                                     settings={}, max_quarantine_percent=platform.max_quarantine_percent, shard_bytes=DEFAULT_SHARD_BYTES),
        customer_data_s3_uri=f"s3://{datasets}/{sanitised}{CLEAN_OUTPUT}/",
        evaluation_data_s3_uri=run.evaluation.data_s3_uri,
        validation_job_name=f"{job}-val-{digest}",
        mixes=tuple(Mix(customer_data_percent=percent, label=percent_label(percent), training_job_name=f"{job}-t{percent_label(percent)}-{digest}",
                        evaluation_job_name=f"{job}-e{percent_label(percent)}-{digest}") for percent in run.customer_data_percents),
        training_output_s3_uri=f"s3://{artifacts}/{TRAINING_PREFIX}/{run_path}",
        checkpoint_s3_uri=f"s3://{artifacts}/{CHECKPOINTS_PREFIX}/{run_path}",
        report_s3_uri=f"s3://{artifacts}/{REPORTS_PREFIX}/{run_path}",
        endpoint_name=job,
    )
    _check_names(plan)
    return plan
