"""The job spec: what the pipeline asks the HyperPod cluster to run, as data.

Defined once here and checked on both sides: by the start function before it writes the
spec, and by the submitter on the controller before anything reaches Slurm. Every field is
checked against a strict rule (AWS's own limits where AWS has one), unknown fields are
refused, and the refusal names the field. Nothing in a spec is ever run as shell text: the
submitter writes the batch script and quotes every value it takes from here.

Also here: where specs, statuses and cancel requests live in the bucket (one prefix per
cluster, which IAM scopes each role to), and what a status file says.
"""
from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass

from . import sagemaker_limits as limits

VERSION = 1
# The container's entrypoints: the only commands a job may run. Said here, not in the
# Lambda code, because the submitter (standard library only) checks them too.
TRAIN_COMMAND = ("python", "-m", "openforge_training.launch", "train")
EVALUATE_COMMAND = ("python", "-m", "openforge_training.evaluate")
COMMANDS = (TRAIN_COMMAND, EVALUATE_COMMAND)
STEPS = ("validation", "training", "evaluation")

# Names as SageMaker allows them, so a Slurm job and a training job of one step share
# their name (botocore's sagemaker model, TrainingJobName and ChannelName:
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_CreateTrainingJob.html,
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_Channel.html).
JOB_NAME = re.compile(limits.NAME)
CHANNEL_NAME = re.compile(limits.CHANNEL_NAME)
# Hyperparameters: SageMaker takes keys up to 256 and values up to 2,500 characters
# (HyperParameters in CreateTrainingJob, link above). Keys here must also be identifiers:
# the container reads them as its config's field names.
HYPERPARAMETER_KEY = re.compile(rf"[A-Za-z_][A-Za-z0-9_]{{0,{limits.MAX_HYPERPARAMETER_KEY - 1}}}")
MAX_HYPERPARAMETER_VALUE = limits.MAX_HYPERPARAMETER_VALUE
MAX_HYPERPARAMETERS = limits.MAX_HYPERPARAMETERS
# The batch script hands the hyperparameters to every node in one environment variable, and
# Linux refuses any single environment string over 128 KiB (MAX_ARG_STRLEN) at exec: keep the
# JSON well under it, so a job fails here with the field named, not in srun with E2BIG.
MAX_HYPERPARAMETERS_JSON_BYTES = 96 * 1024
# S3Uri is at most 1,024 characters (botocore's sagemaker model, S3DataSource.S3Uri). A
# bucket name follows S3's naming rules
# (https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html); keys are
# held to a conservative character set (letters, digits and . _ - / = + @ ,), with no
# empty, "." or ".." segment.
MAX_S3_URI = limits.MAX_S3_URI
S3_URI = re.compile(r"s3://(?P<bucket>[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9])/(?P<key>[A-Za-z0-9._\-/=+@,]*)")
INSTANCE_TYPE = re.compile(r"ml\.[a-z0-9]+\.[a-z0-9]+")
PARTITION = re.compile(r"[A-Za-z0-9_\-]{1,63}")
# An ECR image: <account>.dkr.ecr.<region>.amazonaws.com/<repository>:<tag> (checked
# against the images the cluster was given as well).
IMAGE_URI = re.compile(r"[0-9]{12}\.dkr\.ecr\.[a-z0-9\-]+\.amazonaws\.com(\.cn)?/[a-z0-9._/\-]+:[A-Za-z0-9._\-]{1,128}")
# A training job runs at most 28 days (StoppingCondition.MaxRuntimeInSeconds:
# https://docs.aws.amazon.com/sagemaker/latest/APIReference/API_StoppingCondition.html).
MAX_RUNTIME_SECONDS = limits.MAX_RUNTIME_SECONDS
MAX_INSTANCE_COUNT = 1024
# A Slurm job id as sbatch --parsable, squeue and sacct print it: a number. A status file
# is writable by every node (the node role), so an id read back from one is checked before
# it reaches scancel/squeue/sacct as an argument ("--user=openforge" would be an option).
SLURM_JOB_ID = re.compile(r"[0-9]{1,10}")
def hyperparameters_json(hyperparameters: dict) -> str:
    """hyperparameters.json as the batch script writes it on every node."""
    return json.dumps(hyperparameters, indent=2, sort_keys=True)


