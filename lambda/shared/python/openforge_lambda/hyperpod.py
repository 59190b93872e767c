"""Run a step of a run (``compute.target: hyperpod``) on the environment's HyperPod cluster:
the same training container, as a Slurm job submitted on the controller node through SSM
Run Command, laid out as a SageMaker training job would be, so everything after it reads
the same places.

What the batch script does, on every node of the job: copy each channel from S3 to the
node's disk (``/opt/ml/input/data/<channel>`` as the container sees it), write
``hyperparameters.json``, and run the container's entrypoint under ``srun`` with pyxis
(``--container-image``). The first node (rank 0, which exports the model) then copies
``/opt/ml/model`` to ``<S3OutputPath><job name>/output/model/``, as a training job would.
The job's name is the step's derived name (``training_job.job_plan``); a retried start
finds it queued and does not submit it twice. On exit the script leaves its log
(``slurm-<id>.out``) and ``slurm-state`` ("COMPLETED 0" / "FAILED <exit code>") under
``<S3OutputPath><job name>/output/``: squeue forgets a finished job within minutes, and this
cluster keeps no Slurm accounting for sacct (status asks squeue, then sacct, then that file).

What the cluster needs, which this module does not set up:
- enroot and pyxis on every worker (the platform's lifecycle scripts do not install them
  yet), with enroot credentials for the ECR registry of the training images, e.g. a line
  ``machine <account>.dkr.ecr.<region>.amazonaws.com login AWS password $(aws ecr
  get-login-password --region <region>)`` in root's ``~/.config/enroot/.credentials``
  (Run Command runs as root, so the jobs do too);
- the node role able to pull the images and read and write the run's prefixes (the
  compute stack grants both) and the AWS CLI on every node (the HyperPod AMI has it);
- the SSM agent on the controller (HyperPod runs it on every node).
Not verified against a live cluster: that SendCommand accepts HyperPod's
``sagemaker-cluster:<cluster-id>_<group>-<instance-id>`` target (Session Manager does);
devices on Trainium nodes inside an enroot container; checkpoints stay on the node (no
S3 sync, so a requeued job starts over).
Plain boto3.
"""
from __future__ import annotations

import json
import math
import os
import shlex
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from botocore.exceptions import ClientError

from openforge_lambda.instance_catalogue import uses_neuron
from openforge_lambda.settings import required
from openforge_lambda.training_job import JobPlan, image_for, job_plan, max_runtime_for, max_runtime_seconds

TARGET = "hyperpod"
DOCUMENT = "AWS-RunShellScript"
# The worker groups (and partitions) of the cluster in stacks/compute_stack.py.
GPU_PARTITION, TRAINIUM_PARTITION = "gpu-workers", "trainium-workers"
SCRIPT_DIR = "/var/lib/openforge/slurm"  # on the controller, where each job's batch script is kept
# How long a call waits for Run Command on the controller before leaving it to the next check.
WAIT_SECONDS = 20
FINISHED_INVOCATIONS = ("Success", "Cancelled", "TimedOut", "Failed")
SLURM_STATUS = {
    **dict.fromkeys(("PENDING", "RUNNING", "COMPLETING", "CONFIGURING", "REQUEUED", "RESIZING", "SUSPENDED",
                     "STAGE_OUT", "SIGNALING", "REQUEUE_HOLD", "REQUEUE_FED"), "InProgress"),
    "COMPLETED": "Completed",
    **dict.fromkeys(("FAILED", "TIMEOUT", "OUT_OF_MEMORY", "NODE_FAIL", "BOOT_FAIL", "DEADLINE", "PREEMPTED"), "Failed"),
    "CANCELLED": "Stopped",
}


class HyperPodCommandFailed(RuntimeError):
    """Run Command on the controller did not succeed (Slurm or the agent not answering)."""


@dataclass(frozen=True)
class HyperPodEnvironment:
    """What the stack sets on the start, check and clean-up functions for hyperpod runs."""

    cluster_name: str
    controller_group: str
    gpu_image_uri: str
    neuron_image_uri: str
    mlflow_tracking_server_arn: str
    max_runtime_seconds: int

    @classmethod
    def from_environment(cls) -> HyperPodEnvironment:
        return cls(
            cluster_name=required("HYPERPOD_CLUSTER_NAME"),
            controller_group=os.environ.get("HYPERPOD_CONTROLLER_GROUP") or "controller",
            gpu_image_uri=required("TRAINING_IMAGE_URI_GPU"),
            neuron_image_uri=required("TRAINING_IMAGE_URI_NEURON"),
            mlflow_tracking_server_arn=required("MLFLOW_TRACKING_SERVER_ARN"),
            max_runtime_seconds=max_runtime_seconds(),
        )


