"""The submitter: on the controller node, one pass over this cluster's job specs in S3.

Run every 30 seconds by a systemd timer (``install``), as the unprivileged jobs user. For
each spec under ``hyperpod/<cluster>/jobs/`` that has no final status yet:

- not submitted: check it (``spec.parse``, the cluster's buckets, images and partitions);
  a spec that breaks a rule gets the status REFUSED naming the field. Otherwise write the
  batch script (``batch_script``) and ``sbatch`` it, unless Slurm already knows a job of
  that name (an earlier pass that could not write its status). A cancel request that came
  first means it is never submitted.
- submitted: a cancel request is ``scancel``-ed; the state comes from squeue, then sacct,
  then the state file the batch script left in S3; a job none of them knows ended without
  finishing its script (node lost).

Every status change is written to ``hyperpod/<cluster>/status/<job>.json``, where the
pipeline's check reads it. Nothing here runs a shell: Slurm and the AWS CLI are called with
argument lists.

Usage: python3 -m hyperpod_jobs.submitter --config /etc/openforge/submitter.json
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .batch_script import DEFAULT_WORK_ROOT, sbatch_command, sbatch_script
from .spec import (
    S3_URI,
    SLURM_JOB_ID,
    Allowed,
    JobSpec,
    JobStatus,
    SpecRefused,
    cancel_prefix,
    job_name_of,
    jobs_prefix,
    parse,
    spec_key,
    status_key,
)

COMMAND_TIMEOUT_SECONDS = 120
# Specs, statuses and state files are a few kB (a spec within SageMaker's limits stays well
# under this); anything larger is not fetched, so a huge object under the jobs prefix
# cannot fill the controller's disk or memory.
MAX_OBJECT_BYTES = 1024 * 1024


class CommandFailed(RuntimeError):
    pass


class ObjectTooLarge(RuntimeError):
    pass


@dataclass(frozen=True)
class Config:
    """/etc/openforge/submitter.json, written by the lifecycle scripts from the stack's values."""

    bucket: str  # the artifacts bucket holding hyperpod/<cluster>/
    cluster_name: str
    region: str
    allowed: Allowed
    state_dir: Path  # the submitter's own: batch scripts and the names of finished jobs
    work_root: str = DEFAULT_WORK_ROOT

    @classmethod
    def load(cls, path: Path) -> Config:
        document = json.loads(Path(path).read_text())
        return cls(bucket=document["bucket"], cluster_name=document["cluster_name"], region=document["region"],
                   allowed=Allowed(buckets=frozenset(document["buckets"]), images=frozenset(document["images"]),
                                   partitions=frozenset(document["partitions"])),
                   state_dir=Path(document["state_dir"]), work_root=document.get("work_root") or DEFAULT_WORK_ROOT)