FIELDS = ("version", "job_name", "step", "command", "channels", "hyperparameters", "output_s3_uri", "checkpoint_s3_uri",
          "instance_type", "instance_count", "partition", "image_uri", "max_runtime_seconds")

# Slurm job states (squeue/sacct) as the pipeline's training job statuses. REFUSED is the
# submitter's own: the spec failed its checks and never reached Slurm.
IN_PROGRESS = ("PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED", "STAGE_OUT",
               "SIGNALING", "REQUEUE_HOLD", "REQUEUE_FED", "SUBMITTED")
STATUS_OF_STATE = {
    **dict.fromkeys(IN_PROGRESS, "InProgress"),
    "COMPLETED": "Completed",
    **dict.fromkeys(("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED", "REFUSED"), "Failed"),
    "CANCELLED": "Stopped",
}


class SpecRefused(ValueError):
    """A spec that breaks a rule; names the field."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


def slurm_status(state: str) -> str:
    """A Slurm job state as a training job status. sacct writes "CANCELLED by 0" and
    "COMPLETED+"-style suffixes; only the word counts. A state not known here is Failed,
    so a Wait loop cannot spin on it forever."""
    word = (state or "").strip().split(" ")[0].rstrip("+").upper()
    return STATUS_OF_STATE.get(word, "Failed")


def is_final(state: str) -> bool:
    return slurm_status(state) != "InProgress"


# --- where things live -------------------------------------------------------------------

def cluster_prefix(cluster_name: str) -> str:
    """Everything about one cluster's jobs, in the artifacts bucket: IAM scopes to this."""
    return f"hyperpod/{_checked(JOB_NAME, cluster_name, 'cluster_name')}/"


def jobs_prefix(cluster_name: str) -> str:
    return f"{cluster_prefix(cluster_name)}jobs/"


def status_prefix(cluster_name: str) -> str:
    return f"{cluster_prefix(cluster_name)}status/"


def cancel_prefix(cluster_name: str) -> str:
    return f"{cluster_prefix(cluster_name)}cancel/"


def spec_key(cluster_name: str, job_name: str) -> str:
    return f"{jobs_prefix(cluster_name)}{_checked(JOB_NAME, job_name, 'job_name')}.json"


def status_key(cluster_name: str, job_name: str) -> str:
    return f"{status_prefix(cluster_name)}{_checked(JOB_NAME, job_name, 'job_name')}.json"


def cancel_key(cluster_name: str, job_name: str) -> str:
    return f"{cancel_prefix(cluster_name)}{_checked(JOB_NAME, job_name, 'job_name')}.json"


def job_name_of(key: str, prefix: str) -> str | None:
    """The job name a spec, status or cancel key stands for; None for any other key."""
    if not key.startswith(prefix) or not key.endswith(".json"):
        return None
    name = key[len(prefix):-len(".json")]
    return name if JOB_NAME.fullmatch(name) else None


# --- the spec ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Allowed:
    """What this cluster accepts: the buckets a job may read and write, its images, its partitions."""

    buckets: frozenset[str]
    images: frozenset[str]
    partitions: frozenset[str]