def slurm_status(state: str) -> str:
    """A Slurm job state (squeue, sacct or the job's state file) as a training job status.
    sacct writes "CANCELLED by 0" and "COMPLETED+"-style suffixes; only the word counts.
    A state not known here is Failed, so a Wait loop cannot spin on it forever."""
    word = (state or "").strip().split(" ")[0].rstrip("+").upper()
    return SLURM_STATUS.get(word, "Failed")


def partition_for(instance_type: str) -> str:
    return TRAINIUM_PARTITION if uses_neuron(instance_type) else GPU_PARTITION


def pyxis_image(image_uri: str) -> str:
    """pyxis/enroot write the registry apart from the image: ``<registry>#<repository>:<tag>``."""
    registry, _, image = image_uri.partition("/")
    return f"{registry}#{image}" if image and "." in registry else image_uri


def job_output_prefix(job: JobPlan) -> str:
    return f"{job.output_s3_uri}{job.name}/output/"


def sbatch_script(job: JobPlan, *, image_uri: str, max_runtime_seconds: int) -> str:
    """The Slurm batch script for one step: readable, every value shell-quoted."""
    q = shlex.quote
    minutes = max(1, math.ceil(max_runtime_seconds / 60))
    hyperparameters = json.dumps(job.hyperparameters, indent=2, sort_keys=True)
    copies = "\n".join(
        f"srun aws s3 cp --recursive --only-show-errors {q(uri)} \"$WORK/input/data/{name}/\"" for name, uri in job.channels.items())
    command = " ".join(q(part) for part in job.command)
    return f"""#!/bin/bash
# OpenForge {job.step} job {job.name}: the training container under Slurm, laid out as a
# SageMaker training job (channels in /opt/ml/input/data, hyperparameters.json, the model
# from /opt/ml/model to the S3 prefix a training job would write), so the pipeline's
# check, pick and deploy steps read the same place.
#SBATCH --job-name={job.name}
#SBATCH --partition={partition_for(job.instance_type)}
#SBATCH --nodes={job.instance_count}
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --time={minutes}
#SBATCH --output=/tmp/%x-%j.out
set -euo pipefail

IMAGE={q(pyxis_image(image_uri))}
MODEL_OUTPUT={q(job.model_s3_uri)}
JOB_OUTPUT={q(job_output_prefix(job))}
# Node-local; the container sees it as /opt/ml (HyperPod keeps its own files in the host's /opt/ml).
export WORK="${{OPENFORGE_WORK_ROOT:-/opt/openforge}}/$SLURM_JOB_ID"
# openforge_training.launch starts torchrun with the first node as the rendezvous.
export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export OPENFORGE_HYPERPARAMETERS={q(hyperparameters)}

# Always leave the log and the outcome next to the output: squeue forgets a finished job.
finish() {{
  local code=$?
  aws s3 cp --only-show-errors "/tmp/$SLURM_JOB_NAME-$SLURM_JOB_ID.out" "${{JOB_OUTPUT}}slurm-$SLURM_JOB_ID.out" || true
  if [ "$code" -eq 0 ]; then state=COMPLETED; else state=FAILED; fi
  echo "$state $code" | aws s3 cp --only-show-errors - "${{JOB_OUTPUT}}slurm-state" || true
  srun bash -c 'rm -rf "$WORK"' || true
}}
trap finish EXIT

# 1. Every node: an empty work folder, the hyperparameters, the channels from S3.
srun bash -c 'mkdir -p "$WORK/input/config" "$WORK/input/data" "$WORK/model" "$WORK/checkpoints"'
srun bash -c 'printf "%s" "$OPENFORGE_HYPERPARAMETERS" > "$WORK/input/config/hyperparameters.json"'
{copies}

# 2. Every node: the container's entrypoint (one process per device on each node).
srun --container-image="$IMAGE" --container-mounts="$WORK:/opt/ml" {command}

# 3. The first node holds rank 0's export: copy it where a training job's model goes.
aws s3 cp --recursive --only-show-errors "$WORK/model/" "$MODEL_OUTPUT"
"""