def run(argv: list[str], *, input_text: str | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(argv, input=input_text, capture_output=True, text=True, timeout=COMMAND_TIMEOUT_SECONDS, check=False)


class Bucket:
    """S3 through the AWS CLI that the HyperPod AMI has (s3api: one call, one API operation)."""

    def __init__(self, name: str, region: str):
        self.name, self.region = name, region

    def keys(self, prefix: str, bucket: str | None = None) -> list[str]:
        return list(self._sizes(prefix, bucket))

    def _sizes(self, prefix: str, bucket: str | None = None) -> dict[str, int]:
        done = self._aws("list-objects-v2", "--bucket", bucket or self.name, "--prefix", prefix)
        return {item["Key"]: int(item["Size"]) for item in json.loads(done.stdout or "{}").get("Contents") or []}

    def get(self, key: str, bucket: str | None = None) -> str | None:
        """The object's text; None when there is no such object. Listed first: S3 answers a
        GetObject of a missing key with 403, not 404, unless the caller may list the whole
        bucket (https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html), and the
        node role may list only its prefixes."""
        size = self._sizes(key, bucket).get(key)
        if size is None:
            return None
        if size > MAX_OBJECT_BYTES:
            raise ObjectTooLarge(f"s3://{bucket or self.name}/{key} is {size} bytes, more than the {MAX_OBJECT_BYTES} read here")
        with tempfile.TemporaryDirectory() as folder:
            target = Path(folder) / "object"
            self._aws("get-object", "--bucket", bucket or self.name, "--key", key, str(target))
            return target.read_text()

    def put(self, key: str, text: str) -> None:
        """Encrypted by the bucket's default (its KMS key, bucket key on)."""
        with tempfile.TemporaryDirectory() as folder:
            body = Path(folder) / "body.json"
            body.write_text(text)
            self._aws("put-object", "--bucket", self.name, "--key", key, "--body", str(body), "--content-type", "application/json")

    def _aws(self, operation: str, *arguments: str) -> subprocess.CompletedProcess:
        done = run(["aws", "s3api", operation, *arguments, "--region", self.region, "--output", "json"])
        if done.returncode != 0:
            raise CommandFailed(f"aws s3api {operation}: {done.stderr.strip()[-500:]}")
        return done


class Slurm:
    """squeue, sacct, sbatch and scancel, each called with an argument list."""

    def find(self, job_name: str) -> str | None:
        """The id of a job of this name that this user submitted and Slurm still knows
        (queued, running or accounted). Only this user's: squeue lists every user's jobs, and
        another cluster user's job of the same name must not be adopted."""
        user = f"--user={os.getuid()}"  # squeue and sacct take user ids as well as names
        queued = run(["squeue", "-h", user, "-n", job_name, "-o", "%i"])
        ids = queued.stdout.split() if queued.returncode == 0 else []
        if not ids:
            accounted = run(["sacct", "-n", "-X", "-P", user, "-S", "now-7days", "--name", job_name, "-o", "JobID"])
            ids = accounted.stdout.split() if accounted.returncode == 0 else []
        return _job_id(ids[0], "squeue/sacct") if ids else None

    def state(self, job_id: str) -> tuple[str, int | None, str] | None:
        """(state, exit code, source) from squeue, else sacct (where the cluster keeps accounting)."""
        queued = run(["squeue", "-h", "-j", job_id, "-o", "%T"])
        if queued.returncode == 0 and queued.stdout.strip():
            return queued.stdout.strip().split("\n")[0].strip(), None, "squeue"
        accounted = run(["sacct", "-n", "-X", "-P", "-j", job_id, "-o", "State,ExitCode"])
        lines = [line for line in accounted.stdout.strip().split("\n") if line] if accounted.returncode == 0 else []
        if lines:
            state, _, exit_code = lines[-1].partition("|")
            return state.strip(), _exit_code(exit_code.split(":")[0]), "sacct"
        return None

    def submit(self, script_path: str) -> str:
        done = run(sbatch_command(script_path))
        if done.returncode != 0:
            raise CommandFailed(done.stderr.strip()[-500:] or f"sbatch exited {done.returncode}")
        return _job_id(done.stdout.strip().split(";")[0], "sbatch")

    def cancel(self, job_id: str) -> None:
        done = run(["scancel", job_id])
        if done.returncode != 0:
            raise CommandFailed(f"scancel {job_id}: {done.stderr.strip()[-500:]}")


class Submitter:
    def __init__(self, config: Config, bucket: Bucket | None = None, slurm: Slurm | None = None):
        self.config = config
        self.bucket = bucket or Bucket(config.bucket, config.region)
        self.slurm = slurm or Slurm()
        self.finished = config.state_dir / "finished"
        self.scripts = config.state_dir / "scripts"

    def run_once(self) -> list[str]:
        """One pass; returns the problems met (each job is handled on its own)."""
        cluster = self.config.cluster_name
        jobs = [name for name in (job_name_of(key, jobs_prefix(cluster)) for key in self.bucket.keys(jobs_prefix(cluster))) if name]
        cancels = {name for name in (job_name_of(key, cancel_prefix(cluster)) for key in self.bucket.keys(cancel_prefix(cluster))) if name}
        problems = []
        for name in sorted(jobs):
            if (self.finished / name).exists():
                continue
            try:
                self.handle(name, cancel_requested=name in cancels)
            except Exception as error:  # noqa: BLE001 - one job's trouble must not stop the others
                problems.append(f"{name}: {error}")
                print(f"openforge-submitter: {name}: {error}", file=sys.stderr)
        return problems

    def handle(self, name: str, *, cancel_requested: bool) -> None:
        text = self.bucket.get(status_key(self.config.cluster_name, name))
        status = JobStatus.from_json(text) if text else None
        if status is not None and status.final:
            self._finished(name)
        elif status is not None and status.slurm_job_id and not SLURM_JOB_ID.fullmatch(str(status.slurm_job_id)):
            self._write(JobStatus(name, "FAILED", reason=f"the status file names Slurm job id {status.slurm_job_id!r}, which is "
                                                         "not a job id; not passed to Slurm"))
        elif status is None or not status.slurm_job_id:
            self._submit(name, cancel_requested)
        else:
            self._follow(status, cancel_requested)

    def _submit(self, name: str, cancel_requested: bool) -> None:
        try:
            text = self.bucket.get(spec_key(self.config.cluster_name, name))
        except ObjectTooLarge as error:
            self._write(JobStatus(name, "REFUSED", reason=f"job spec refused on the cluster: (spec): {error}"))
            return
        if text is None:
            return  # listed a moment ago, gone now: nothing to do
        try:
            spec = parse(text, self.config.allowed)
            if spec.job_name != name:
                raise SpecRefused("job_name", f"must be the name the spec is stored under ({name}), got {spec.job_name!r}")
        except SpecRefused as refusal:
            self._write(JobStatus(name, "REFUSED", reason=f"job spec refused on the cluster: {refusal}"))
            return
        if cancel_requested:
            self._write(JobStatus(name, "CANCELLED", reason="cancelled before it was submitted"))
            return
        job_id = self.slurm.find(name)
        source = "squeue"
        if job_id is None:
            try:
                job_id, source = self.slurm.submit(self._script(spec)), "sbatch"
            except CommandFailed as error:
                self._write(JobStatus(name, "FAILED", reason=f"sbatch refused the job: {error}", source="sbatch"))
                return
        self._write(JobStatus(name, "SUBMITTED", slurm_job_id=job_id, source=source,
                              log_s3_uri=f"{spec.job_output_s3_uri}slurm-{job_id}.out", state_s3_uri=spec.state_s3_uri))

    def _follow(self, status: JobStatus, cancel_requested: bool) -> None:
        job_id = status.slurm_job_id
        if cancel_requested:
            self.slurm.cancel(job_id)
        observed = self.slurm.state(job_id) or self._left_state(status.state_s3_uri)
        if observed is None:
            state, exit_code, source = (("CANCELLED", None, "submitter") if cancel_requested else
                                        ("FAILED", None, "submitter"))
            reason = ("cancelled" if cancel_requested else
                      f"Slurm job {job_id} is not queued, has no accounting record and left no state at "
                      f"{status.state_s3_uri}: it ended without finishing its script (node lost?)")
        else:
            state, exit_code, source = observed
            reason = None
            if cancel_requested and state.split(" ")[0] in ("FAILED", "CANCELLED"):
                state, reason = "CANCELLED", "cancelled at the pipeline's request"
            elif state.split(" ")[0] != "COMPLETED" and JobStatus(status.job_name, state).final:
                reason = f"Slurm job {job_id} ended {state}" + (f" (exit code {exit_code})" if exit_code is not None else "")
        updated = JobStatus(status.job_name, state, slurm_job_id=job_id, exit_code=exit_code, reason=reason, source=source,
                            log_s3_uri=status.log_s3_uri, state_s3_uri=status.state_s3_uri)
        if updated != status:
            self._write(updated)
        elif updated.final:
            self._finished(status.job_name)

    def _left_state(self, state_s3_uri: str | None) -> tuple[str, int | None, str] | None:
        """"<STATE> <exit code>" from the file the batch script leaves when it ends."""
        match = S3_URI.fullmatch(state_s3_uri or "")
        if not match:
            return None
        text = self.bucket.get(match.group("key"), bucket=match.group("bucket"))
        if not text or not text.strip():
            return None
        state, _, code = text.strip().partition(" ")
        return state, _exit_code(code), "job state file"

    def _script(self, spec: JobSpec) -> str:
        self.scripts.mkdir(parents=True, exist_ok=True)
        path = self.scripts / f"{spec.job_name}.sbatch"
        path.write_text(sbatch_script(spec, work_root=self.config.work_root))
        path.chmod(0o600)
        return str(path)

    def _write(self, status: JobStatus) -> None:
        self.bucket.put(status_key(self.config.cluster_name, status.job_name), status.to_json())
        if status.final:
            self._finished(status.job_name)

    def _finished(self, name: str) -> None:
        self.finished.mkdir(parents=True, exist_ok=True)
        (self.finished / name).touch()


def _job_id(text: str, source: str) -> str:
    if not SLURM_JOB_ID.fullmatch(text):
        raise CommandFailed(f"{source} printed {text!r} where a Slurm job id belongs")
    return text


def _exit_code(text: str) -> int | None:
    text = (text or "").strip()
    return int(text) if text.isdigit() else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args(argv)
    os.umask(0o077)
    problems = Submitter(Config.load(args.config)).run_once()
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
