"""Run a CreateTrainingJob request on this machine, as SageMaker would run it in the account.

The request is the one ``openforge_lambda.training_job.training_job_request`` builds for the
StartTrainingJob Lambda; nothing about the job is decided here. SageMaker's contract, mapped
onto folders:

    InputDataConfig[].S3Uri          -> JOB/input/data/<channel>   (a link to the local S3 folder)
    HyperParameters                  -> JOB/input/config/hyperparameters.json
    AlgorithmSpecification           -> ContainerEntrypoint + ContainerArguments, or the image's
                                        own entrypoint (``python -m openforge_training.launch train``)
    OutputDataConfig.S3OutputPath    -> <S3OutputPath><job name>/output/model/ as --output_dir
    CheckpointConfig.S3Uri           -> --checkpoint_dir
    /opt/ml/output/failure           -> JOB/output/failure, the job's FailureReason

where JOB is ``WORK/jobs/<job name>``. The container runs as a subprocess of this Python
with ``training_container`` (and the repository, for ``sanitiser``) on its path, its log in
``WORK/logs/<job name>.log``. What a laptop cannot do as asked (several instances, bf16 on a
CPU, a SageMaker MLflow ARN, a mode other than File) is refused before anything starts,
naming the field: the local run never quietly differs from the job the request describes.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from openforge_contract.environment_variables import OPENFORGE_COMMIT, TRAINING_JOB_NAME
from openforge_lambda.training_job import TRAIN_COMMAND, model_s3_uri

from pipeline.local.s3 import LocalS3

ROOT = Path(__file__).resolve().parents[2]
TRAINING_CONTAINER = ROOT / "training_container"
LOG_TAIL_LINES = 25


class LocalRunRefused(ValueError):
    """The request asks for something this machine cannot run as asked; names the field."""

    def __init__(self, field: str, problem: str):
        self.field, self.problem = field, problem
        super().__init__(f"{field}: {problem}")


@dataclass(frozen=True)
class LocalJobSettings:
    threads: int = 2  # torch / OpenMP threads of the container process (this machine's cores)
    timeout_s: float | None = None  # None: the request's StoppingCondition.MaxRuntimeInSeconds


@dataclass
class LocalJob:
    """One finished job: what CheckTrainingJob would report, plus where the files are."""

    name: str
    status: str  # Completed | Failed | Stopped
    failure_reason: str | None
    output_s3_uri: str | None  # <S3OutputPath><name>/output/model/ when Completed
    log: Path
    seconds: float
    exit_status: int | None

    def check_result(self, step: str) -> dict:
        """In the shape of the CheckTrainingJob Lambda's result (openforge_lambda.training_job.status)."""
        return {"job_name": self.name, "step": step, "target": "training-job", "status": self.status, "done": True,
                "failure_reason": self.failure_reason, "output_s3_uri": self.output_s3_uri}

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""


def check_runnable(request: dict) -> None:
    """LocalRunRefused for anything in the request the local run would have to ignore."""
    resources = request.get("ResourceConfig", {})
    if resources.get("InstanceCount", 1) != 1:
        raise LocalRunRefused("ResourceConfig.InstanceCount", f"{resources['InstanceCount']} instances; this machine runs one "
                                                              "(set compute.instance_count to 1 for a local run)")
    algorithm = request.get("AlgorithmSpecification", {})
    if algorithm.get("TrainingInputMode", "File") != "File":
        raise LocalRunRefused("AlgorithmSpecification.TrainingInputMode", f"{algorithm['TrainingInputMode']}; the local run copies channels (File) only")
    for channel in request.get("InputDataConfig", []):
        source = channel["DataSource"]["S3DataSource"]
        where = f"InputDataConfig[{channel['ChannelName']}]"
        if source.get("S3DataType", "S3Prefix") != "S3Prefix" or channel.get("InputMode", "File") != "File":
            raise LocalRunRefused(where, "only S3Prefix channels in File mode run locally")
        if channel.get("CompressionType", "None") != "None":
            raise LocalRunRefused(where, f"compression {channel['CompressionType']} is not unpacked locally")
    if request.get("OutputDataConfig", {}).get("CompressionType", "NONE") != "NONE":
        raise LocalRunRefused("OutputDataConfig.CompressionType", "the local run leaves files as files (NONE) only")
    hyperparameters = request.get("HyperParameters", {})
    if hyperparameters.get("precision") == "bf16":
        raise LocalRunRefused("HyperParameters.precision", "bf16 needs a GPU or Trainium device; this machine trains on its CPU "
                                                           "(set hyperparameters.precision to auto or fp32)")
    tracking = hyperparameters.get("mlflow_tracking_uri") or ""
    if tracking and not tracking.startswith(("http://", "https://", "file:")):
        raise LocalRunRefused("HyperParameters.mlflow_tracking_uri", f"{tracking} is not reachable from this machine; "
                                                                     "the local runner passes its own MLflow server's http URI")