def submit_commands(job_name: str, script: str) -> list[str]:
    """The Run Command lines: keep the script on the controller and sbatch it, unless a job
    of that name is already known (a retried start). Prints "submitted <id>" or "found <id>"."""
    name = shlex.quote(job_name)
    path = f"{SCRIPT_DIR}/{job_name}.sbatch"
    return [
        "set -euo pipefail",
        f"NAME={name}",
        f"SCRIPT={shlex.quote(path)}",
        'known="$(squeue -h -n "$NAME" -o %i; sacct -n -X -P -S now-7days --name "$NAME" -o JobID 2>/dev/null || true)"',
        'if [ -n "$known" ]; then echo "found $(echo "$known" | head -n 1)"; exit 0; fi',
        f"mkdir -p {SCRIPT_DIR}",
        "cat > \"$SCRIPT\" <<'OPENFORGE_SBATCH'",
        *script.rstrip("\n").split("\n"),
        "OPENFORGE_SBATCH",
        'echo "submitted $(sbatch --parsable --chdir=/tmp "$SCRIPT")"',
    ]


def status_commands(job_name: str, state_s3_uri: str) -> list[str]:
    """Prints "<source> <state>": squeue while queued or running, else sacct, else the state
    file the job left; "unknown" when none knows the job. Fails if Slurm does not answer."""
    return [
        "set -eu",
        f"NAME={shlex.quote(job_name)}",
        'queued="$(squeue -h -n "$NAME" -o %T)"',
        'if [ -n "$queued" ]; then echo "squeue $(echo "$queued" | head -n 1)"; exit 0; fi',
        'accounted="$(sacct -n -P -X -S now-7days --name "$NAME" -o State 2>/dev/null || true)"',
        'if [ -n "$accounted" ]; then echo "sacct $(echo "$accounted" | tail -n 1)"; exit 0; fi',
        f'left="$(aws s3 cp --only-show-errors {shlex.quote(state_s3_uri)} - 2>/dev/null || true)"',
        'if [ -n "$left" ]; then echo "file $left"; exit 0; fi',
        "echo unknown",
    ]


def cancel_commands(job_names: list[str]) -> list[str]:
    """scancel each name that is queued or running; prints "cancelled <name>" for each."""
    return [
        "set -eu",
        f"for NAME in {' '.join(shlex.quote(name) for name in job_names)}; do",
        '  if [ -n "$(squeue -h -n "$NAME" -o %i)" ]; then scancel --name="$NAME"; echo "cancelled $NAME"; fi',
        "done",
    ]


def controller_target(sagemaker, cluster_name: str, group: str) -> str:
    """The SSM target of the controller: sagemaker-cluster:<cluster id>_<group>-<instance id>."""
    cluster_id = sagemaker.describe_cluster(ClusterName=cluster_name)["ClusterArn"].rsplit("/", 1)[-1]
    nodes = []
    for page in sagemaker.get_paginator("list_cluster_nodes").paginate(ClusterName=cluster_name, InstanceGroupNameContains=group):
        nodes += [node for node in page["ClusterNodeSummaries"] if node["InstanceGroupName"] == group]
    running = [node for node in nodes if node.get("InstanceStatus", {}).get("Status") == "Running"]
    if not running:
        found = ", ".join(f"{node['InstanceId']} {node.get('InstanceStatus', {}).get('Status')}" for node in nodes) or "none"
        raise HyperPodCommandFailed(f"cluster {cluster_name} has no running node in group {group} (found: {found})")
    return f"sagemaker-cluster:{cluster_id}_{group}-{running[0]['InstanceId']}"


def start(sagemaker, ssm, step: str, run: Mapping, plan: Mapping, mix: Mapping | None, environment: HyperPodEnvironment,
          *, wait_seconds: float = WAIT_SECONDS, sleep: Callable[[float], None] = time.sleep) -> dict:
    """Submit the step's Slurm job; returns what status needs. Waits briefly for sbatch, so a
    refused submission fails here, not at the first check."""
    job = job_plan(step, run, plan, mix, mlflow_tracking_uri=environment.mlflow_tracking_server_arn)
    script = sbatch_script(job, image_uri=image_for(job.instance_type, environment.gpu_image_uri, environment.neuron_image_uri),
                           max_runtime_seconds=max_runtime_for(step, environment.max_runtime_seconds))
    target = controller_target(sagemaker, environment.cluster_name, environment.controller_group)
    command_id = run_on_controller(ssm, target, submit_commands(job.name, script), f"openforge submit {job.name}")
    invocation = wait_for(ssm, command_id, target, wait_seconds, sleep)
    slurm_job_id = None
    if invocation is not None and invocation["Status"] in FINISHED_INVOCATIONS:
        if invocation["Status"] != "Success":
            raise HyperPodCommandFailed(f"sbatch of {job.name} on {target} {invocation['Status']}: {_said(invocation)}")
        last = (invocation.get("StandardOutputContent") or "").strip().split("\n")[-1].split()
        slurm_job_id = last[1].split(";")[0] if len(last) == 2 else None
    return {"step": step, "target": TARGET, "job_name": job.name, "mix": job.mix, "cluster_name": environment.cluster_name,
            "instance": target, "command_id": command_id, "slurm_job_id": slurm_job_id,
            "output_s3_uri": job.model_s3_uri, "state_s3_uri": f"{job_output_prefix(job)}slurm-state"}


