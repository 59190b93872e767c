"""The Slurm batch script for one checked job spec, written on the controller by the submitter.

What it does, on every node of the job: copy each channel from S3 to the node's disk
(``/opt/ml/input/data/<channel>`` as the container sees it), write ``hyperparameters.json``,
and run the container's entrypoint under ``srun`` with pyxis (``--container-image``). The
first node (rank 0, which exports the model) then copies ``/opt/ml/model`` to
``<output><job name>/output/model/``, as a training job would. On exit it leaves its log
(``slurm-<id>.out``) and ``slurm-state`` ("COMPLETED 0" / "FAILED <exit code>") under
``<output><job name>/output/``: squeue forgets a finished job within minutes.

Every value taken from the spec is a checked field (spec.parse) and is shell-quoted here; no
text of the spec is ever evaluated as shell.
"""
from __future__ import annotations

import math
import shlex

from .spec import JobSpec, hyperparameters_json

# Read by the training container's capacity plan (openforge_contract.environment_variables.
# TRAINING_INSTANCE_TYPE_VARIABLE): this package ships to the controller alone, so a test keeps the two equal.
TRAINING_INSTANCE_TYPE_VARIABLE = "OPENFORGE_INSTANCE_TYPE"

DEFAULT_WORK_ROOT = "/opt/openforge/work"  # node-local; made by the lifecycle scripts, owned by the jobs' user


def pyxis_image(image_uri: str) -> str:
    """pyxis/enroot write the registry apart from the image: ``<registry>#<repository>:<tag>``."""
    registry, _, image = image_uri.partition("/")
    return f"{registry}#{image}" if image and "." in registry else image_uri


def sbatch_command(script_path: str) -> list[str]:
    """The sbatch call, as an argument list (no shell): prints "<job id>[;<cluster>]"."""
    return ["sbatch", "--parsable", "--chdir=/tmp", script_path]


def sbatch_script(spec: JobSpec, *, work_root: str = DEFAULT_WORK_ROOT) -> str:
    """The batch script for one step: readable, every value shell-quoted."""
    q = shlex.quote
    minutes = max(1, math.ceil(spec.max_runtime_seconds / 60))
    hyperparameters = hyperparameters_json(spec.hyperparameters)
    copies = "\n".join(f'srun aws s3 cp --recursive --only-show-errors {q(uri)} "$WORK/input/data/"{q(name)}/'
                       for name, uri in spec.channels.items())
    command = " ".join(q(part) for part in spec.command)
    return f"""#!/bin/bash
# OpenForge {spec.step} job {spec.job_name}: the training container under Slurm, laid out as a
# SageMaker training job (channels in /opt/ml/input/data, hyperparameters.json, the model
# from /opt/ml/model to the S3 prefix a training job would write), so the pipeline's
# check, pick and deploy steps read the same place.
#SBATCH --job-name={spec.job_name}
#SBATCH --partition={spec.partition}
#SBATCH --nodes={spec.instance_count}
#SBATCH --ntasks-per-node=1
#SBATCH --exclusive
#SBATCH --time={minutes}
#SBATCH --output=/tmp/%x-%j.out
set -euo pipefail

IMAGE={q(pyxis_image(spec.image_uri))}
MODEL_OUTPUT={q(spec.model_s3_uri)}
JOB_OUTPUT={q(spec.job_output_s3_uri)}
WORK_ROOT={q(work_root)}
# Node-local; the container sees it as /opt/ml (HyperPod keeps its own files in the host's /opt/ml).
export WORK="${{OPENFORGE_WORK_ROOT:-$WORK_ROOT}}/$SLURM_JOB_ID"
# openforge_training.launch starts torchrun with the first node as the rendezvous.
export MASTER_ADDR="$(scontrol show hostnames "$SLURM_JOB_NODELIST" | head -n 1)"
export OPENFORGE_HYPERPARAMETERS={q(hyperparameters)}
# The container's capacity plan reads the instance type here (a training job's resourceconfig.json has it).
export {TRAINING_INSTANCE_TYPE_VARIABLE}={q(spec.instance_type)}

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