@dataclass(frozen=True)
class JobSpec:
    job_name: str
    step: str
    command: tuple[str, ...]
    channels: dict[str, str]  # channel name -> S3 prefix, copied to /opt/ml/input/data/<name>
    hyperparameters: dict[str, str]
    output_s3_uri: str  # the model goes under <this><job name>/output/model/, as a training job's would
    checkpoint_s3_uri: str | None
    instance_type: str
    instance_count: int
    partition: str
    image_uri: str
    max_runtime_seconds: int

    @property
    def job_output_s3_uri(self) -> str:
        return f"{self.output_s3_uri}{self.job_name}/output/"

    @property
    def model_s3_uri(self) -> str:
        return f"{self.job_output_s3_uri}model/"

    @property
    def state_s3_uri(self) -> str:
        """Where the batch script leaves "<STATE> <exit code>" when it ends (squeue forgets)."""
        return f"{self.job_output_s3_uri}slurm-state"

    def to_document(self) -> dict:
        return {"version": VERSION, "job_name": self.job_name, "step": self.step, "command": list(self.command),
                "channels": dict(self.channels), "hyperparameters": dict(self.hyperparameters),
                "output_s3_uri": self.output_s3_uri, "checkpoint_s3_uri": self.checkpoint_s3_uri,
                "instance_type": self.instance_type, "instance_count": self.instance_count, "partition": self.partition,
                "image_uri": self.image_uri, "max_runtime_seconds": self.max_runtime_seconds}

    def to_json(self) -> str:
        return json.dumps(self.to_document(), indent=2, sort_keys=True)