def status(ssm, job: Mapping, *, wait_seconds: float = WAIT_SECONDS, sleep: Callable[[float], None] = time.sleep) -> dict:
    """For a Wait and Choice loop, the same shape as training_job.status."""
    name, target = job["job_name"], job["instance"]
    result = {"job_name": name, "step": job.get("step"), "target": TARGET, "status": "InProgress", "done": False,
              "failure_reason": None, "output_s3_uri": None}
    command_id = run_on_controller(ssm, target, status_commands(name, job["state_s3_uri"]), f"openforge status {name}")
    invocation = wait_for(ssm, command_id, target, wait_seconds, sleep)
    if invocation is None or invocation["Status"] not in FINISHED_INVOCATIONS:
        return result  # the controller has not answered yet: ask again after the next Wait
    if invocation["Status"] != "Success":
        raise HyperPodCommandFailed(f"asking Slurm about {name} on {target} {invocation['Status']}: {_said(invocation)}")
    source, _, state = (invocation.get("StandardOutputContent") or "").strip().split("\n")[-1].partition(" ")

    if source == "unknown":
        submitted = wait_for(ssm, job["command_id"], target, 0, sleep)
        if submitted is None or submitted["Status"] not in FINISHED_INVOCATIONS:
            return result  # sbatch itself has not run yet
        if submitted["Status"] != "Success":
            return {**result, "status": "Failed", "done": True,
                    "failure_reason": f"sbatch of {name} {submitted['Status']}: {_said(submitted)}"}
        return {**result, "status": "Failed", "done": True,
                "failure_reason": f"Slurm job {name} is not queued, has no accounting record and left no state at "
                                  f"{job['state_s3_uri']}: it ended without finishing its script (node lost?)"}
    outcome = slurm_status(state)
    if outcome == "Completed":
        return {**result, "status": outcome, "done": True, "output_s3_uri": job["output_s3_uri"]}
    if outcome in ("Failed", "Stopped"):
        log = job["state_s3_uri"].rsplit("/", 1)[0] + "/slurm-<job id>.out"
        return {**result, "status": outcome, "done": True,
                "failure_reason": f"Slurm job {name} ended {state.strip()} ({source}); its log: {log}"}
    return result


def cancel(sagemaker, ssm, cluster_name: str, group: str, job_names: list[str], *, wait_seconds: float = WAIT_SECONDS,
           sleep: Callable[[float], None] = time.sleep) -> list[str]:
    """scancel the named jobs still queued or running; returns the names cancelled."""
    if not job_names:
        return []
    target = controller_target(sagemaker, cluster_name, group)
    command_id = run_on_controller(ssm, target, cancel_commands(job_names), "openforge cancel after a failure")
    invocation = wait_for(ssm, command_id, target, wait_seconds, sleep)
    if invocation is None or invocation["Status"] != "Success":
        state = invocation["Status"] if invocation else "no answer"
        raise HyperPodCommandFailed(f"scancel on {target}: {state}" + (f": {_said(invocation)}" if invocation else ""))
    return [line.split(" ", 1)[1] for line in (invocation.get("StandardOutputContent") or "").split("\n")
            if line.startswith("cancelled ")]


def run_on_controller(ssm, target: str, commands: list[str], comment: str) -> str:
    response = ssm.send_command(InstanceIds=[target], DocumentName=DOCUMENT, Comment=comment[:100],
                                Parameters={"commands": commands, "executionTimeout": ["300"]})
    return response["Command"]["CommandId"]


def wait_for(ssm, command_id: str, target: str, seconds: float, sleep: Callable[[float], None]) -> dict | None:
    """The invocation once finished, or as it stands after ``seconds``; None if SSM has
    not registered it yet (GetCommandInvocation lags SendCommand by a moment)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            invocation = ssm.get_command_invocation(CommandId=command_id, InstanceId=target)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "InvocationDoesNotExist":
                raise
            invocation = None
        if (invocation and invocation["Status"] in FINISHED_INVOCATIONS) or time.monotonic() >= deadline:
            return invocation
        sleep(1)


def _said(invocation: Mapping) -> str:
    text = (invocation.get("StandardErrorContent") or invocation.get("StandardOutputContent") or "").strip()
    return text[-500:] or invocation.get("StatusDetails") or "no output"
