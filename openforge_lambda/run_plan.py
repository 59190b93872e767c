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

from openforge_lambda.pipeline_input import SAGEMAKER_NAME_PATTERN, PipelineInputError, is_tag_value, percent_label
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


def execution_hash(execution_name: str) -> str:
    return hashlib.sha256(execution_name.encode()).hexdigest()[:HASH_LENGTH]


def _require_under(run: Mapping, field: str, uri: str, bucket: str, prefix: str, who: str) -> str:
    """The key part of ``uri``, which must lie in ``bucket`` under ``prefix/``."""
    found_bucket, key = split_s3_uri(uri)
    if found_bucket != bucket or not key.startswith(f"{prefix}/"):
        raise PipelineInputError(field, f"{uri} is not under s3://{bucket}/{prefix}/ ({who} reads only there); "
                                        f"copy the data there, e.g. s3://{bucket}/{prefix}/{run['job_name']}/")
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


def _require_own_folder(run: Mapping, field: str, key: str, bucket: str, prefix: str) -> None:
    """``key`` names a folder of its own under ``prefix/`` (raw/<job>/), not the whole of it:
    ``raw/`` holds every team's raw data, and the sanitisation functions may read all of it."""
    folder = key[len(prefix) + 1:].split("/", 1)[0]
    if folder in ("", ".", ".."):
        raise PipelineInputError(field, f"s3://{bucket}/{key} is not a folder of its own under {prefix}/ (which holds every team's data); "
                                        f"give your data's folder, e.g. s3://{bucket}/{prefix}/{run['job_name']}/")


def _check_names(plan: Mapping) -> None:
    """Every SageMaker name the plan makes from the input fits SageMaker's name pattern."""
    names = {"validation_job_name": plan["validation_job_name"], "run_id": plan["run_id"], "endpoint_name": plan["endpoint_name"]}
    for index, mix in enumerate(plan["mixes"]):
        names.update({f"mixes[{index}].{kind}": mix[kind] for kind in ("training_job_name", "evaluation_job_name")})
    for where, name in names.items():
        if not re.fullmatch(SAGEMAKER_NAME_PATTERN, name):  # fullmatch: "$" alone lets a final newline through
            raise PipelineInputError("job_name", f"makes the {where} {name!r}, which SageMaker does not take as a name "
                                                 "(1-63 letters, digits or hyphens); use a shorter job_name")


def plan_run(run: Mapping, execution_name: str, platform: PlatformLocations) -> dict:
    """The plan of a normalised input (pipeline_input.normalise) for one execution."""
    _check_execution_name(execution_name)
    datasets, artifacts, job = platform.datasets_bucket, platform.artifacts_bucket, run["job_name"]
    raw_key = _require_under(run, "customer_data_s3_uri", run["customer_data_s3_uri"], datasets, RAW_PREFIX, "the sanitisation step")
    _require_own_folder(run, "customer_data_s3_uri", raw_key, datasets, RAW_PREFIX)
    if run["curated_data_s3_uri"] is not None:
        _require_under(run, "curated_data_s3_uri", run["curated_data_s3_uri"], datasets, CURATED_PREFIX, "the training job")
    evaluation_key = _require_under(run, "evaluation.data_s3_uri", run["evaluation"]["data_s3_uri"], datasets, EVALUATION_PREFIX,
                                    "the evaluation job")
    _require_own_folder(run, "evaluation.data_s3_uri", evaluation_key, datasets, EVALUATION_PREFIX)  # byod/ is a team's held-out data
    _require_under(run, "base_model_s3_uri", run["base_model_s3_uri"], artifacts, BASE_MODELS_PREFIX, "the training job")

    digest = execution_hash(execution_name)
    run_path = f"{job}/{execution_name}/"
    sanitised = f"{SANITISED_PREFIX}/{run_path}"
    percents = run["grid"]["customer_data_percent"] if run["grid"] else [run["mixing"]["customer_data_percent"]]
    mixes = [{
        "customer_data_percent": percent,
        "label": percent_label(percent),
        "training_job_name": f"{job}-t{percent_label(percent)}-{digest}",
        "evaluation_job_name": f"{job}-e{percent_label(percent)}-{digest}",
    } for percent in percents]
    plan = {
        "execution_name": execution_name,
        "run_id": f"{job}-{digest}",
        "poll_seconds": platform.poll_seconds,
        "buckets": {"datasets": datasets, "artifacts": artifacts},
        # A prefix ends with "/", so raw/tickets does not also take raw/tickets-old.
        # What the sanitisation states read (the same job the standalone sanitisation machine takes).
        "sanitisation": {"input_prefix": raw_key if raw_key.endswith("/") else raw_key + "/", "output_prefix": sanitised,
                         "settings": {}, "max_quarantine_percent": platform.max_quarantine_percent, "shard_bytes": DEFAULT_SHARD_BYTES},
        "customer_data_s3_uri": f"s3://{datasets}/{sanitised}{CLEAN_OUTPUT}/",
        "evaluation_data_s3_uri": run["evaluation"]["data_s3_uri"],
        "validation_job_name": f"{job}-val-{digest}",
        "mixes": mixes,
        "training_output_s3_uri": f"s3://{artifacts}/{TRAINING_PREFIX}/{run_path}",
        "checkpoint_s3_uri": f"s3://{artifacts}/{CHECKPOINTS_PREFIX}/{run_path}",
        "report_s3_uri": f"s3://{artifacts}/{REPORTS_PREFIX}/{run_path}",
        "endpoint_name": job,
    }
    _check_names(plan)
    return plan