def parse(document: object, allowed: Allowed) -> JobSpec:
    """A spec from its JSON document (text or parsed), every field checked; SpecRefused
    names the first field that breaks a rule."""
    if isinstance(document, (str, bytes)):
        try:
            document = json.loads(document)
        except ValueError as error:
            raise SpecRefused("(spec)", f"is not JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise SpecRefused("(spec)", "must be a JSON object")
    unknown = sorted(set(document) - set(FIELDS))
    if unknown:
        raise SpecRefused(unknown[0], f"is not a field of a job spec (fields: {', '.join(FIELDS)})")
    missing = [name for name in FIELDS if name not in document]
    if missing:
        raise SpecRefused(missing[0], "is required")
    if document["version"] != VERSION:
        raise SpecRefused("version", f"must be {VERSION}, got {document['version']!r}")
    job_name = _checked(JOB_NAME, document["job_name"], "job_name", "SageMaker's job name pattern (letters, digits, '-', at most 63)")
    step = document["step"]
    if step not in STEPS:
        raise SpecRefused("step", f"must be one of {', '.join(STEPS)}, got {step!r}")
    command = document["command"]
    if not isinstance(command, list) or tuple(command) not in COMMANDS:
        raise SpecRefused("command", f"must be one of the container's entrypoints {[list(known) for known in COMMANDS]}, got {command!r}")
    channels = _mapping(document["channels"], "channels")
    if not channels:
        raise SpecRefused("channels", "must name at least one channel")
    for name, uri in channels.items():
        _checked(CHANNEL_NAME, name, f"channels.{name}", "a channel name: letters, digits, '.', '-', '_', at most 64")
        if name in (".", ".."):  # a folder name under /opt/ml/input/data: "." or ".." would land elsewhere
            raise SpecRefused(f"channels.{name}", "must not be '.' or '..'")
        _s3_prefix(uri, f"channels.{name}", allowed)
    hyperparameters = _mapping(document["hyperparameters"], "hyperparameters")
    if len(hyperparameters) > MAX_HYPERPARAMETERS:
        raise SpecRefused("hyperparameters", f"at most {MAX_HYPERPARAMETERS}, got {len(hyperparameters)}")
    for key, value in hyperparameters.items():
        _checked(HYPERPARAMETER_KEY, key, f"hyperparameters.{key}", "an identifier of at most 256 characters")
        if not isinstance(value, str) or len(value) > MAX_HYPERPARAMETER_VALUE or any(c in value for c in limits.LINE_TERMINATORS):
            raise SpecRefused(f"hyperparameters.{key}", f"must be one line of at most {MAX_HYPERPARAMETER_VALUE} characters")
    encoded = len(hyperparameters_json(hyperparameters).encode())
    if encoded > MAX_HYPERPARAMETERS_JSON_BYTES:
        raise SpecRefused("hyperparameters", f"{encoded} bytes as JSON; a Slurm job passes them to its nodes in one environment "
                                             f"variable, which must stay under {MAX_HYPERPARAMETERS_JSON_BYTES}")
    checkpoint = document["checkpoint_s3_uri"]
    if checkpoint is not None:
        _s3_prefix(checkpoint, "checkpoint_s3_uri", allowed)
    partition = _checked(PARTITION, document["partition"], "partition")
    if partition not in allowed.partitions:
        raise SpecRefused("partition", f"must be one of this cluster's partitions ({', '.join(sorted(allowed.partitions))}), got {partition!r}")
    image = _checked(IMAGE_URI, document["image_uri"], "image_uri", "an ECR image URI")
    if image not in allowed.images:
        raise SpecRefused("image_uri", f"must be one of this cluster's training images, got {image!r}")
    return JobSpec(
        job_name=job_name, step=step, command=tuple(command), channels=dict(channels), hyperparameters=dict(hyperparameters),
        output_s3_uri=_s3_prefix(document["output_s3_uri"], "output_s3_uri", allowed), checkpoint_s3_uri=checkpoint,
        instance_type=_checked(INSTANCE_TYPE, document["instance_type"], "instance_type", "an instance type such as ml.p5.48xlarge"),
        instance_count=_whole(document["instance_count"], "instance_count", MAX_INSTANCE_COUNT), partition=partition,
        image_uri=image, max_runtime_seconds=_whole(document["max_runtime_seconds"], "max_runtime_seconds", MAX_RUNTIME_SECONDS),
    )


def _checked(pattern: re.Pattern, value: object, field: str, what: str = "") -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise SpecRefused(field, f"must match {what or pattern.pattern}, got {value!r}")
    return value


def _mapping(value: object, field: str) -> Mapping:
    if not isinstance(value, Mapping):
        raise SpecRefused(field, "must be a JSON object")
    return value


def _whole(value: object, field: str, most: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= most:
        raise SpecRefused(field, f"must be a whole number from 1 to {most}, got {value!r}")
    return value


def _s3_prefix(value: object, field: str, allowed: Allowed) -> str:
    """An s3:// prefix (ending in "/") in one of the allowed buckets, its key in the safe set."""
    if not isinstance(value, str) or len(value) > MAX_S3_URI:
        raise SpecRefused(field, f"must be an s3:// URI of at most {MAX_S3_URI} characters")
    match = S3_URI.fullmatch(value)
    if not match or not value.endswith("/"):
        raise SpecRefused(field, "must be an s3://<bucket>/<prefix>/ URI (letters, digits and . _ - / = + @ , in the key, "
                                 f"ending in '/'), got {value!r}")
    segments = match.group("key").split("/")[:-1]
    if any(segment in ("", ".", "..") for segment in segments):
        raise SpecRefused(field, f"must not have an empty, '.' or '..' segment, got {value!r}")
    if match.group("bucket") not in allowed.buckets:
        raise SpecRefused(field, f"must be in one of the buckets {', '.join(sorted(allowed.buckets))}, got {value!r}")
    return value


# --- the status ----------------------------------------------------------------------------

@dataclass(frozen=True)
class JobStatus:
    """What the submitter writes to ``status_key``: the Slurm state and why it ended."""

    job_name: str
    state: str  # a Slurm job state, or REFUSED
    slurm_job_id: str | None = None
    exit_code: int | None = None
    reason: str | None = None
    source: str = "submitter"  # squeue, sacct, the job's state file, or the submitter itself
    log_s3_uri: str | None = None
    state_s3_uri: str | None = None

    @property
    def final(self) -> bool:
        return is_final(self.state)

    def to_json(self) -> str:
        return json.dumps(self.__dict__, indent=2, sort_keys=True)

    @classmethod
    def from_json(cls, text) -> JobStatus:
        document = json.loads(text)
        return cls(**{key: document.get(key) for key in cls.__dataclass_fields__ if key in document})
