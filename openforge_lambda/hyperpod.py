"""Run a step of a run (``compute.target: hyperpod``) on the environment's HyperPod cluster:
the same training container, as a Slurm job, laid out as a SageMaker training job would be,
so everything after it reads the same places.

No shell text crosses the wire and no command reaches a node from here. ``start`` writes
the step's job spec (``hyperpod_jobs.spec``: data, checked against a strict schema) to
``hyperpod/<cluster>/jobs/<job name>.json`` in the artifacts bucket. The submitter that
the lifecycle scripts install on the controller (``hyperpod_jobs.submitter``) checks it
again, writes the batch script itself, submits it with sbatch as an unprivileged user and
writes the job's state to ``hyperpod/<cluster>/status/<job name>.json``, which ``status``
reads. ``cancel`` writes ``hyperpod/<cluster>/cancel/<job name>.json``; the submitter
scancels. These functions need S3 only (through the VPC's gateway endpoint), on the
cluster's prefix only.

A retried start writes the same spec again: the submitter submits a name once (it keeps the
Slurm job id in the status, and adopts a job of that name Slurm already knows).
Plain boto3.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from hyperpod_jobs.spec import Allowed, JobSpec, JobStatus, SpecRefused, cancel_key, parse, slurm_status, spec_key, status_key

from openforge_contract.environment_variables import HyperPodCluster, TrainingEnvironment
from openforge_contract.instance_catalogue import uses_neuron
from openforge_lambda.training_job import JobPlan, TrainingRequestRefused, image_for, max_runtime_for

TARGET = "hyperpod"
# The worker groups (and partitions) of the cluster in constructs/hyperpod_cluster (instance_groups).
GPU_PARTITION, TRAINIUM_PARTITION = "gpu-workers", "trainium-workers"
# The submitter runs every 30 seconds; a spec with no status after this long means it is
# not running (controller replaced, service failed), and the step fails saying so.
PICKUP_SECONDS = 15 * 60


@dataclass(frozen=True)
class HyperPodEnvironment:
    """What the stack sets on the start, check and clean-up functions for hyperpod runs."""

    cluster_name: str
    jobs_bucket: str  # the artifacts bucket: hyperpod/<cluster>/ holds specs, statuses, cancel requests
    buckets: tuple[str, ...]  # the buckets a job may read and write
    gpu_image_uri: str
    neuron_image_uri: str
    mlflow_tracking_server_arn: str
    max_runtime_seconds: int

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> HyperPodEnvironment:
        cluster, training = HyperPodCluster.from_environment(environ), TrainingEnvironment.from_environment(environ)
        return cls(cluster_name=cluster.cluster_name, jobs_bucket=cluster.jobs_bucket, buckets=cluster.buckets,
                   gpu_image_uri=training.gpu_image_uri, neuron_image_uri=training.neuron_image_uri,
                   mlflow_tracking_server_arn=training.mlflow_tracking_server_arn, max_runtime_seconds=training.max_runtime_seconds)

    @property
    def allowed(self) -> Allowed:
        return Allowed(buckets=frozenset(self.buckets), images=frozenset((self.gpu_image_uri, self.neuron_image_uri)),
                       partitions=frozenset((GPU_PARTITION, TRAINIUM_PARTITION)))


def partition_for(instance_type: str) -> str:
    return TRAINIUM_PARTITION if uses_neuron(instance_type) else GPU_PARTITION


def job_spec(job: JobPlan, environment: HyperPodEnvironment) -> JobSpec:
    """The step as a job spec, checked by the same rules the submitter applies;
    TrainingRequestRefused names the field that breaks one."""
    document = {
        "version": 1, "job_name": job.name, "step": job.step, "command": list(job.command), "channels": dict(job.channels),
        "hyperparameters": dict(job.hyperparameters), "output_s3_uri": job.output_s3_uri,
        "checkpoint_s3_uri": job.checkpoint_s3_uri, "instance_type": job.instance_type, "instance_count": job.instance_count,
        "partition": partition_for(job.instance_type),
        "image_uri": image_for(job.instance_type, environment.gpu_image_uri, environment.neuron_image_uri),
        "max_runtime_seconds": max_runtime_for(job.step, environment.max_runtime_seconds),
    }
    try:
        return parse(document, environment.allowed)
    except SpecRefused as refusal:
        raise TrainingRequestRefused(f"hyperpod job spec {refusal.field}", refusal.problem) from None


def start(s3, job: JobPlan, environment: HyperPodEnvironment, *, clock: Callable[[], float] = time.time) -> dict:
    """Write the step's job spec (``training_job.job_plan``) where the cluster's submitter takes
    it; returns what status needs."""
    spec = job_spec(job, environment)
    key = spec_key(environment.cluster_name, spec.job_name)
    s3.put_object(Bucket=environment.jobs_bucket, Key=key, Body=spec.to_json().encode(), ContentType="application/json")
    return {"step": job.step, "target": TARGET, "job_name": spec.job_name, "mix": job.mix.to_dict() if job.mix else None,
            "cluster_name": environment.cluster_name,
            "jobs_bucket": environment.jobs_bucket, "spec_s3_uri": f"s3://{environment.jobs_bucket}/{key}",
            "output_s3_uri": spec.model_s3_uri, "written_at": clock()}


def status(s3, job: Mapping, *, clock: Callable[[], float] = time.time) -> dict:
    """For a Wait and Choice loop, the same shape as training_job.status."""
    name = job["job_name"]
    result = {"job_name": name, "step": job.get("step"), "target": TARGET, "status": "InProgress", "done": False,
              "failure_reason": None, "output_s3_uri": None}
    found = _read_status(s3, job["jobs_bucket"], job["cluster_name"], name)
    if found is None:
        waited = clock() - float(job["written_at"])
        if waited < PICKUP_SECONDS:
            return result  # the submitter takes specs up every 30 seconds
        return {**result, "status": "Failed", "done": True,
                "failure_reason": f"the submitter on HyperPod cluster {job['cluster_name']} has not taken up job {name} "
                                  f"in {int(waited // 60)} minutes (spec {job['spec_s3_uri']}): is the openforge-submitter "
                                  "timer running on the controller?"}
    outcome = slurm_status(found.state)
    if outcome == "Completed":
        return {**result, "status": outcome, "done": True, "output_s3_uri": job["output_s3_uri"]}
    if outcome in ("Failed", "Stopped"):
        reason = found.reason or f"Slurm job {name} ended {found.state} ({found.source})"
        log = f"; its log: {found.log_s3_uri}" if found.log_s3_uri else ""
        return {**result, "status": outcome, "done": True, "failure_reason": f"{reason}{log}"}
    return result


def cancel(s3, bucket: str, cluster_name: str, job_names: list[str]) -> list[str]:
    """Ask the submitter to scancel each named job that has a spec and no final status yet
    (a job not yet submitted is then never submitted); returns those names."""
    requested = []
    for name in job_names:
        found = _read_status(s3, bucket, cluster_name, name)
        if found is not None and found.final:
            continue
        if found is None and not _exists(s3, bucket, spec_key(cluster_name, name)):
            continue  # never started
        s3.put_object(Bucket=bucket, Key=cancel_key(cluster_name, name), Body=b'{"cancel": true}\n', ContentType="application/json")
        requested.append(name)
    return requested


def _read_status(s3, bucket: str, cluster_name: str, name: str) -> JobStatus | None:
    key = status_key(cluster_name, name)
    if not _exists(s3, bucket, key):
        return None
    return JobStatus.from_json(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def _exists(s3, bucket: str, key: str) -> bool:
    """Listed, not fetched: S3 answers a GetObject of a missing key with 403, not 404,
    unless the caller may list the whole bucket
    (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html); these roles may
    list only the cluster's prefixes."""
    listed = s3.list_objects_v2(Bucket=bucket, Prefix=key, MaxKeys=1).get("Contents") or []
    return any(item["Key"] == key for item in listed)