def run_job(request: dict, store: LocalS3, work: Path, settings: LocalJobSettings = LocalJobSettings()) -> LocalJob:
    """Lay the request out as SageMaker would, run the container, and report how it ended."""
    check_runnable(request)
    work = Path(work).resolve()  # the container runs in the job's folder: every path it is given is absolute
    name = request["TrainingJobName"]
    job_dir = work / "jobs" / name
    if job_dir.exists():
        raise LocalRunRefused("TrainingJobName", f"{name} already ran in {job_dir} (SageMaker never reuses a job name)")
    data = job_dir / "input" / "data"
    data.mkdir(parents=True)
    for channel in request.get("InputDataConfig", []):
        source = store.path(channel["DataSource"]["S3DataSource"]["S3Uri"])
        if not source.is_dir():  # SageMaker fails a job whose channel prefix holds no objects
            return _ended(name, "Failed", f"ClientError: no objects under {channel['DataSource']['S3DataSource']['S3Uri']} "
                                          f"(channel {channel['ChannelName']})", None, work, 0.0, None)
        (data / channel["ChannelName"]).symlink_to(source.resolve(), target_is_directory=True)
    config = job_dir / "input" / "config"
    config.mkdir(parents=True)
    (config / "hyperparameters.json").write_text(json.dumps(request.get("HyperParameters", {}), indent=2))

    output_s3_uri = model_s3_uri(request["OutputDataConfig"]["S3OutputPath"], name)
    output_dir = store.path(output_s3_uri)
    algorithm = request["AlgorithmSpecification"]
    command = list(algorithm.get("ContainerEntrypoint") or TRAIN_COMMAND) + list(algorithm.get("ContainerArguments") or [])
    if command[0] == "python":
        command[0] = sys.executable
    command += ["--input_dir", str(job_dir / "input"), "--output_dir", str(output_dir)]
    if request.get("CheckpointConfig"):
        command += ["--checkpoint_dir", str(store.path(request["CheckpointConfig"]["S3Uri"]))]

    log_path = work / "logs" / f"{name}.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    timeout = settings.timeout_s or request.get("StoppingCondition", {}).get("MaxRuntimeInSeconds")
    started = time.monotonic()
    with open(log_path, "wb") as log:
        log.write(f"$ {' '.join(command)}\n".encode())
        log.flush()
        try:
            completed = subprocess.run(command, cwd=job_dir, env=_environment(name, settings), stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, timeout=timeout, check=False)
        except subprocess.TimeoutExpired:
            return _ended(name, "Stopped", f"MaxRuntimeExceeded: the job ran past {timeout:g} s and was stopped", None, work,
                          time.monotonic() - started, None)
    seconds = time.monotonic() - started
    if completed.returncode != 0:
        failure = job_dir / "output" / "failure"  # the container's own reason, as SageMaker shows it
        reason = failure.read_text().strip() if failure.is_file() else ""
        reason = reason or f"AlgorithmError: the container exited with status {completed.returncode}; see {log_path}"
        return _ended(name, "Failed", reason, None, work, seconds, completed.returncode)
    return _ended(name, "Completed", None, output_s3_uri, work, seconds, 0)


def _ended(name: str, status: str, reason: str | None, output: str | None, work: Path, seconds: float, exit_status: int | None) -> LocalJob:
    return LocalJob(name, status, reason, output, work / "logs" / f"{name}.log", seconds, exit_status)


def _environment(job_name: str, settings: LocalJobSettings) -> dict[str, str]:
    """The container's environment: what SageMaker sets, the image's paths, and thread
    counts for this machine. Nothing from the caller's MLflow settings leaks in: the job
    tracks only where its hyperparameters say."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("MLFLOW_")}
    threads = str(settings.threads)
    env.update({
        TRAINING_JOB_NAME: job_name,  # SageMaker sets it; the container names MLflow runs after it
        "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "OPENBLAS_NUM_THREADS": threads,
        "TOKENIZERS_PARALLELISM": "false", "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1",  # the VPC has no internet
        "HF_HUB_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1",
    })
    env.setdefault(OPENFORGE_COMMIT, _commit())
    return env


def _commit() -> str:
    """The image bakes the commit in; locally it is the working tree's HEAD."""
    try:
        return subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
